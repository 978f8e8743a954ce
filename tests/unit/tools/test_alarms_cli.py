"""cps-alarms' pure pieces: the list query, rows, and the events operator actions become."""

from __future__ import annotations

import pytest

from engines.model.event import Event
from engines.tools.alarms import alarm_rows, list_filter, operator_event, show_lines
from engines.tools.console import UsageError

NOW = 1_700_000_000
ALARM = {
    "_id": "a1",
    "t": NOW - 60,
    "d": "disk/web01",
    "e": {"_id": "disk/web01", "type": "resource", "name": "disk", "component": "web01", "connector": "nagios/paris"},
    "v": {
        "connector": "nagios",
        "connector_name": "paris",
        "component": "web01",
        "resource": "disk",
        "state": {"_t": "stateinc", "t": NOW - 60, "val": 3},
        "status": {"_t": "statusinc", "t": NOW - 60, "val": 1},
        "steps": [
            {"_t": "stateinc", "t": NOW - 60, "a": "nagios.paris", "val": 3, "m": "full"},
            {"_t": "statusinc", "t": NOW - 60, "a": "nagios.paris", "val": 1, "m": "full"},
        ],
        "output": "full",
        "creation_date": NOW - 60,
        "last_update_date": NOW - 60,
    },
}


def test_list_filter() -> None:
    assert list_filter("open", None, None, None) == {"v.resolved": None}
    assert list_filter("resolved", 3, "x", "nagios") == {
        "v.resolved": {"$ne": None},
        "v.state.val": 3,
        "d": "x",
        "v.connector": "nagios",
    }
    assert list_filter("all", None, None, None) == {}


def test_alarm_rows() -> None:
    [row] = alarm_rows([ALARM])
    assert row[:6] == ("a1", "disk/web01", "critical (3)", "ongoing", "-", "2") and row[-1] == "full"


def test_show_lines_list_the_steps() -> None:
    text = "\n".join(show_lines(ALARM))
    assert "entity     disk/web01" in text and "state      critical (3)" in text
    assert "steps (2):" in text and "stateinc" in text


@pytest.mark.parametrize(
    "action, extra, expected",
    [
        ("ack", {}, {}),
        ("snooze", {"duration": 600}, {"duration": 600}),
        ("changestate", {"state": 1}, {"state": 1}),
        ("cancel", {}, {}),
    ],
)
def test_operator_event_carries_the_alarm_identity(action, extra, expected) -> None:
    event = operator_event(ALARM, action, "bob", "why", NOW, **extra)
    assert event == {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": action,
        "source_type": "resource",
        "component": "web01",
        "resource": "disk",
        "author": "bob",
        "initiator": "user",
        "output": "why",
        "timestamp": NOW,
        **expected,
    }
    assert Event.model_validate(event, context={"now": NOW}).entity_id == "disk/web01"


def test_operator_event_of_a_component_alarm_and_from_the_entity() -> None:
    v = {k: val for k, val in ALARM["v"].items() if k not in ("resource", "connector", "connector_name")}
    alarm = {
        **ALARM,
        "d": "web01",
        "v": v,
        "e": {
            "_id": "web01",
            "name": "web01",
            "type": "component",
            "created": 1,
            "connector": "nagios/paris",
            "component": "web01",
        },
    }
    event = operator_event(alarm, "comment", "bob", "", NOW)
    assert (event["source_type"], event["connector"], event["connector_name"]) == ("component", "nagios", "paris")
    assert "resource" not in event


def test_operator_event_refuses_an_alarm_without_identity() -> None:
    with pytest.raises(UsageError, match="cannot build its ack event: state: Field required"):
        operator_event({"_id": "x", "d": "x", "v": {}}, "ack", "bob", "", NOW)
