"""Which scenarios an alarm change triggers, and whether an action's patterns accept an alarm.

Pure. Canopsis HEAD `types/alarm_change.go` (`GetTriggers`) and `GO/lib/canopsis/action/`
(storage); reference §6.3, §5.5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from engines.action.scenarios import Action, Scenario
from engines.model.alarm import Alarm
from engines.model.entity import Entity
from engines.model.pattern import entity_document
from engines.model.pbehavior_info import ACTIVE, PbhInfo

__all__ = ["alarm_document", "canonical_type", "is_runnable", "matching", "triggers_of"]

#: Canopsis `MinimalEventsCountThreshold`: `eventscount<N>` triggers start at N = 2.
EVENTS_COUNT_THRESHOLD: Final = 2
#: Change types that trigger nothing (Canopsis `GetTriggers`).
_NOT_TRIGGERS: Final = frozenset(
    {
        "webhookstart",
        "webhookcomplete",
        "webhookfail",
        "declareticketwebhookfail",
        "autowebhookstart",
        "autowebhookcomplete",
        "autowebhookfail",
        "autodeclareticketwebhookfail",
        "autoinstructionactivate",
        "metaalarmchildactivate",
        "metaalarmchilddeactivate",
    }
)


def triggers_of(alarm_change: Mapping[str, Any]) -> list[str]:
    """The scenario triggers of an event's `alarm_change` (Canopsis `AlarmChange.GetTriggers`).

    The change type itself, except: `createandpbhenter` → create, pbhenter; `pbhleaveandenter` →
    pbhenter, pbhleave; `doubleack` → ack; `(auto)declareticketwebhook` → declareticketwebhook;
    webhook/instruction-activation/meta-alarm-child types → none. A check with no notable change,
    `stateinc` and `statedec` also give `eventscount<N>` once `EventsCount` ≥ 2, and `eventscount`
    once it is ≥ 1.

    >>> triggers_of({"Type": "stateinc", "EventsCount": 3})
    ['stateinc', 'eventscount3', 'eventscount']
    """
    change = str(alarm_change.get("Type") or "")
    count = alarm_change.get("EventsCount")
    count = count if isinstance(count, int) and not isinstance(count, bool) else 0
    if change in ("", "stateinc", "statedec"):
        triggers = [change] if change else []
        if count >= EVENTS_COUNT_THRESHOLD:
            triggers.append(f"eventscount{count}")
        if count > 0:
            triggers.append("eventscount")
        return triggers
    if change == "createandpbhenter":
        return ["create", "pbhenter"]
    if change == "pbhleaveandenter":
        return ["pbhenter", "pbhleave"]
    if change == "doubleack":
        return ["ack"]
    if change in ("declareticketwebhook", "autodeclareticketwebhook"):
        return ["declareticketwebhook"]
    if change in _NOT_TRIGGERS:
        return []
    return [change]


def canonical_type(alarm: Alarm) -> str:
    """The canonical type of the pbehavior in force on the alarm; "active" when there is none."""
    info = PbhInfo.read(alarm.value.pbehavior_info)
    return (info.canonical_type if info is not None else "") or ACTIVE


def alarm_document(alarm: Alarm, now: float) -> dict[str, Any]:
    """The alarm as alarm patterns see it: the stored document, with `v.duration` computed for an
    open alarm (seconds since creation), as Canopsis fills it before matching."""
    doc = alarm.to_document()
    value = doc["v"]
    if value.get("duration") is None:
        value["duration"] = int(now) - alarm.value.creation_date
    return doc


def is_runnable(action: Action, alarm: Alarm, entity: Entity | None, now: float) -> bool:
    """Whether the action's patterns accept the alarm and its entity; an empty pattern accepts."""
    if not action.alarm_pattern.is_empty and action.alarm_pattern.match(alarm_document(alarm, now), now=now) is None:
        return False
    if action.entity_pattern.is_empty:
        return True
    return entity is not None and action.entity_pattern.match(entity_document(entity), now=now) is not None


def _would_run(scenario: Scenario, alarm: Alarm, entity: Entity | None, now: float) -> bool:
    """True when some action would run: the first runnable one comes before any non-matching
    action that drops the scenario (Canopsis checks delayed scenarios so before storing them)."""
    for action in scenario.actions:
        if is_runnable(action, alarm, entity, now):
            return True
        if action.drop_scenario_if_not_matched:
            return False
    return False


def matching(
    scenarios: Iterable[Scenario], triggers: Sequence[str], alarm: Alarm, entity: Entity | None, now: float
) -> list[Scenario]:
    """The scenarios to run for this alarm change, by priority (lowest first), then id.

    A scenario runs when it is enabled, one of its triggers is in `triggers`, the alarm is not in
    a pbehavior whose canonical type is in its `disable_during_periods` (no pbehavior counts as
    "active"), and at least one of its actions would run on this alarm and entity (patterns are
    checked again, action by action, when it runs).
    """
    period = canonical_type(alarm)
    found = [
        s
        for s in scenarios
        if s.enabled
        and s.triggered_by(triggers)
        and period not in s.disable_during_periods
        and _would_run(s, alarm, entity, now)
    ]
    return sorted(found, key=lambda s: (s.priority, s.id))
