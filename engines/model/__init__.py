"""The Canopsis domain model shared by engines: the event, the entity, the alarm, their vocabulary.

Beside them: an entity's event address (address.py), `pbehavior_info` (pbehavior_info.py), the
pattern language, Go templates (template.py) and perf-data parsing (perfdata.py). No engine
package imports another: what two engines share lives here or in engines/store/.
"""

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
