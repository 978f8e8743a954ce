"""Scenarios, pure: triggers of every change type, matching, and what each action does."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from action_factories import NOW, ack_action, alarm, any_alarm, change, entity, scenario
from engines.action.scenarios import (
    EXECUTION_KEY,
    Action,
    Duration,
    Scenario,
    alarm_action_event,
    alarm_document,
    execution_id,
    matching,
    new_execution,
    pbehavior_document,
    triggers_of,
)
from engines.model.template import TemplateError
from engines.model.alarm import ChangeType
from engines.model.pattern import Pattern

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


# --- the scenario document -----------------------------------------------------------------------


def test_scenario_document_defaults_and_unknown_fields_are_kept() -> None:
    s = Scenario.model_validate({"_id": "s", "name": "n", "triggers": ["create"], "actions": [ack_action()],
                                 "author": "root", "updated": 5, "disable_during_periods": None})
    assert s.enabled and s.priority == 0 and not s.is_delayed and s.disable_during_periods == []
    assert s.model_extra == {"updated": 5}


def test_null_parameters_read_as_unset() -> None:
    action = Action.model_validate({**ack_action(), "parameters": {"output": None, "forward_author": None,
                                                                  "duration": None, "ticket_data": None}})
    assert action.parameters.output == "" and action.parameters.forward_author is False


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "declareticket", "alarm_pattern": any_alarm()}, "'declareticket' is not supported"),
        ({"type": "ack"}, "neither alarm_pattern nor entity_pattern"),
        ({"type": "changestate", "alarm_pattern": any_alarm()}, "changestate needs parameters.state"),
        ({"type": "changestate", "alarm_pattern": any_alarm(), "parameters": {"state": 4}}, "less than or equal to 3"),
        ({"type": "snooze", "alarm_pattern": any_alarm()}, "snooze needs parameters.duration"),
        ({"type": "pbehavior", "alarm_pattern": any_alarm(), "parameters": {"name": "m"}}, "needs parameters type, reason"),
        ({"type": "webhook", "alarm_pattern": any_alarm(), "parameters": {"request": {"method": "FETCH", "url": "u"}}},
         "request.method"),
        ({"type": "ack", "alarm_pattern": [[{"field": "v.state.val", "cond": {"type": "gt", "value": "x"}}]]},
         "'gt' needs"),
    ],
)
def test_invalid_actions_are_refused_with_the_reason(action: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Action.model_validate(action)


def test_a_scenario_without_actions_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        Scenario.model_validate({"_id": "s", "triggers": ["create"], "actions": []})


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [(30, "s", 30), (2, "m", 120), (3, "h", 10800), (1, "d", 86400), (2, "w", 1209600), (0, "h", 0)],
)
def test_duration_in_seconds(value: int, unit: str, seconds: int) -> None:
    assert Duration(value=value, unit=unit).seconds(NOW) == seconds  # type: ignore[arg-type]


def test_months_and_years_are_calendar_ones() -> None:
    jan_31 = 1_769_817_600  # 2026-01-31 00:00 UTC
    assert Duration(value=1, unit="M").seconds(jan_31) == 28 * 86400  # to 2026-02-28
    assert Duration(value=1, unit="y").seconds(jan_31) == 365 * 86400


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


# --- action events -------------------------------------------------------------------------------


def event_of(action: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    s = scenario([action], name="night shift")
    kwargs.setdefault("scenario", s)
    built = alarm_action_event(s.actions[0], kwargs.pop("alarm", None) or alarm(), kwargs.pop("entity", entity()), NOW,
                         **kwargs)
    return dict(built.model_dump(mode="json", exclude_unset=True))


IDENTITY = {"connector": "nagios", "connector_name": "paris", "source_type": "resource", "component": "web01",
            "resource": "disk", "initiator": "system", "timestamp": NOW}


def test_ack_event_targets_the_alarm_entity_as_the_system() -> None:
    assert event_of(ack_action()) == {
        **IDENTITY, "event_type": "ack", "author": "system", "output": "Scenario: night shift. Comment: auto."}


def test_ackremove_and_cancel_events() -> None:
    assert event_of(ack_action(type="ackremove"))["event_type"] == "ackremove"
    cancel = event_of(ack_action(type="cancel", parameters={}))
    assert cancel["event_type"] == "cancel" and cancel["output"] == "Scenario: night shift"


def test_changestate_event_carries_the_state() -> None:
    built = event_of(ack_action(type="changestate", parameters={"state": 3, "output": "escalated"}))
    assert built["event_type"] == "changestate" and built["state"] == 3


def test_snooze_event_carries_the_duration_in_seconds() -> None:
    built = event_of(ack_action(type="snooze", parameters={"duration": {"value": 2, "unit": "h"}}))
    assert built["event_type"] == "snooze" and built["duration"] == 7200


def test_assocticket_event_carries_the_ticket_and_the_rule() -> None:
    action = ack_action(type="assocticket", comment="from scenario",
                        parameters={"ticket": "INC-1", "ticket_url": "https://t/INC-1", "ticket_system_name": "snow",
                                    "ticket_data": {"queue": "ops"}})
    built = event_of(action)
    assert {k: v for k, v in built.items() if k.startswith("ticket")} == {
        "ticket": "INC-1", "ticket_url": "https://t/INC-1", "ticket_system_name": "snow",
        "ticket_data": {"queue": "ops"}, "ticket_comment": "from scenario", "ticket_rule_id": "s1",
        "ticket_rule_name": "Scenario: night shift"}
    declared = event_of(action, ticket={"ticket": "42", "ticket_data": {"prio": "1"}})
    assert declared["ticket"] == "42" and declared["ticket_data"] == {"prio": "1"}
    assert declared["ticket_url"] == "https://t/INC-1"


def test_output_and_author_are_templates() -> None:
    action = ack_action(parameters={"output": "{{ .Alarm.Value.Resource }} on {{ .Entity.Name }}",
                                    "author": "bot-{{ .Alarm.Value.Connector }}"})
    built = event_of(action)
    assert built["output"] == "Scenario: night shift. Comment: disk on disk." and built["author"] == "bot-nagios"
    with pytest.raises(TemplateError, match="no entry for key 'Nope'"):
        event_of(ack_action(parameters={"output": "{{ .Alarm.Nope }}"}))


def test_forward_author_takes_the_triggering_events_author() -> None:
    action = ack_action(parameters={"forward_author": True, "author": "ignored"})
    assert event_of(action, data={"Author": "alice"})["author"] == "alice"
    assert event_of(action)["author"] == "system"


def test_without_scenario_the_output_is_the_parameter_alone() -> None:
    assert event_of(ack_action(), scenario=None)["output"] == "auto"


def test_the_execution_marker_is_written_on_the_event() -> None:
    marker = {"scenario": "s1", "execution": "x", "step": 0, "emit_trigger": False}
    assert event_of(ack_action(), execution=marker)[EXECUTION_KEY] == marker


@pytest.mark.parametrize(("kind", "source", "fields"), [
    ("component", "component", {"component": "web01"}),
    ("connector", "connector", {}),
])
def test_events_for_component_and_connector_alarms(kind: str, source: str, fields: dict[str, Any]) -> None:
    ent = entity(kind=kind)
    built = alarm_action_event(scenario().actions[0], alarm(ent), ent, NOW)
    assert built.source_type == source and built.entity_id == ent.id
    assert {k: getattr(built, k) for k in ("component", "resource")} == {"component": None, "resource": None, **fields}


def test_pbehavior_and_webhook_actions_are_not_events() -> None:
    pbh = Action.model_validate({"type": "pbehavior", "entity_pattern": any_alarm(), "parameters": {
        "name": "m", "type": "t", "reason": "r", "duration": {"value": 1, "unit": "h"}}})
    with pytest.raises(ValueError, match="pbehavior action is not performed by an event"):
        alarm_action_event(pbh, alarm(), entity(), NOW)


# --- pbehavior documents -------------------------------------------------------------------------


def pbehavior_action(**parameters: Any) -> Action:
    return Action.model_validate({"type": "pbehavior", "alarm_pattern": any_alarm(), "parameters": {
        "name": "maintenance by scenario", "type": "type-maintenance", "reason": "reason-1", **parameters}})


def test_pbehavior_starting_on_trigger_runs_for_the_duration() -> None:
    action = pbehavior_action(duration={"value": 30, "unit": "m"}, start_on_trigger=True, color="#fff")
    doc = pbehavior_document(action, alarm(), entity(), NOW, pbehavior_id="p1", scenario=scenario())
    assert doc["_id"] == "p1" and doc["tstart"] == NOW and doc["tstop"] == NOW + 1800
    assert (doc["name"], doc["type_"], doc["reason"], doc["color"]) == (
        "maintenance by scenario", "type-maintenance", "reason-1", "#fff")
    assert doc["enabled"] and doc["author"] == "system" and doc["origin"] == "scenario" and doc["scenario"] == "s1"
    pattern = Pattern.parse(doc["entity_pattern"])
    assert pattern.match({"_id": "disk/web01"}, now=NOW) and not pattern.match({"_id": "cpu/web01"}, now=NOW)


def test_pbehavior_with_fixed_times() -> None:
    action = pbehavior_action(tstart=NOW + 100, tstop=NOW + 200)
    doc = pbehavior_document(action, alarm(), entity(), NOW, pbehavior_id="p1")
    assert (doc["tstart"], doc["tstop"]) == (NOW + 100, NOW + 200)


# --- executions ----------------------------------------------------------------------------------


def test_an_execution_is_due_now_or_after_the_delay() -> None:
    created = change()
    assert created.alarm is not None
    now_run = new_execution(scenario(), created.alarm, entity(), created.to_event_field(), {"Trigger": "create"}, NOW)
    assert (now_run.run_at, now_run.delayed, now_run.step) == (NOW, False, 0)
    assert now_run.alarm_id == created.alarm.id and now_run.entity_id == "disk/web01" and now_run.alarm["_id"]
    later = new_execution(scenario(delay={"value": 10, "unit": "m"}), created.alarm, entity(),
                          created.to_event_field(), {}, NOW)
    assert (later.run_at, later.delayed) == (NOW + 600, True)


def test_execution_ids_are_the_same_for_the_same_alarm_change_only() -> None:
    created = change()
    assert created.alarm is not None
    field = created.to_event_field()
    assert execution_id(scenario(), created.alarm, field) == execution_id(scenario(), created.alarm, field)
    assert execution_id(scenario(_id="other"), created.alarm, field) != execution_id(scenario(), created.alarm, field)
    updated = change(alarm=created.alarm, state=3)
    assert updated.alarm is not None
    assert execution_id(scenario(), updated.alarm, updated.to_event_field()) != execution_id(
        scenario(), created.alarm, field)
