"""The settings axe decides with (its rules and options), and the beat's decisions.

Reference §5.3 (flapping rules), §5.6 (resolve rules), §5.8 (the `alarms` beat job). The beat
functions are pure: given the open alarms with their entities and `now`, they return the
system events to publish to the head of the chain; processing those events (lifecycle.py) does
the actual change, so a beat and a concurrent operator action can never both apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from engines.axe.alarm_status import RULE_PREFIX, compute_status
from engines.axe.rule_documents import FlappingRule, PatternRule, ResolveRule, alarm_view, entity_view
from engines.model.address import event_address
from engines.model.alarm import Alarm, State, Status
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pbehavior_info import is_pbehavior_inactive

__all__ = [
    "AlarmWithEntity",
    "Rules",
    "alarms_to_resolve",
    "cancels_to_resolve",
    "first_matching",
    "flapping_to_update",
    "snoozes_to_end",
    "status_for",
]

#: Connector of the events the beat sends about entities that have none (Canopsis `axe`/`axe`).
BEAT_CONNECTOR: Final = "axe"

#: An open alarm with its entity, as the store joins them for the beat.
AlarmWithEntity = tuple[Alarm, Entity]


@dataclass(frozen=True)
class Rules:
    """Everything axe decides with, loaded by the store and passed to every pure function.

    Rules are sorted by (priority, id) here, whatever order they come in; disabled flapping
    rules are dropped. `resolve_rules` is empty by default: like Canopsis, nothing is resolved
    without a rule, so the store installs DEFAULT_RESOLVE_RULE as Canopsis' fixtures do.
    `cancel_autosolve_delay` and `stealthy_interval` are seconds (Canopsis defaults 1 h and 0).
    """

    resolve_rules: Sequence[ResolveRule] = ()
    flapping_rules: Sequence[FlappingRule] = ()
    allow_double_ack: bool = False
    allow_change_severity_to_info: bool = False
    cancel_autosolve_delay: int = 3600
    stealthy_interval: int = 0
    #: Canopsis `DisableActionSnoozeDelayOnPbh`: end snoozes even inside an inactive pbehavior.
    disable_action_snooze_delay_on_pbh: bool = False

    def __post_init__(self) -> None:
        resolve = tuple(sorted(self.resolve_rules, key=_by_priority))
        flapping = tuple(sorted((rule for rule in self.flapping_rules if rule.enabled), key=_by_priority))
        object.__setattr__(self, "resolve_rules", resolve)
        object.__setattr__(self, "flapping_rules", flapping)


_Rule = TypeVar("_Rule", bound=PatternRule)


def first_matching(rules: Iterable[_Rule], alarm: Alarm, entity: Entity | None, now: int) -> _Rule | None:
    """The first of `rules` (already in priority order) that matches `alarm` and `entity`.

    The alarm patterns see `alarm.to_document()` and the entity patterns
    `engines.model.pattern.entity_document(entity)`; each is built at most once, and only if
    some rule needs it (an alarm document with 2000 steps is not free).
    """
    alarm_doc, entity_doc = alarm_view(alarm), entity_view(entity)
    for rule in rules:
        if rule.matches_views(alarm_doc, entity_doc, now):
            return rule
    return None


def status_for(alarm: Alarm, entity: Entity | None, rules: Rules, now: int) -> tuple[Status, str | None]:
    """`compute_status` with the first flapping rule matching the alarm and its entity."""
    rule = first_matching(rules.flapping_rules, alarm, entity, now)
    return compute_status(alarm, rule, rules.stealthy_interval, now)


def alarms_to_resolve(alarms: Iterable[AlarmWithEntity], rules: Rules, now: int) -> list[Event]:
    """`resolve_close` events for the open OK alarms whose resolve rule says time is up.

    The first matching rule by priority is the only one considered; the alarm is due when its
    last step is strictly older than the rule's duration. The event's output is "Rule: <name>".
    """
    events = []
    for alarm, entity in alarms:
        if alarm.is_resolved or alarm.state != State.OK or not alarm.value.steps:
            continue
        rule = first_matching(rules.resolve_rules, alarm, entity, now)
        if rule is not None and alarm.value.steps[-1].timestamp < rule.duration.before(now):
            events.append(system_event(entity, "resolve_close", now, RULE_PREFIX + rule.name))
    return events


def snoozes_to_end(alarms: Iterable[AlarmWithEntity], rules: Rules, now: int) -> list[Event]:
    """`unsnooze` events for the alarms whose snooze end (`v.snooze.val`) is now or past.

    A snooze that ends inside an inactive pbehavior (maintenance, pause…) is kept until the
    pbehavior ends, unless `rules.disable_action_snooze_delay_on_pbh`.
    """
    events = []
    for alarm, entity in alarms:
        if alarm.is_resolved or alarm.value.snooze is None or alarm.is_snoozed(now):
            continue
        in_pause = is_pbehavior_inactive(alarm.value.pbehavior_info)
        if not in_pause or rules.disable_action_snooze_delay_on_pbh:
            events.append(system_event(entity, "unsnooze", now))
    return events


def cancels_to_resolve(alarms: Iterable[AlarmWithEntity], rules: Rules, now: int) -> list[Event]:
    """`resolve_cancel` events for alarms cancelled at least `cancel_autosolve_delay` ago."""
    events = []
    for alarm, entity in alarms:
        canceled = alarm.value.canceled
        if alarm.is_resolved or canceled is None:
            continue
        if now - canceled.timestamp >= rules.cancel_autosolve_delay:
            events.append(system_event(entity, "resolve_cancel", now))
    return events


def flapping_to_update(alarms: Iterable[AlarmWithEntity], rules: Rules, now: int) -> list[Event]:
    """`updatestatus` events for flapping alarms whose status, recomputed at `now`, differs."""
    events = []
    for alarm, entity in alarms:
        if alarm.is_resolved or alarm.status != Status.FLAPPING:
            continue
        status, _ = status_for(alarm, entity, rules, now)
        if status != alarm.status:
            events.append(system_event(entity, "updatestatus", now))
    return events


def system_event(entity: Entity, event_type: str, now: int, output: str = "") -> Event:
    """An event from axe itself about `entity`, routed to it like Canopsis' event generator.

    Initiator "system", author "system", timestamp `now`, addressed by
    `engines.model.address.event_address` with "axe" as the default connector: components and
    resources keep the connector their entity was created by; entities without one, and
    services, get connector "axe"/"axe"; a connector entity is named by its own id.
    """
    fields: dict[str, Any] = {
        **event_address(entity, BEAT_CONNECTOR).fields(),
        "event_type": event_type,
        "initiator": Initiator.SYSTEM,
        "author": SYSTEM_AUTHOR,
        "timestamp": now,
    }
    if output:
        fields["output"] = output
    return Event.model_validate(fields, context={"now": now})


def _by_priority(rule: PatternRule) -> tuple[int, str]:
    return rule.priority, rule.id
