"""What an action does: the event performing an alarm action, the document of a pbehavior action.

Pure: models and `now` in, an event or a document out. Canopsis HEAD `GO/lib/canopsis/action/`
(worker pool); reference §6.3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engines.action.scenarios import ALARM_ACTION_TYPES, Action, Scenario
from engines.action.view import template_data
from engines.model.address import SYSTEM_CONNECTOR, event_address
from engines.model.alarm import Alarm
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.template import render

__all__ = ["EXECUTION_KEY", "alarm_action_event", "pbehavior_document"]

#: axe forwards them back: their change triggers scenarios only when the action says `emit_trigger`.
EXECUTION_KEY: Final = "scenario_execution"
#: Canopsis `RuleNameScenarioPrefix`: outputs and ticket rule names of scenario actions start so.
SCENARIO_PREFIX: Final = "Scenario: "
#: Canopsis `PbehaviorOrigin` for pbehaviors created by a scenario.
PBEHAVIOR_ORIGIN: Final = "scenario"


def _author(action: Action, data: Mapping[str, Any], view: Mapping[str, object]) -> str:
    """Canopsis `resolveAuthor`: the triggering event's author with `forward_author`, else the
    rendered `author` parameter, else "system"."""
    params = action.parameters
    if params.forward_author:
        return str(data.get("Author") or SYSTEM_AUTHOR)
    return render(params.author, view) if params.author else SYSTEM_AUTHOR


def _output(action: Action, scenario: Scenario | None, view: Mapping[str, object]) -> str:
    """ "Scenario: <name>. Comment: <output>." as Canopsis writes it; the output is a template."""
    comment = render(action.parameters.output, view) if action.parameters.output else ""
    if scenario is None:
        return comment
    return f"{SCENARIO_PREFIX}{scenario.name}" + (f". Comment: {comment}." if comment else "")


def alarm_action_event(
    action: Action,
    alarm: Alarm,
    entity: Entity | None,
    now: float,
    *,
    scenario: Scenario | None = None,
    data: Mapping[str, Any] | None = None,
    ticket: Mapping[str, Any] | None = None,
    execution: Mapping[str, Any] | None = None,
) -> Event:
    """The event that performs an alarm action (ACTION_TYPES but pbehavior and webhook).

    A system event (`initiator` "system", `timestamp` now) of the action's type aimed at the
    alarm's entity (`event_address`): connector, connector_name, component and resource from the
    alarm's `v` (connector "system" when it has none), `source_type` from the entity type;
    `author` per `_author`; `output` "Scenario: <name>. Comment: <output>." (the output parameter
    alone without `scenario`); `state` for changestate, `duration` in seconds for snooze, the
    ticket fields for assocticket (`ticket` overrides the parameters' ticket, ticket_url and
    ticket_data, e.g. with what a webhook answered).
    `data` is the triggering event's additional data (`Author` for forward_author); `execution`
    is written under EXECUTION_KEY.

    Raises TemplateError when the output or author template fails, ValueError for a pbehavior or
    webhook action.
    """
    if action.type not in ALARM_ACTION_TYPES:
        raise ValueError(f"a {action.type} action is not performed by an event")
    data = data or {}
    view = template_data(alarm, entity, additional=data)
    params = action.parameters
    address = event_address(entity, SYSTEM_CONNECTOR, keep_entity_connector=False, recorded=alarm.value)
    fields: dict[str, Any] = {
        **address.fields(),
        "event_type": action.type,
        "author": _author(action, data, view),
        "initiator": Initiator.SYSTEM,
        "output": _output(action, scenario, view),
        "timestamp": int(now),
    }
    if action.type == "changestate":
        fields["state"] = params.state
    elif action.type == "snooze":
        assert params.duration is not None, "validated with the action"
        fields["duration"] = params.duration.seconds(now)
    elif action.type == "assocticket":
        given = dict(ticket or {})
        fields.update(
            ticket=given.get("ticket", params.ticket),
            ticket_url=given.get("ticket_url", params.ticket_url) or None,
            ticket_system_name=params.ticket_system_name or None,
            ticket_data=given.get("ticket_data", params.ticket_data) or None,
            ticket_comment=action.comment or None,
            ticket_rule_id=scenario.id if scenario else None,
            ticket_rule_name=f"{SCENARIO_PREFIX}{scenario.name}" if scenario else None,
        )
    if execution is not None:
        fields[EXECUTION_KEY] = dict(execution)
    return Event.model_validate({k: f for k, f in fields.items() if f is not None}, context={"now": now})


def pbehavior_document(
    action: Action,
    alarm: Alarm,
    entity: Entity | None,
    now: float,
    *,
    pbehavior_id: str,
    scenario: Scenario | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `pbehavior` document a pbehavior action inserts, for the pbehavior engine's next beat.

    Targets the alarm's entity with an entity pattern `_id eq <entity id>`. With
    `start_on_trigger` (or without `tstart`) it runs from `now` for `duration`; otherwise from
    the `tstart` to the `tstop` parameters. `type_` and `reason` are the ids of a pbehavior type
    and reason, as Canopsis stores them. Raises TemplateError when the author template fails.
    """
    if action.type != "pbehavior":
        raise ValueError(f"a {action.type} action does not create a pbehavior")
    params = action.parameters
    view = template_data(alarm, entity, additional=data or {})
    start_now = params.start_on_trigger or params.tstart is None
    if start_now:
        tstart = int(now)
        tstop = tstart + params.duration.seconds(now) if params.duration is not None else params.tstop
    else:
        tstart, tstop = int(params.tstart or now), params.tstop
    document: dict[str, Any] = {
        "_id": pbehavior_id,
        "name": params.name,
        "author": _author(action, data or {}, view),
        "enabled": True,
        "type_": params.type,
        "reason": params.reason,
        "tstart": tstart,
        "rrule": params.rrule,
        "color": params.color,
        "comments": [],
        "exdates": [],
        "exceptions": [],
        "entity_pattern": [[{"field": "_id", "cond": {"type": "eq", "value": alarm.entity_id}}]],
        "origin": PBEHAVIOR_ORIGIN,
        "created": int(now),
        "updated": int(now),
    }
    if tstop is not None:
        document["tstop"] = int(tstop)
    if scenario is not None:
        document["scenario"] = scenario.id
    return document
