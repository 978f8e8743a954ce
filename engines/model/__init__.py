"""The Canopsis domain model shared by engines: the event, the entity, their vocabulary."""

from engines.model.entity import Entity, EntityInfo, EntityType, InfoValue
from engines.model.event import (
    EVENT_TYPES,
    MAX_TIMESTAMP_VARIATION,
    SYSTEM_AUTHOR,
    Event,
    Initiator,
    SourceType,
    State,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_TIMESTAMP_VARIATION",
    "SYSTEM_AUTHOR",
    "Entity",
    "EntityInfo",
    "EntityType",
    "Event",
    "InfoValue",
    "Initiator",
    "SourceType",
    "State",
]
