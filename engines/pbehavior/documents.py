"""The documents of engine-pbehavior: `pbehavior`, `pbehavior_type`, `pbehavior_reason`, and
Canopsis' default types and reason (reference §6.2). Validation refuses what cannot be resolved."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, Final, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from engines.model.event import SYSTEM_AUTHOR
from engines.model.pattern import Pattern
from engines.model.pbehavior_info import CanonicalType
from engines.pbehavior.recurrence import compile_rrule

__all__ = ["DEFAULT_REASON", "DEFAULT_TYPES", "Exdate", "PBehavior", "PBehaviorReason", "PBehaviorType"]


class PBehaviorType(BaseModel):
    """A `pbehavior_type` document: a named kind of behaviour of one canonical type.

    The higher `priority` wins when several pbehaviors are in force on one entity. Unknown keys
    are kept.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    id: str = Field(alias="_id", min_length=1)
    name: str
    description: str = ""
    type: CanonicalType
    priority: int
    icon_name: str = ""
    color: str = ""
    hidden: bool = False

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class PBehaviorReason(BaseModel):
    """A `pbehavior_reason` document: why a behaviour was set (its name goes into the output)."""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    id: str = Field(alias="_id", min_length=1)
    name: str
    description: str = ""
    created: int | None = None

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


#: Canopsis' fixtures (`database/fixtures/pbehavior.yml`): the four default types, priority =
#: position in the file counted from 1, colours and icons as shipped. Canopsis draws UUIDs for
#: their ids; ours are fixed so that installing them is idempotent. They are installed by name,
#: so a database Canopsis already initialised keeps its own.
DEFAULT_TYPES: Final[tuple[PBehaviorType, ...]] = (
    PBehaviorType(
        id="default_inactive",
        name="Default inactive",
        description="Default inactive",
        type="inactive",
        priority=1,
        icon_name="brightness_3",
        color="#979797",
    ),
    PBehaviorType(
        id="default_active",
        name="Default active",
        description="Default active",
        type="active",
        priority=2,
        color="#2FAB63",
    ),
    PBehaviorType(
        id="default_maintenance",
        name="Default maintenance",
        description="Default maintenance",
        type="maintenance",
        priority=3,
        icon_name="build",
        color="#BF360C",
    ),
    PBehaviorType(
        id="default_pause",
        name="Default pause",
        description="Default pause",
        type="pause",
        priority=4,
        icon_name="pause",
        color="#5A6D80",
    ),
)
#: Canopsis' fixture reason "Default".
DEFAULT_REASON: Final = PBehaviorReason(id="default_reason", name="Default", description="Default")


class Exdate(BaseModel):
    """An exception period `[begin, end)` (unix seconds) inside the occurrences of a pbehavior.

    Where it overlaps an occurrence, the occurrence is replaced by the type `type` (Canopsis);
    without a type, or with a type that does not exist, that part of the occurrence is removed.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True)

    begin: int
    end: int
    type: str | None = None

    @field_validator("begin", "end", mode="before")
    @classmethod
    def _read_times(cls, value: Any) -> Any:
        return _unix_seconds(value)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.begin:
            raise ValueError(f"exdate end {self.end} must be after begin {self.begin}")
        return self


class PBehavior(BaseModel):
    """A `pbehavior` document (Canopsis field names; unknown keys are kept).

    `type_` is the `pbehavior_type` id (the API's `type` is accepted on input), `reason` the
    `pbehavior_reason` id. Times are unix seconds; on input an ISO 8601 string with a UTC offset
    is also accepted. `tstop` None means "never ends". `rrule` is an RFC 5545 recurrence rule
    ("FREQ=DAILY;BYDAY=MO,TU"), evaluated from `tstart` in the engine's time zone; each
    occurrence lasts `tstop - tstart`. `entity_pattern` is che's pattern language (a list of
    groups of conditions); an empty pattern matches nothing.
    Validation refuses a malformed pattern or rrule, and a `tstop` not after `tstart`.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    id: str = Field(alias="_id", min_length=1)
    name: str = Field(min_length=1)
    author: str = SYSTEM_AUTHOR
    enabled: bool = True
    reason: str = ""
    type_: str = Field(min_length=1, validation_alias=AliasChoices("type_", "type"), serialization_alias="type_")
    tstart: int
    tstop: int | None = None
    rrule: str = ""
    exdates: list[Exdate] = Field(default_factory=list)
    entity_pattern: list[Any] | None = None
    color: str = ""
    created: int | None = None
    updated: int | None = None

    _pattern: Pattern = PrivateAttr(default_factory=Pattern)

    @field_validator("tstart", "tstop", "created", "updated", mode="before")
    @classmethod
    def _read_times(cls, value: Any) -> Any:
        return _unix_seconds(value)

    @field_validator("author", "reason", "color", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("rrule", mode="before")
    @classmethod
    def _check_rrule(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str) and value.strip():
            compile_rrule(value, datetime(2000, 1, 1, tzinfo=UTC))  # raises ValueError
            return value.strip()
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.tstop is not None and self.tstop <= self.tstart:
            raise ValueError(f"tstop {self.tstop} must be after tstart {self.tstart}")
        self._pattern = Pattern.parse(self.entity_pattern, what="entity_pattern")
        return self

    @property
    def pattern(self) -> Pattern:
        return self._pattern

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document: Canopsis keys (`_id`, `type_`), None fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _unix_seconds(value: Any) -> Any:
    """An ISO 8601 string with an offset ("2026-03-29T09:00:00+02:00", "…Z"), or an aware
    datetime (YAML reads such strings into one), as unix seconds; numbers and anything else
    are left for the field's own validation."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither unix seconds nor an ISO 8601 date-time") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            shown = value.isoformat()
            raise ValueError(f"{shown!r} has no UTC offset (write e.g. {shown}+02:00 or {shown}Z)")
        return int(value.timestamp())
    if isinstance(value, date):
        raise ValueError(f"{value.isoformat()!r} is a date: give a date-time with a UTC offset")
    return value
