"""Periodic behaviours as pure code: the documents, which one is in force, the event it implies.

Reference §6.2. `Schedule.at(...)` resolves every pbehavior at one instant; `resolve(entity)` (or
`in_force`) gives the `pbehavior_info` in force and `transition` the pbh event, if any. No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from engines.model.address import event_address
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pattern import Pattern, entity_document
from engines.model.pbehavior_info import ACTIVE, CanonicalType, PbhInfo

__all__ = [
    "DEFAULT_REASON",
    "DEFAULT_TYPES",
    "PBH_CONNECTOR",
    "Exdate",
    "PBehavior",
    "PBehaviorReason",
    "PBehaviorType",
    "Schedule",
    "in_force",
    "time_zone",
    "transition",
]

#: connector and connector_name of the events this engine sends (reference §6.2).
PBH_CONNECTOR: Final = "pbehavior"
#: Wall-clock slack when asking dateutil for occurrences around an instant: a DST shift moves a
#: local time by at most an hour, so a window widened by two hours never misses an occurrence;
#: candidates are then filtered on exact unix times.
_SLACK: Final = 2 * 3600
_UNTIL: Final = re.compile(r"(UNTIL=)(\d{8}(?:T\d{6})?)(?![0-9TZ])", re.IGNORECASE)


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. "Europe/Paris"); ValueError naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)") from None


# --- documents ------------------------------------------------------------------------------------


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
    PBehaviorType(id="default_inactive", name="Default inactive", description="Default inactive",
                  type="inactive", priority=1, icon_name="brightness_3", color="#979797"),
    PBehaviorType(id="default_active", name="Default active", description="Default active",
                  type="active", priority=2, color="#2FAB63"),
    PBehaviorType(id="default_maintenance", name="Default maintenance",
                  description="Default maintenance", type="maintenance", priority=3,
                  icon_name="build", color="#BF360C"),
    PBehaviorType(id="default_pause", name="Default pause", description="Default pause",
                  type="pause", priority=4, icon_name="pause", color="#5A6D80"),
)  # fmt: skip
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
    type_: str = Field(
        min_length=1, validation_alias=AliasChoices("type_", "type"), serialization_alias="type_"
    )
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
            _compile_rrule(value, datetime(2000, 1, 1, tzinfo=UTC))  # raises ValueError
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


# --- resolution -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A pbehavior whose spans contain the instant, with the type it has there."""

    pbehavior: PBehavior
    type: PBehaviorType

    @property
    def rank(self) -> tuple[int, int, str]:
        return self.type.priority, self.pbehavior.created or 0, self.pbehavior.id


@dataclass(frozen=True)
class Schedule:
    """Every enabled pbehavior resolved at one instant; ask it about entities with `resolve`.

    Build with `Schedule.at(...)`. `candidates` are the pbehaviors in force at `now`, best
    first, whatever the entity; `problems` name pbehaviors skipped (unknown type, a rrule that
    cannot be evaluated), for the caller to log.
    """

    now: int
    candidates: tuple[_Candidate, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    default_active: str | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def at(
        cls,
        pbehaviors: Iterable[PBehavior],
        types: Iterable[PBehaviorType],
        now: int,
        tz: str | ZoneInfo,
        *,
        reasons: Iterable[PBehaviorReason] = (),
    ) -> Schedule:
        """Resolve `pbehaviors` at `now` (unix seconds), their rrules evaluated in `tz`.

        Per pbehavior (reference §6.2, Canopsis `eventComputer`): disabled ones are ignored;
        the spans are `[tstart, tstop)` without rrule, else one `[o, o + tstop - tstart)` per
        occurrence `o` of the rrule started at `tstart` (wall-clock times in `tz`, so a daily
        09:00 stays at 09:00 local across DST changes); without `tstop` it never ends once
        started. Where an exdate overlaps the span containing `now`, the exdate's type replaces
        the pbehavior's (the exdate of highest type priority when several do), or the span is
        removed when the exdate has no known type. A pbehavior of canonical type `active`
        outside its spans, on a local day where it has some, is of the *default inactive* type
        (the lowest-priority `inactive` type) for the rest of that day.
        """
        zone = tz if isinstance(tz, ZoneInfo) else time_zone(tz)
        by_id = {t.id: t for t in types}
        defaults = _defaults(by_id.values())
        found: list[_Candidate] = []
        problems: list[str] = []
        for pbehavior in pbehaviors:
            if not pbehavior.enabled:
                continue
            kind = by_id.get(pbehavior.type_)
            if kind is None:
                problems.append(f"pbehavior {pbehavior.id!r} skipped: unknown type {pbehavior.type_!r}")
                continue
            try:
                now_type = _type_at(pbehavior, kind, by_id, defaults.get("inactive"), now, zone)
            except (ValueError, OverflowError, OSError) as exc:  # a rrule dateutil cannot expand
                problems.append(f"pbehavior {pbehavior.id!r} skipped: {exc}")
                continue
            if now_type is not None:
                found.append(_Candidate(pbehavior, now_type))
        found.sort(key=lambda c: c.rank, reverse=True)
        names = {r.id: r.name for r in reasons}
        return cls(now, tuple(found), names, defaults.get(ACTIVE), tuple(problems))

    @property
    def any_in_force(self) -> bool:
        """Whether some entity may be in a pbehavior now (some candidate is not default active).

        When False, every entity resolves to None: only entities still carrying a
        `pbehavior_info` need looking at.
        """
        return any(c.type.id != self.default_active for c in self.candidates)

    def resolve(self, entity: Entity) -> PbhInfo | None:
        """The pbehavior in force on `entity` now, or None.

        Among the candidates whose entity pattern matches, the first by type priority, then
        `created`, then `_id` (all descending) wins; if its type is the default active type
        (the lowest-priority `active` type) that means "no pbehavior", as in Canopsis.
        """
        if not self.candidates:
            return None
        document = entity_document(entity)
        for candidate in self.candidates:
            if candidate.pbehavior.pattern.match(document, now=self.now) is None:
                continue
            if candidate.type.id == self.default_active:
                return None
            return _info(candidate, self.reasons, self.now)
        return None


def in_force(
    pbehaviors: Iterable[PBehavior],
    types: Iterable[PBehaviorType],
    entity: Entity,
    now: int,
    tz: str | ZoneInfo,
    *,
    reasons: Iterable[PBehaviorReason] = (),
) -> PbhInfo | None:
    """The pbehavior in force on `entity` at `now` (see `Schedule.at` and `Schedule.resolve`).

    For many entities build one `Schedule` instead: the rrules are then expanded once.
    """
    return Schedule.at(pbehaviors, types, now, tz, reasons=reasons).resolve(entity)


def _defaults(types: Iterable[PBehaviorType]) -> dict[str, str]:
    """The default active and default inactive type ids: the lowest-priority type of each
    canonical kind (Canopsis `ResolveDefaultTypes`); a kind without a type is absent."""
    lowest: dict[str, PBehaviorType] = {}
    for kind in types:
        if kind.type in (ACTIVE, "inactive"):
            known = lowest.get(kind.type)
            if known is None or kind.priority < known.priority:
                lowest[kind.type] = kind
    return {canonical: kind.id for canonical, kind in lowest.items()}


def _type_at(
    pbehavior: PBehavior,
    kind: PBehaviorType,
    types: Mapping[str, PBehaviorType],
    default_inactive: str | None,
    now: int,
    zone: ZoneInfo,
) -> PBehaviorType | None:
    """The type `pbehavior` has at `now`, or None when it is not in force then."""
    spans = list(_spans(pbehavior, now, now + 1, zone))
    if any(start <= now < stop for start, stop in spans):
        return _exdate_type(pbehavior, kind, types, now)
    if kind.type != ACTIVE or default_inactive is None:
        return None
    # An active-type pbehavior makes the rest of each of its days inactive (Canopsis
    # `computeByActiveType`): e.g. "working hours 9-18" means inactive at 20:00 that day.
    today = datetime.fromtimestamp(now, zone).date()
    day_start, day_end = _midnight(today, zone), _midnight(today + timedelta(days=1), zone)
    if any(True for _ in _spans(pbehavior, day_start, day_end, zone)):
        return types[default_inactive]
    return None


def _exdate_type(
    pbehavior: PBehavior, kind: PBehaviorType, types: Mapping[str, PBehaviorType], now: int
) -> PBehaviorType | None:
    """The type at `now` inside a span: the pbehavior's, unless an exdate covers `now`."""
    covering = [e for e in pbehavior.exdates if e.begin <= now < e.end]
    if not covering:
        return kind
    typed = [types[e.type] for e in covering if e.type is not None and e.type in types]
    return max(typed, key=lambda t: t.priority) if typed else None


def _spans(pbehavior: PBehavior, start: int, stop: int, zone: ZoneInfo) -> Iterator[tuple[int, float]]:
    """The spans `[begin, end)` of `pbehavior` (exdates ignored) that overlap `[start, stop)`."""
    end: float
    if not pbehavior.rrule:
        end = float("inf") if pbehavior.tstop is None else pbehavior.tstop
        if pbehavior.tstart < stop and end > start:
            yield pbehavior.tstart, end
        return
    rule = _compile_rrule(pbehavior.rrule, datetime.fromtimestamp(pbehavior.tstart, zone))
    if pbehavior.tstop is None:  # open-ended: in force for ever from the first occurrence
        first = next(iter(rule), None)
        if first is not None and int(first.timestamp()) < stop:
            yield int(first.timestamp()), float("inf")
        return
    duration = pbehavior.tstop - pbehavior.tstart
    after = datetime.fromtimestamp(start - duration - _SLACK, zone)
    before = datetime.fromtimestamp(stop + _SLACK, zone)
    for occurrence in rule.between(after, before, inc=True):
        begin = int(occurrence.timestamp())
        if begin < stop and begin + duration > start:
            yield begin, begin + duration


def _midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp())


def _compile_rrule(text: str, dtstart: datetime) -> rrule | rruleset:
    """`text` ("FREQ=…" or "RRULE:FREQ=…") expanded from the aware `dtstart`; ValueError if bad.

    dateutil wants UNTIL in UTC when DTSTART has a zone; a floating UNTIL (no "Z") is read
    as a wall-clock time in `dtstart`'s zone and converted.
    """
    zone = dtstart.tzinfo

    def to_utc(match: re.Match[str]) -> str:
        raw = match.group(2)
        local = datetime.strptime(raw, "%Y%m%dT%H%M%S" if "T" in raw.upper() else "%Y%m%d")
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        return f"{match.group(1)}{moment:%Y%m%dT%H%M%S}Z"

    try:
        rule = rrulestr(_UNTIL.sub(to_utc, text.strip()), dtstart=dtstart)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"invalid rrule {text!r}: {exc}") from None
    assert isinstance(rule, (rrule, rruleset))
    return rule


def _info(candidate: _Candidate, reasons: Mapping[str, str], now: int) -> PbhInfo:
    pbehavior, kind = candidate.pbehavior, candidate.type
    return PbhInfo(
        timestamp=now, id=pbehavior.id, name=pbehavior.name, author=pbehavior.author,
        reason=pbehavior.reason, reason_name=reasons.get(pbehavior.reason, pbehavior.reason),
        type=kind.id, type_name=kind.name, canonical_type=kind.type, icon_name=kind.icon_name,
        color=pbehavior.color or kind.color,
    )  # fmt: skip


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


# --- transitions ----------------------------------------------------------------------------------


def transition(
    current: Mapping[str, Any] | PbhInfo | None, new: PbhInfo | None, entity: Entity, now: int
) -> Event | None:
    """The event moving `entity` from the pbehavior it carries to the one in force, if they differ.

    `current` is the entity's `pbehavior_info` (None, or an object without `id`, for none);
    `new` what `Schedule.resolve` found. none→some: pbhenter; some→none: pbhleave;
    some→another (other pbehavior id or type id): pbhleaveandenter; same: None.

    The event is a system event about the entity (connector "pbehavior"/"pbehavior", except
    for connector entities, whose identity is their connector), author and initiator "system",
    timestamp `now`, output "Title: <name>. Type: <type name>. Reason: <reason name>." of the
    pbehavior entered (of the one left, for pbhleave). pbhenter and pbhleaveandenter carry
    `new` as `pbehavior_info`; pbhleave carries none (Canopsis sends an empty one).
    """
    before = PbhInfo.read(current)
    if before is None and new is None:
        return None
    if before is not None and before.same_as(new):
        return None
    document: dict[str, Any] = {
        **event_address(entity, PBH_CONNECTOR, keep_entity_connector=False).fields(),
        "timestamp": now,
        "author": SYSTEM_AUTHOR,
        "initiator": Initiator.SYSTEM,
    }
    if new is None:
        assert before is not None
        document |= {"event_type": "pbhleave", "output": before.message}
    else:
        kind = "pbhleaveandenter" if before is not None else "pbhenter"
        document |= {"event_type": kind, "output": new.message, "pbehavior_info": new.to_document()}
    return Event.model_validate(document, context={"now": now})

