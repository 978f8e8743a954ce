"""`pbehavior_info`: the pbehavior an entity, an alarm or a pbh event is in (reference §1.2).

engine-pbehavior builds one (`PbhInfo`) for each pbh event; che copies it onto the entity and
axe onto the alarm, as the dict they received, so stored documents keep whatever they hold.
Readers go through `PbhInfo.read` and the functions here rather than through dict keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ACTIVE",
    "CanonicalType",
    "PbhInfo",
    "in_pbehavior",
    "is_pbehavior_inactive",
]

CanonicalType = Literal["active", "maintenance", "pause", "inactive"]
#: The canonical type of "no pbehavior" too: what scenarios' `disable_during_periods` compare with.
ACTIVE: Final = "active"

_TEXT_FIELDS: Final = (
    "name",
    "reason",
    "reason_name",
    "type",
    "type_name",
    "canonical_type",
    "icon_name",
    "color",
    "author",
)


class PbhInfo(BaseModel):
    """One `pbehavior_info` object: the pbehavior in force, as pbh events carry it.

    `timestamp` is when the entity entered the pbehavior; `type` the type id, `canonical_type`
    its canonical type; `reason` the reason id; `color` the pbehavior's colour, else its type's.
    engine-pbehavior sets every field; `read` gives back a stored one.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True)

    timestamp: int | None = None
    id: str
    name: str = ""
    reason: str = ""
    reason_name: str = ""
    type: str = ""
    type_name: str = ""
    canonical_type: str = ""
    icon_name: str = ""
    color: str = ""
    author: str = ""

    @classmethod
    def read(cls, document: Mapping[str, Any] | PbhInfo | None) -> PbhInfo | None:
        """The pbehavior a stored `pbehavior_info` describes; None for none (absent, empty, or
        without `id`, as Canopsis reads it). A value of the wrong type reads as absent: a null
        `canonical_type` is "", a timestamp that is not whole seconds is None."""
        if isinstance(document, PbhInfo) or document is None:
            return document
        if not document.get("id"):
            return None
        fields: dict[str, Any] = {k: document[k] for k in _TEXT_FIELDS if isinstance(document.get(k), str)}
        fields["id"] = str(document["id"])
        since = document.get("timestamp")
        if isinstance(since, int) and not isinstance(since, bool):
            fields["timestamp"] = since
        return cls.model_validate(fields)

    @property
    def is_inactive(self) -> bool:
        """A non-active canonical type (maintenance, pause, inactive) is in force."""
        return self.canonical_type not in ("", ACTIVE)

    @property
    def message(self) -> str:
        """The output of pbehavior events and the message of pbh steps:
        "Title: <name>. Type: <type name>. Reason: <reason name>." (reference §6.2)."""
        return f"Title: {self.name}. Type: {self.type_name}. Reason: {self.reason_name}."

    def same_as(self, other: PbhInfo | None) -> bool:
        """The same pbehavior with the same type (its timestamp aside): nothing to enter or leave."""
        return other is not None and (self.id, self.type) == (other.id, other.type)

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def in_pbehavior(document: Mapping[str, Any] | None) -> bool:
    """Whether a stored `pbehavior_info` names a pbehavior (a non-empty `id`); cheaper than `read`."""
    return bool(document and document.get("id"))


def is_pbehavior_inactive(document: Mapping[str, Any] | None) -> bool:
    """True when a pbehavior of a non-active canonical type (maintenance, pause…) is in force."""
    info = PbhInfo.read(document)
    return info is not None and info.is_inactive
