"""MongoDB collection names of the Canopsis contract (DESIGN §4), in one place."""

from typing import Final

ENTITIES: Final = "default_entities"
ALARMS: Final = "periodical_alarm"
RESOLVED_ALARMS: Final = "resolved_alarms"
EVENT_FILTER_RULES: Final = "eventfilter"
RESOLVE_RULES: Final = "resolve_rule"
FLAPPING_RULES: Final = "flapping_rule"
PBEHAVIORS: Final = "pbehavior"
PBEHAVIOR_TYPES: Final = "pbehavior_type"
PBEHAVIOR_REASONS: Final = "pbehavior_reason"
ACTION_SCENARIOS: Final = "action_scenario"
#: Ours: scenario runs waiting or in progress (durable, so delays survive restarts), and the
#: events they produced until the beat that published them is known to be confirmed.
ACTION_EXECUTIONS: Final = "action_execution"
ACTION_OUTBOX: Final = "action_outbox"
