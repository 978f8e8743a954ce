"""engines.action.matching: triggers of every change type, and which scenarios an alarm change runs."""

from __future__ import annotations

from typing import Any

import pytest
from action_factories import NOW, ack_action, alarm, change, entity, scenario

from engines.action.matching import alarm_document, matching, triggers_of
from engines.model.alarm import ChangeType

# --- triggers ------------------------------------------------------------------------------------

#: (change type, EventsCount) → triggers, per Canopsis AlarmChange.GetTriggers.
TRIGGERS: dict[tuple[str, int], list[str]] = {
    ("", 0): [],
    ("", 1): ["eventscount"],
    ("", 5): ["eventscount5", "eventscount"],
    ("stateinc", 1): ["stateinc", "eventscount"],
    ("stateinc", 2): ["stateinc", "eventscount2", "eventscount"],
    ("statedec", 7): ["statedec", "eventscount7", "eventscount"],
    ("create", 1): ["create"],
    ("createandpbhenter", 1): ["create", "pbhenter"],
    ("ack", 3): ["ack"],
    ("doubleack", 3): ["ack"],
    ("ackremove", 3): ["ackremove"],
    ("cancel", 3): ["cancel"],
    ("uncancel", 3): ["uncancel"],
    ("assocticket", 3): ["assocticket"],
    ("snooze", 3): ["snooze"],
    ("unsnooze", 3): ["unsnooze"],
    ("resolve", 3): ["resolve"],
    ("comment", 3): ["comment"],
    ("changestate", 3): ["changestate"],
    ("pbhenter", 3): ["pbhenter"],
    ("pbhleave", 3): ["pbhleave"],
    ("pbhleaveandenter", 3): ["pbhenter", "pbhleave"],
    ("changestatus", 3): ["changestatus"],
    ("activate", 3): ["activate"],
    ("enabled", 3): ["enabled"],
    ("declareticketwebhook", 3): ["declareticketwebhook"],
    ("autodeclareticketwebhook", 3): ["declareticketwebhook"],
    ("webhookstart", 3): [],
    ("webhookcomplete", 3): [],
    ("webhookfail", 3): [],
    ("declareticketwebhookfail", 3): [],
    ("autowebhookstart", 3): [],
    ("autowebhookcomplete", 3): [],
    ("autowebhookfail", 3): [],
    ("autodeclareticketwebhookfail", 3): [],
    ("autoinstructionactivate", 3): [],
    ("metaalarmchildactivate", 3): [],
    ("metaalarmchilddeactivate", 3): [],
    ("instructionstart", 3): ["instructionstart"],
}


@pytest.mark.parametrize(("kind", "count"), list(TRIGGERS))
def test_triggers_of_each_change_type(kind: str, count: int) -> None:
    assert triggers_of({"Type": kind, "EventsCount": count}) == TRIGGERS[(kind, count)]


def test_the_trigger_table_covers_every_change_type_axe_produces() -> None:
    assert {c.value for c in ChangeType} <= {kind for kind, _ in TRIGGERS}


def test_triggers_of_a_real_alarm_change() -> None:
    created = change()
    assert triggers_of(created.to_event_field()) == ["create"]
    again = change(alarm=created.alarm, state=3)
    assert triggers_of(again.to_event_field()) == ["stateinc", "eventscount2", "eventscount"]


def test_triggers_of_a_malformed_alarm_change_are_read_safely() -> None:
    assert triggers_of({}) == []
    assert triggers_of({"Type": None, "EventsCount": "7"}) == []


# --- matching ------------------------------------------------------------------------------------


def test_matching_needs_enabled_and_a_trigger() -> None:
    a, e = alarm(), entity()
    on = scenario(_id="on")
    off = scenario(_id="off", enabled=False)
    other = scenario(_id="other", triggers=["ack"])
    assert [s.id for s in matching([on, off, other], ["create"], a, e, NOW)] == ["on"]
    assert [s.id for s in matching([on, off, other], ["ack", "create"], a, e, NOW)] == ["on", "other"]
    assert matching([on], [], a, e, NOW) == []


def test_matching_orders_by_priority_then_id() -> None:
    scenarios = [scenario(_id="b", priority=2), scenario(_id="c", priority=1), scenario(_id="a", priority=2)]
    assert [s.id for s in matching(scenarios, ["create"], alarm(), entity(), NOW)] == ["c", "a", "b"]


def test_matching_checks_the_alarm_and_entity_patterns() -> None:
    critical = [[{"field": "v.state.val", "cond": {"type": "eq", "value": 3}}]]
    prod = [[{"field": "infos.env", "field_type": "string", "cond": {"type": "eq", "value": "prod"}}]]
    by_state = scenario(actions=[ack_action(alarm_pattern=critical)])
    by_entity = scenario(_id="e", actions=[{"type": "ack", "entity_pattern": prod}])
    prod_entity = entity(infos={"env": {"name": "env", "value": "prod"}})
    assert matching([by_state], ["create"], alarm(state=2), entity(), NOW) == []
    assert matching([by_state], ["create"], alarm(state=3), entity(), NOW) == [by_state]
    assert matching([by_entity], ["create"], alarm(), entity(), NOW) == []
    assert matching([by_entity], ["create"], alarm(), prod_entity, NOW) == [by_entity]
    assert matching([by_entity], ["create"], alarm(), None, NOW) == []


def test_alarm_patterns_see_the_duration_of_an_open_alarm() -> None:
    older = [[{"field": "v.duration", "cond": {"type": "gt", "value": {"value": 1, "unit": "h"}}}]]
    s = scenario(actions=[ack_action(alarm_pattern=older)])
    assert alarm_document(alarm(), NOW + 10)["v"]["duration"] == 10
    assert matching([s], ["create"], alarm(), entity(), NOW + 600) == []
    assert matching([s], ["create"], alarm(), entity(), NOW + 7200) == [s]


def test_a_scenario_runs_if_an_action_matches_before_one_that_drops_it() -> None:
    never = [[{"field": "v.state.val", "cond": {"type": "eq", "value": 9}}]]
    skipped_then_run = scenario(actions=[ack_action(alarm_pattern=never), ack_action()])
    dropped = scenario(actions=[ack_action(alarm_pattern=never, drop_scenario_if_not_matched=True), ack_action()])
    nothing = scenario(actions=[ack_action(alarm_pattern=never)])
    assert matching([skipped_then_run], ["create"], alarm(), entity(), NOW) == [skipped_then_run]
    assert matching([dropped], ["create"], alarm(), entity(), NOW) == []
    assert matching([nothing], ["create"], alarm(), entity(), NOW) == []


@pytest.mark.parametrize(
    ("pbehavior", "periods", "runs"),
    [
        (None, ["maintenance"], True),
        (None, ["active"], False),  # no pbehavior in force counts as "active"
        ({"id": "p1", "canonical_type": "maintenance"}, ["maintenance", "pause"], False),
        ({"id": "p1", "canonical_type": "pause"}, ["maintenance"], True),
        ({"id": "p1", "canonical_type": "active"}, ["active"], False),
        ({"canonical_type": "maintenance"}, ["maintenance"], True),  # no id: not in force
    ],
)
def test_disable_during_periods(pbehavior: dict[str, Any] | None, periods: list[str], runs: bool) -> None:
    s = scenario(disable_during_periods=periods)
    found = matching([s], ["create"], alarm(pbehavior_info=pbehavior), entity(), NOW)
    assert found == ([s] if runs else [])


def test_delayed_scenarios_match_like_the_others() -> None:
    s = scenario(delay={"value": 5, "unit": "m"})
    assert s.is_delayed and matching([s], ["create"], alarm(), entity(), NOW) == [s]
    assert not scenario(delay={"value": 0, "unit": "m"}).is_delayed
