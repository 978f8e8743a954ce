"""engines.axe.rules: rule documents, matching and the beat's decisions (reference §5.6, §5.8)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import pytest
from pydantic import ValidationError

from engines.axe.lifecycle import apply_event
from engines.axe.rule_documents import DEFAULT_RESOLVE_RULE, FlappingRule, ResolveRule, RuleDuration
from engines.axe.rules import (
    Rules,
    alarms_to_resolve,
    cancels_to_resolve,
    first_matching,
    flapping_to_update,
    snoozes_to_end,
    system_event,
)
from engines.model.alarm import Alarm, Status
from engines.model.entity import Entity
from engines.model.event import Event

NOW: Final = 1_764_358_800
MINUTE: Final = 60
HOUR: Final = 3600


def unix(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def entity(**changes: Any) -> Entity:
    document = {
        "_id": "disk/srv01",
        "name": "disk",
        "type": "resource",
        "created": NOW - HOUR,
        "connector": "centreon/centreon-1",
        "component": "srv01",
        **changes,
    }
    return Entity.model_validate(document)


def event(event_type: str, at: int, **fields: Any) -> Event:
    document = {
        "event_type": event_type,
        "source_type": "resource",
        "connector": "centreon",
        "connector_name": "centreon-1",
        "component": "srv01",
        "resource": "disk",
        "timestamp": at,
        "initiator": "user",
        "author": "jdoe",
        **fields,
    }
    return Event.model_validate(document, context={"now": NOW})


RULES: Final = Rules()


def alarm_after(*events: Event, rules: Rules = RULES) -> Alarm:
    """The alarm a problem check at NOW - 1 h opens, after `events`."""
    alarm: Alarm | None = None
    for ev in (event("check", NOW - HOUR, state=2, initiator="external"), *events):
        change = apply_event(alarm, ev, entity(), rules, ev.timestamp, "alarm-1")
        assert change.modified, ev.event_type
        alarm = change.alarm
    assert alarm is not None
    return alarm


def rule(kind: type[ResolveRule] | type[FlappingRule] = ResolveRule, **fields: Any) -> Any:
    document = {"_id": "r", "name": "rule", "duration": {"value": 5, "unit": "m"}, **fields}
    if kind is FlappingRule:
        document.setdefault("freq_limit", 1)
    return kind.model_validate(document)


NAME_IS_DISK: Final = [[{"field": "name", "cond": {"type": "eq", "value": "disk"}}]]
NAME_IS_CPU: Final = [[{"field": "name", "cond": {"type": "eq", "value": "cpu"}}]]
CONNECTOR_IS_CENTREON: Final = [[{"field": "v.connector", "cond": {"type": "eq", "value": "centreon"}}]]
STATE_IS_CRITICAL: Final = [[{"field": "v.state.val", "cond": {"type": "eq", "value": 3}}]]


# --- durations and documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "now", "before"),
    [
        pytest.param(30, "s", NOW, NOW - 30, id="seconds"),
        pytest.param(5, "m", NOW, NOW - 300, id="minutes"),
        pytest.param(2, "h", NOW, NOW - 7200, id="hours"),
        pytest.param(1, "d", NOW, NOW - 86_400, id="days"),
        pytest.param(1, "w", NOW, NOW - 604_800, id="weeks"),
        pytest.param(0, "m", NOW, NOW, id="zero"),
        pytest.param(1, "M", unix(2025, 5, 15, 12), unix(2025, 4, 15, 12), id="month"),
        pytest.param(1, "M", unix(2025, 3, 31), unix(2025, 3, 3), id="month_day_rolls_over"),
        pytest.param(13, "M", unix(2025, 1, 10), unix(2023, 12, 10), id="months_across_years"),
        pytest.param(1, "y", unix(2024, 2, 29, 8), unix(2023, 3, 1, 8), id="year_from_leap_day"),
    ],
)
def test_duration_is_subtracted_from_now(value: int, unit: str, now: int, before: int) -> None:
    assert RuleDuration(value=value, unit=unit).before(now) == before  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"duration": {"value": 1, "unit": "q"}}, id="unknown_unit"),
        pytest.param({"duration": {"value": -1, "unit": "s"}}, id="negative_duration"),
        pytest.param({"entity_pattern": [[{"field": "name"}]]}, id="condition_without_cond"),
        pytest.param({"alarm_pattern": [[]]}, id="empty_group"),
        pytest.param({"name": None}, id="no_name"),
    ],
)
def test_malformed_rule_document_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rule(**changes)


def test_rule_document_round_trips_with_unknown_fields() -> None:
    document = {
        "_id": "r1",
        "name": "disks",
        "description": "",
        "duration": {"value": 2, "unit": "h"},
        "priority": 3,
        "entity_pattern": NAME_IS_DISK,
        "author": "root",
        "created": NOW,
    }

    assert ResolveRule.model_validate(document).to_document() == document


def test_default_resolve_rule_is_canopsis_fixture() -> None:
    document = DEFAULT_RESOLVE_RULE.to_document()

    assert document == {
        "_id": "default-rule",
        "name": "Default rule",
        "description": "",
        "priority": 0,
        "duration": {"value": 1, "unit": "m"},
    }


# --- matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "with_entity", "matches"),
    [
        pytest.param(DEFAULT_RESOLVE_RULE, True, True, id="default_rule_matches_everything"),
        pytest.param(
            rule(_id="default-rule", entity_pattern=NAME_IS_CPU), True, True, id="default_rule_ignores_its_patterns"
        ),
        pytest.param(rule(), True, False, id="rule_without_patterns_matches_nothing"),
        pytest.param(rule(FlappingRule), True, False, id="flapping_rule_without_patterns"),
        pytest.param(rule(entity_pattern=NAME_IS_DISK), True, True, id="entity_pattern"),
        pytest.param(rule(entity_pattern=NAME_IS_CPU), True, False, id="entity_pattern_miss"),
        pytest.param(rule(entity_pattern=NAME_IS_DISK), False, False, id="entity_pattern_without_entity"),
        pytest.param(rule(alarm_pattern=CONNECTOR_IS_CENTREON), False, True, id="alarm_pattern"),
        pytest.param(rule(alarm_pattern=STATE_IS_CRITICAL), True, False, id="alarm_pattern_miss"),
        pytest.param(
            rule(entity_pattern=NAME_IS_DISK, alarm_pattern=CONNECTOR_IS_CENTREON), True, True, id="both_patterns"
        ),
        pytest.param(
            rule(entity_pattern=NAME_IS_DISK, alarm_pattern=STATE_IS_CRITICAL), True, False, id="both_patterns_one_miss"
        ),
        pytest.param(
            rule(entity_pattern=[], alarm_pattern=CONNECTOR_IS_CENTREON), True, True, id="empty_pattern_is_ignored"
        ),
    ],
)
def test_rule_matches_per_canopsis_pattern_semantics(
    subject: ResolveRule | FlappingRule, with_entity: bool, matches: bool
) -> None:
    alarm = alarm_after()

    assert subject.matches(alarm, entity() if with_entity else None, NOW) is matches


def test_rules_are_sorted_by_priority_then_id_and_disabled_flapping_rules_dropped() -> None:
    resolve = [rule(_id="b", priority=2), rule(_id="c", priority=1), rule(_id="a", priority=2)]
    flapping = [rule(FlappingRule, _id="on"), rule(FlappingRule, _id="off", enabled=False)]

    rules = Rules(resolve_rules=resolve, flapping_rules=flapping)

    assert [r.id for r in rules.resolve_rules] == ["c", "a", "b"]
    assert [r.id for r in rules.flapping_rules] == ["on"]


def test_rules_defaults_are_canopsis_defaults() -> None:
    rules = Rules()

    assert (rules.resolve_rules, rules.flapping_rules) == ((), ())
    assert (rules.allow_double_ack, rules.allow_change_severity_to_info) == (False, False)
    assert (rules.cancel_autosolve_delay, rules.stealthy_interval) == (3600, 0)


def test_first_matching_rule_in_priority_order_wins() -> None:
    rules = Rules(
        resolve_rules=[
            rule(_id="cpu", priority=0, entity_pattern=NAME_IS_CPU),
            rule(_id="disk", priority=1, entity_pattern=NAME_IS_DISK),
            rule(_id="centreon", priority=2, alarm_pattern=CONNECTOR_IS_CENTREON),
        ]
    )

    found = first_matching(rules.resolve_rules, alarm_after(), entity(), NOW)
    missing = first_matching(rules.resolve_rules[:1], alarm_after(), entity(), NOW)

    assert (found and found.id, missing) == ("disk", None)


# --- beat decisions ------------------------------------------------------------------------------


def test_resolve_close_event_names_the_rule_and_routes_to_the_entity() -> None:
    alarm = alarm_after(event("check", NOW - 10 * MINUTE, state=0, initiator="external"))

    (ev,) = alarms_to_resolve([(alarm, entity())], Rules(resolve_rules=[DEFAULT_RESOLVE_RULE]), NOW)

    assert ev.event_type == "resolve_close" and ev.output == "Rule: Default rule"
    assert (ev.connector, ev.connector_name, ev.component, ev.resource) == (
        "centreon",
        "centreon-1",
        "srv01",
        "disk",
    )
    assert (ev.initiator, ev.author, ev.timestamp, ev.entity_id) == (
        "system",
        "system",
        NOW,
        "disk/srv01",
    )


@pytest.mark.parametrize(
    ("state", "last_step_ago", "resolve_rules", "due"),
    [
        pytest.param(0, 5 * MINUTE + 1, [rule(entity_pattern=NAME_IS_DISK)], True, id="due"),
        pytest.param(0, 5 * MINUTE, [rule(entity_pattern=NAME_IS_DISK)], False, id="exactly_the_duration_is_not_older"),
        pytest.param(2, HOUR, [rule(entity_pattern=NAME_IS_DISK)], False, id="not_ok"),
        pytest.param(0, HOUR, [], False, id="no_rule_no_resolution"),
        pytest.param(0, HOUR, [rule(entity_pattern=NAME_IS_CPU)], False, id="no_matching_rule"),
        pytest.param(
            0,
            2 * MINUTE,
            [
                rule(_id="a", entity_pattern=NAME_IS_DISK),
                rule(_id="b", priority=1, alarm_pattern=CONNECTOR_IS_CENTREON, duration={"value": 1, "unit": "m"}),
            ],
            False,
            id="only_the_first_matching_rule_decides",
        ),
    ],
)
def test_ok_alarm_is_resolved_when_its_rule_duration_has_passed(
    state: int, last_step_ago: int, resolve_rules: list[ResolveRule], due: bool
) -> None:
    alarm = alarm_after(event("check", NOW - last_step_ago, state=state, initiator="external"))
    if state:  # same state: no step, so make the last step itself that old
        assert alarm.value.steps[-1].timestamp == NOW - HOUR

    events = alarms_to_resolve([(alarm, entity())], Rules(resolve_rules=resolve_rules), NOW)

    assert [ev.event_type for ev in events] == (["resolve_close"] if due else [])


@pytest.mark.parametrize(
    ("snooze_end", "pbehavior", "disable_delay", "ends"),
    [
        pytest.param(NOW, None, False, True, id="end_reached"),
        pytest.param(NOW - 1, None, False, True, id="end_passed"),
        pytest.param(NOW + 1, None, False, False, id="end_ahead"),
        pytest.param(NOW - 1, {"id": "p", "canonical_type": "maintenance"}, False, False, id="kept_during_maintenance"),
        pytest.param(
            NOW - 1, {"id": "p", "canonical_type": "maintenance"}, True, True, id="maintenance_delay_disabled"
        ),
        pytest.param(NOW - 1, {"id": "p", "canonical_type": "active"}, False, True, id="active_pbehavior"),
    ],
)
def test_expired_snooze_is_ended_outside_inactive_pbehaviors(
    snooze_end: int, pbehavior: dict[str, Any] | None, disable_delay: bool, ends: bool
) -> None:
    at = NOW - 10 * MINUTE
    alarm = alarm_after(event("snooze", at, duration=snooze_end - at))
    alarm.value.pbehavior_info = pbehavior
    rules = Rules(disable_action_snooze_delay_on_pbh=disable_delay)

    events = snoozes_to_end([(alarm, entity()), (alarm_after(), entity())], rules, NOW)

    assert [ev.event_type for ev in events] == (["unsnooze"] if ends else [])


@pytest.mark.parametrize(
    ("cancelled_ago", "delay", "resolves"),
    [
        pytest.param(HOUR, 3600, True, id="default_delay_reached"),
        pytest.param(HOUR - 1, 3600, False, id="default_delay_not_reached"),
        pytest.param(10 * MINUTE, 600, True, id="custom_delay"),
    ],
)
def test_cancelled_alarm_is_resolved_after_the_autosolve_delay(cancelled_ago: int, delay: int, resolves: bool) -> None:
    alarm = alarm_after(event("cancel", NOW - cancelled_ago))
    rules = Rules(cancel_autosolve_delay=delay)

    events = cancels_to_resolve([(alarm, entity()), (alarm_after(), entity())], rules, NOW)

    assert [ev.event_type for ev in events] == (["resolve_cancel"] if resolves else [])


def test_flapping_alarm_gets_updatestatus_once_it_calms_down() -> None:
    flapping = rule(FlappingRule, freq_limit=2, duration={"value": 10, "unit": "m"}, entity_pattern=NAME_IS_DISK)
    rules = Rules(flapping_rules=[flapping])
    checks = [event("check", NOW - 100 + i, state=2 * (i % 2), initiator="external") for i in range(3)]
    alarm = alarm_after(*checks, rules=rules)
    assert alarm.status == Status.FLAPPING

    still = flapping_to_update([(alarm, entity())], rules, NOW)
    calm = flapping_to_update([(alarm, entity())], rules, NOW + 10 * MINUTE)
    not_flapping = flapping_to_update([(alarm_after(), entity())], rules, NOW + HOUR)

    assert (still, not_flapping) == ([], [])
    assert [ev.event_type for ev in calm] == ["updatestatus"]
    updated = apply_event(alarm, calm[0], entity(), rules, NOW + 10 * MINUTE, "unused")
    assert updated.alarm is not None and updated.alarm.status == Status.OFF


def test_beat_events_resolve_the_alarm_when_processed() -> None:
    alarm = alarm_after(event("check", NOW - 10 * MINUTE, state=0, initiator="external"))
    rules = Rules(resolve_rules=[DEFAULT_RESOLVE_RULE])
    (ev,) = alarms_to_resolve([(alarm, entity())], rules, NOW)

    change = apply_event(alarm, ev, entity(), rules, NOW, "unused")

    assert (change.type, change.resolved) == ("resolve", True)
    assert change.alarm is not None and change.alarm.value.steps[-1].message == "Rule: Default rule"


@pytest.mark.parametrize(
    ("changes", "identity"),
    [
        pytest.param({}, ("centreon", "centreon-1", "srv01", "disk", "resource"), id="resource_keeps_its_connector"),
        pytest.param({"connector": None}, ("axe", "axe", "srv01", "disk", "resource"), id="resource_without_connector"),
        pytest.param(
            {"_id": "srv01", "name": "srv01", "type": "component"},
            ("centreon", "centreon-1", "srv01", None, "component"),
            id="component",
        ),
        pytest.param(
            {"_id": "svc-1", "name": "Web", "type": "service"}, ("axe", "axe", "svc-1", None, "service"), id="service"
        ),
        pytest.param(
            {"_id": "centreon/centreon-1", "name": "centreon-1", "type": "connector"},
            ("centreon", "centreon-1", None, None, "connector"),
            id="connector",
        ),
    ],
)
def test_system_event_routes_to_the_same_entity(changes: dict[str, Any], identity: tuple[str | None, ...]) -> None:
    subject = entity(**changes)

    ev = system_event(subject, "unsnooze", NOW)

    assert (ev.connector, ev.connector_name, ev.component, ev.resource, ev.source_type) == identity
    assert ev.entity_id == subject.id
    assert (ev.initiator, ev.author, ev.output) == ("system", "system", None)
