"""Redeliveries an alarm already reflects: recognised by message id, forwarded without a second application."""

from __future__ import annotations

from typing import Any

from engines.axe.lifecycle import apply_event
from engines.axe.replay import APPLIED_KEPT, already_applied, record_applied, replayed
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.model.alarm import Alarm

NOW = 1_764_000_000
ENTITY = Entity.model_validate(
    {
        "_id": "disk/web01",
        "name": "disk",
        "type": "resource",
        "created": NOW,
        "component": "web01",
        "connector": "nagios/paris",
    }
)


def event(message_id: str | None, redelivered: bool = False, **fields: Any) -> Event:
    e = Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": "check",
            "source_type": "resource",
            "component": "web01",
            "resource": "disk",
            "state": 2,
            **fields,
        },
        context={"now": NOW},
    )
    e.received_as(message_id, redelivered)
    return e


def alarm_after(*events: Event) -> Alarm:
    alarm = None
    for e in events:
        change = apply_event(alarm, e, ENTITY, Rules(), NOW, "alarm-1")
        assert change.alarm is not None
        alarm = record_applied(change.alarm, e)
    assert alarm is not None
    return alarm


def test_a_redelivered_event_the_alarm_holds_is_recognised() -> None:
    alarm = alarm_after(event("m1"), event("m2", state=3))
    assert already_applied(alarm, event("m2", redelivered=True))
    assert already_applied(alarm, event("m1", redelivered=True))


def test_first_deliveries_and_unknown_ids_are_applied() -> None:
    alarm = alarm_after(event("m1"))
    assert not already_applied(alarm, event("m1"))  # not flagged redelivered: a new event with a reused id
    assert not already_applied(alarm, event("m9", redelivered=True))
    assert not already_applied(alarm, event(None, redelivered=True))
    assert not already_applied(None, event("m1", redelivered=True))


def test_only_the_last_ids_are_kept() -> None:
    alarm = alarm_after(event("first"))
    for n in range(APPLIED_KEPT):
        alarm = record_applied(alarm, event(f"m{n}"))
    assert alarm.applied is not None and len(alarm.applied) == APPLIED_KEPT
    assert not already_applied(alarm, event("first", redelivered=True))
    assert already_applied(alarm, event(f"m{APPLIED_KEPT - 1}", redelivered=True))


def test_an_event_without_id_leaves_the_record_as_it_is() -> None:
    alarm = alarm_after(event("m1"))
    assert record_applied(alarm, event(None)) is alarm


def test_a_replay_forwards_the_alarm_unchanged() -> None:
    alarm = alarm_after(event("m1"), event("m2", state=3))
    change = replayed(alarm)
    assert change.alarm is alarm and change.forward and not change.modified
    assert change.to_event_field()["PreviousState"] == 3
