"""alarm_update: an alarm change written as what changed, not as the whole document."""

from __future__ import annotations

import uuid

from engines.axe.lifecycle import apply_event
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.model.alarm import Alarm
from engines.store.alarms import alarm_update

NOW = 1_764_000_000


def step(alarm: Alarm | None, event_type: str = "check", **fields: object) -> Alarm:
    entity = Entity.model_validate(
        {
            "_id": "disk/web01",
            "name": "disk",
            "type": "resource",
            "created": NOW,
            "component": "web01",
            "connector": "nagios/paris",
        }
    )
    event = Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": event_type,
            "source_type": "resource",
            "component": "web01",
            "resource": "disk",
            "timestamp": NOW,
            **fields,
        },
        context={"now": NOW},
    )
    change = apply_event(alarm, event, entity, Rules(), NOW, str(uuid.uuid4()))
    assert change.alarm is not None
    return change.alarm


def test_new_steps_are_pushed_and_changed_fields_set() -> None:
    before = step(None, state=2)
    after = step(before, state=3, output="worse")
    update = alarm_update(before, after)
    assert update is not None
    assert [s["_t"] for s in update["$push"]["v.steps"]["$each"]] == ["stateinc"]
    assert update["$set"]["v.state"]["val"] == 3 and update["$set"]["v.output"] == "worse"
    assert "v.steps" not in update["$set"] and "v.creation_date" not in update["$set"]


def test_a_field_gone_is_unset_and_nothing_changed_is_an_empty_update() -> None:
    acked = step(step(None, state=2), "ack", initiator="user", author="a")
    unacked = step(acked, "ackremove", initiator="user", author="a")
    update = alarm_update(acked, unacked)
    assert update is not None and update["$unset"] == {"v.ack": ""}
    assert alarm_update(unacked, unacked) == {}


def test_steps_that_are_not_the_old_ones_followed_by_new_ones_need_a_replace() -> None:
    before = step(step(None, state=2), state=3)
    rewritten = before.model_copy(update={"value": before.value.model_copy(update={"steps": before.value.steps[:1]})})
    assert alarm_update(before, rewritten) is None
