"""The messages engines exchange: the Canopsis event and its vocabulary."""

from engines.model.event import EVENT_TYPES, MAX_TIMESTAMP_VARIATION, Event, SourceType, State

__all__ = ["EVENT_TYPES", "MAX_TIMESTAMP_VARIATION", "Event", "SourceType", "State"]
