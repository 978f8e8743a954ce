"""Resolve and flapping rules, the settings axe decides with, and the beat's decisions.

Reference §5.3 (flapping rules), §5.6 (resolve rules), §5.8 (the `alarms` beat job). The beat
functions are pure: given the open alarms with their entities and `now`, they return the
system events to publish to the head of the chain; processing those events (lifecycle.py) does
the actual change, so a beat and a concurrent operator action can never both apply.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from engines.axe.alarm_status import RULE_PREFIX, compute_status
from engines.model.alarm import Alarm, State, Status
from engines.model.address import event_address
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pattern import Pattern, entity_document
from engines.model.pbehavior_info import is_pbehavior_inactive

__all__ = [
    "DEFAULT_RESOLVE_RULE",
    "DEFAULT_RESOLVE_RULE_ID",
    "AlarmWithEntity",
    "DurationUnit",
    "FlappingRule",
    "ResolveRule",
    "RuleDuration",
    "Rules",
    "alarms_to_resolve",
    "cancels_to_resolve",
    "first_matching",
    "flapping_to_update",
    "snoozes_to_end",
    "status_for",
]

#: Canopsis matches its shipped rule by this `_id` (`resolverule.defaultRule`), patterns or not.
DEFAULT_RESOLVE_RULE_ID: Final = "default-rule"
#: Connector of the events the beat sends about entities that have none (Canopsis `axe`/`axe`).
BEAT_CONNECTOR: Final = "axe"

#: An open alarm with its entity, as the store joins them for the beat.
AlarmWithEntity = tuple[Alarm, Entity]
RawPattern = list[Any]  # groups: lists of conditions, as Canopsis stores them; Pattern.parse checks them
#: Documents built on first call and remembered: an alarm's, with its steps, is not free.
_AlarmView = Callable[[], Mapping[str, Any]]
_EntityView = Callable[[], Mapping[str, Any] | None]

_FIXED_SECONDS: Final[dict[str, int]] = {
    "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400,
}  # fmt: skip


class DurationUnit(StrEnum):
    """Units of a rule duration, as Canopsis spells them ("M" months, "m" minutes)."""

    SECOND = "s"
    MINUTE = "m"
    HOUR = "h"
    DAY = "d"
    WEEK = "w"
    MONTH = "M"
    YEAR = "y"


class RuleDuration(BaseModel):
    """`{value, unit}` (Canopsis `DurationWithUnit`); months and years are calendar ones, in UTC."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True)

    value: int = Field(ge=0)
    unit: DurationUnit

    def before(self, now: int) -> int:
        """`now` minus this duration, in unix seconds.

        Months and years move the calendar date and let an impossible day roll over into the
        next month, as Go's `AddDate` does (31 March minus one month is 3 March, or 2 March in
        a leap year).
        """
        if self.unit in _FIXED_SECONDS:
            return now - self.value * _FIXED_SECONDS[self.unit]
        months = self.value * (12 if self.unit == DurationUnit.YEAR else 1)
        moment = datetime.fromtimestamp(now, UTC)
        year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
        first = moment.replace(year=year, month=month0 + 1, day=1)
        shifted = first + timedelta(days=moment.day - 1)
        return calendar.timegm(shifted.utctimetuple())


class _PatternRule(BaseModel):
    """What resolve and flapping rules share: identity, priority, duration and two patterns.

    Patterns are Canopsis' JSON (a list of groups of conditions) and are compiled once, when
    the rule is read: a malformed pattern refuses the whole rule (pydantic.ValidationError),
    so the store can skip it and say why instead of failing at match time.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    id: str = Field(alias="_id")
    name: str
    description: str = ""
    duration: RuleDuration
    priority: int = 0
    entity_pattern: RawPattern | None = None
    alarm_pattern: RawPattern | None = None

    _entity: Pattern = PrivateAttr(default_factory=Pattern)
    _alarm: Pattern = PrivateAttr(default_factory=Pattern)

    @model_validator(mode="after")
    def _compile_patterns(self) -> Self:
        self._entity = Pattern.parse(self.entity_pattern, what="entity_pattern")
        self._alarm = Pattern.parse(self.alarm_pattern, what="alarm_pattern")
        return self

    def matches(self, alarm: Alarm, entity: Entity | None, now: int) -> bool:
        """Whether the rule applies to `alarm` and its `entity` (None if unknown).

        As in Canopsis `match.Match`: a rule with no pattern at all matches nothing (an empty
        rule must not silently apply to every alarm); otherwise each non-empty pattern must
        match, and an empty one is ignored. An entity pattern never matches a missing entity.
        """
        return self._matches(_alarm_view(alarm), _entity_view(entity), now)

    def _matches(self, alarm: _AlarmView, entity: _EntityView, now: int) -> bool:
        if self._entity.is_empty and self._alarm.is_empty:
            return False
        if not self._entity.is_empty:
            document = entity()
            if document is None or self._entity.match(document, now=now) is None:
                return False
        return self._alarm.is_empty or self._alarm.match(alarm(), now=now) is not None

    def to_document(self) -> dict[str, Any]:
        """The stored rule document."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResolveRule(_PatternRule):
    """A `resolve_rule` document: resolve OK alarms whose last step is older than `duration`."""

    def _matches(self, alarm: _AlarmView, entity: _EntityView, now: int) -> bool:
        # Canopsis' shipped rule matches everything, whatever its patterns.
        return self.id == DEFAULT_RESOLVE_RULE_ID or super()._matches(alarm, entity, now)


class FlappingRule(_PatternRule):
    """A `flapping_rule` document: flapping above `freq_limit` state switches within `duration`."""

    freq_limit: int = Field(ge=0)
    enabled: bool = True


#: The rule Canopsis installs (`database/fixtures/alarm.yml`): every OK alarm is resolved one
#: minute after its last step. It matches by `_id`, so it needs no pattern.
DEFAULT_RESOLVE_RULE: Final = ResolveRule.model_validate(
    {"_id": DEFAULT_RESOLVE_RULE_ID, "name": "Default rule", "priority": 0,
     "duration": {"value": 1, "unit": "m"}}
)  # fmt: skip


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
        flapping = tuple(
            sorted((rule for rule in self.flapping_rules if rule.enabled), key=_by_priority)
        )
        object.__setattr__(self, "resolve_rules", resolve)
        object.__setattr__(self, "flapping_rules", flapping)


_Rule = TypeVar("_Rule", bound=_PatternRule)


def first_matching(
    rules: Iterable[_Rule], alarm: Alarm, entity: Entity | None, now: int
) -> _Rule | None:
    """The first of `rules` (already in priority order) that matches `alarm` and `entity`.

    The alarm patterns see `alarm.to_document()` and the entity patterns
    `engines.model.pattern.entity_document(entity)`; each is built at most once, and only if
    some rule needs it (an alarm document with 2000 steps is not free).
    """
    alarm_view, entity_view = _alarm_view(alarm), _entity_view(entity)
    for rule in rules:
        if rule._matches(alarm_view, entity_view, now):
            return rule
    return None


def status_for(
    alarm: Alarm, entity: Entity | None, rules: Rules, now: int
) -> tuple[Status, str | None]:
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


def _alarm_view(alarm: Alarm) -> _AlarmView:
    return functools.cache(alarm.to_document)


def _entity_view(entity: Entity | None) -> _EntityView:
    return functools.cache(lambda: None if entity is None else entity_document(entity))


def _by_priority(rule: _PatternRule) -> tuple[int, str]:
    return rule.priority, rule.id
