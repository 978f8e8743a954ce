"""Alarms, entities and scenarios for the action tests, built the way axe and che build them."""

from __future__ import annotations

from typing import Any

from engines.action.scenarios import Scenario
from engines.axe.lifecycle import apply_event
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.model.alarm import Alarm, AlarmChange

NOW = 1_764_000_000


def entity(resource: str = "disk", *, kind: str = "resource", **fields: Any) -> Entity:
    if kind == "resource":
        doc = {
            "_id": f"{resource}/web01",
            "name": resource,
            "type": "resource",
            "component": "web01",
            "connector": "nagios/paris",
        }
    elif kind == "component":
        doc = {"_id": "web01", "name": "web01", "type": "component", "component": "web01", "connector": "nagios/paris"}
    else:
        doc = {"_id": "nagios/paris", "name": "paris", "type": "connector"}
    return Entity.model_validate({**doc, "created": NOW, **fields})


def event(ent: Entity, event_type: str = "check", **fields: Any) -> Event:
    identity: dict[str, Any] = {"connector": "nagios", "connector_name": "paris", "source_type": ent.type.value}
    if ent.type.value == "resource":
        identity.update(component="web01", resource=ent.name)
    elif ent.type.value == "component":
        identity.update(component="web01")
    return Event.model_validate(
        {**identity, "event_type": event_type, "timestamp": NOW, **fields}, context={"now": NOW}
    )


def change(
    ent: Entity | None = None,
    state: int = 2,
    *,
    alarm: Alarm | None = None,
    event_type: str = "check",
    now: int = NOW,
    **fields: Any,
) -> AlarmChange:
    """What axe does with one event on `ent` (a new alarm from a check by default)."""
    ent = ent or entity()
    if event_type == "check":
        fields.setdefault("state", state)
        fields.setdefault("output", "disk 95%")
    result = apply_event(alarm, event(ent, event_type, **fields), ent, Rules(), now, f"alarm-{ent.name}")
    assert result.alarm is not None, "the event changed nothing"
    return result


def alarm(ent: Entity | None = None, state: int = 2, **value: Any) -> Alarm:
    """An open alarm on `ent`; `value` overrides fields of `v` (pbehavior_info, …)."""
    created = change(ent, state).alarm
    assert created is not None
    if value:
        return created.model_copy(update={"value": created.value.model_copy(update=value)})
    return created


def forwarded(ent: Entity, result: AlarmChange, event_type: str = "check", **fields: Any) -> Event:
    """The event as axe forwards it to engine-action."""
    assert result.alarm is not None
    base = event(ent, event_type, **fields)
    return base.model_copy(
        update={
            "current_entity": ent.to_document(),
            "current_alarm": result.alarm.to_document(),
            "alarm_change": result.to_event_field(),
        }
    )


def scenario(actions: list[dict[str, Any]] | None = None, **fields: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "_id": fields.pop("_id", "s1"),
            "name": fields.pop("name", "auto-ack"),
            "triggers": ["create"],
            "actions": actions or [ack_action()],
            **fields,
        }
    )


def any_alarm() -> list[list[dict[str, Any]]]:
    return [[{"field": "v.state.val", "cond": {"type": "gt", "value": 0}}]]


def ack_action(**fields: Any) -> dict[str, Any]:
    return {"type": "ack", "alarm_pattern": any_alarm(), "parameters": {"output": "auto"}, **fields}
