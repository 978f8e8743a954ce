"""The pbh event an entity needs when the pbehavior it carries is not the one in force; pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engines.model.address import event_address
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pbehavior_info import PbhInfo

__all__ = ["PBH_CONNECTOR", "transition"]

#: connector and connector_name of the events engine-pbehavior sends (reference §6.2).
PBH_CONNECTOR: Final = "pbehavior"


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
    change: dict[str, Any]
    if new is None:
        if before is None:
            return None
        change = {"event_type": "pbhleave", "output": before.message}
    elif before is not None and before.same_as(new):
        return None
    else:
        kind = "pbhleaveandenter" if before is not None else "pbhenter"
        change = {"event_type": kind, "output": new.message, "pbehavior_info": new.to_document()}
    document: dict[str, Any] = {
        **event_address(entity, PBH_CONNECTOR, keep_entity_connector=False).fields(),
        "timestamp": now,
        "author": SYSTEM_AUTHOR,
        "initiator": Initiator.SYSTEM,
        **change,
    }
    return Event.model_validate(document, context={"now": now})
