"""MongoDB collection names of the Canopsis contract (DESIGN §4), in one place."""

from typing import Final

ENTITIES: Final = "default_entities"
ALARMS: Final = "periodical_alarm"
RESOLVED_ALARMS: Final = "resolved_alarms"
EVENT_FILTER_RULES: Final = "eventfilter"
RESOLVE_RULES: Final = "resolve_rule"
FLAPPING_RULES: Final = "flapping_rule"
