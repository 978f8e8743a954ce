"""engines.action.effects: the event of each alarm action, and the document of a pbehavior action."""

from __future__ import annotations

from typing import Any

import pytest
from action_factories import NOW, ack_action, alarm, any_alarm, entity, scenario

from engines.action.effects import EXECUTION_KEY, alarm_action_event, pbehavior_document
from engines.action.scenarios import Action
from engines.model.pattern import Pattern
from engines.model.template import TemplateError

# --- action events -------------------------------------------------------------------------------


def event_of(action: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    s = scenario([action], name="night shift")
    kwargs.setdefault("scenario", s)
    built = alarm_action_event(
        s.actions[0], kwargs.pop("alarm", None) or alarm(), kwargs.pop("entity", entity()), NOW, **kwargs
    )
    return dict(built.model_dump(mode="json", exclude_unset=True))


IDENTITY = {
    "connector": "nagios",
    "connector_name": "paris",
    "source_type": "resource",
    "component": "web01",
    "resource": "disk",
    "initiator": "system",
    "timestamp": NOW,
}


def test_ack_event_targets_the_alarm_entity_as_the_system() -> None:
    assert event_of(ack_action()) == {
        **IDENTITY,
        "event_type": "ack",
        "author": "system",
        "output": "Scenario: night shift. Comment: auto.",
    }


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
    action = ack_action(
        type="assocticket",
        comment="from scenario",
        parameters={
            "ticket": "INC-1",
            "ticket_url": "https://t/INC-1",
            "ticket_system_name": "snow",
            "ticket_data": {"queue": "ops"},
        },
    )
    built = event_of(action)
    assert {k: v for k, v in built.items() if k.startswith("ticket")} == {
        "ticket": "INC-1",
        "ticket_url": "https://t/INC-1",
        "ticket_system_name": "snow",
        "ticket_data": {"queue": "ops"},
        "ticket_comment": "from scenario",
        "ticket_rule_id": "s1",
        "ticket_rule_name": "Scenario: night shift",
    }
    declared = event_of(action, ticket={"ticket": "42", "ticket_data": {"prio": "1"}})
    assert declared["ticket"] == "42" and declared["ticket_data"] == {"prio": "1"}
    assert declared["ticket_url"] == "https://t/INC-1"


def test_output_and_author_are_templates() -> None:
    action = ack_action(
        parameters={
            "output": "{{ .Alarm.Value.Resource }} on {{ .Entity.Name }}",
            "author": "bot-{{ .Alarm.Value.Connector }}",
        }
    )
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


@pytest.mark.parametrize(
    ("kind", "source", "fields"),
    [
        ("component", "component", {"component": "web01"}),
        ("connector", "connector", {}),
    ],
)
def test_events_for_component_and_connector_alarms(kind: str, source: str, fields: dict[str, Any]) -> None:
    ent = entity(kind=kind)
    built = alarm_action_event(scenario().actions[0], alarm(ent), ent, NOW)
    assert built.source_type == source and built.entity_id == ent.id
    assert {k: getattr(built, k) for k in ("component", "resource")} == {"component": None, "resource": None, **fields}


def test_pbehavior_and_webhook_actions_are_not_events() -> None:
    pbh = Action.model_validate(
        {
            "type": "pbehavior",
            "entity_pattern": any_alarm(),
            "parameters": {"name": "m", "type": "t", "reason": "r", "duration": {"value": 1, "unit": "h"}},
        }
    )
    with pytest.raises(ValueError, match="pbehavior action is not performed by an event"):
        alarm_action_event(pbh, alarm(), entity(), NOW)


# --- pbehavior documents -------------------------------------------------------------------------


def pbehavior_action(**parameters: Any) -> Action:
    return Action.model_validate(
        {
            "type": "pbehavior",
            "alarm_pattern": any_alarm(),
            "parameters": {
                "name": "maintenance by scenario",
                "type": "type-maintenance",
                "reason": "reason-1",
                **parameters,
            },
        }
    )


def test_pbehavior_starting_on_trigger_runs_for_the_duration() -> None:
    action = pbehavior_action(duration={"value": 30, "unit": "m"}, start_on_trigger=True, color="#fff")
    doc = pbehavior_document(action, alarm(), entity(), NOW, pbehavior_id="p1", scenario=scenario())
    assert doc["_id"] == "p1" and doc["tstart"] == NOW and doc["tstop"] == NOW + 1800
    assert (doc["name"], doc["type_"], doc["reason"], doc["color"]) == (
        "maintenance by scenario",
        "type-maintenance",
        "reason-1",
        "#fff",
    )
    assert doc["enabled"] and doc["author"] == "system" and doc["origin"] == "scenario" and doc["scenario"] == "s1"
    pattern = Pattern.parse(doc["entity_pattern"])
    assert pattern.match({"_id": "disk/web01"}, now=NOW) and not pattern.match({"_id": "cpu/web01"}, now=NOW)


def test_pbehavior_with_fixed_times() -> None:
    action = pbehavior_action(tstart=NOW + 100, tstop=NOW + 200)
    doc = pbehavior_document(action, alarm(), entity(), NOW, pbehavior_id="p1")
    assert (doc["tstart"], doc["tstop"]) == (NOW + 100, NOW + 200)
