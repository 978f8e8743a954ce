"""The alarm and entity as scenario templates see them: Canopsis' Go field names over plain dicts.

Canopsis renders webhook URLs, headers and payloads, and action outputs and authors, with Go
templates over its Go structs, so templates read `.Alarm.Value.Resource`, not `.Alarm.v.resource`.
`template_data` builds that shape from our documents, for the sandboxed renderer of
`engines.model.template` (which only looks keys up in mappings). The subset mapped:

* `.Alarm`: `ID`, `EntityID`, `Time`, `Tags`, and `.Alarm.Value`: `Component`, `Resource`,
  `Connector`, `ConnectorName`, `DisplayName`, `Output`, `LongOutput`, `InitialOutput`,
  `InitialLongOutput`, `CreationDate`, `ActivationDate`, `LastUpdateDate`, `LastEventDate`,
  `Resolved`, `EventsCount`, `TotalStateChanges`, `Tickets`; steps `State`, `Status`, `Ack`,
  `Canceled`, `Snooze`, `ChangeState`, `Ticket`, `LastComment` (each `Type`, `Timestamp`,
  `Author`, `UserID`, `Message`, `Role`, `Value`, `Initiator`, and the ticket fields `Ticket`,
  `TicketURL`, `TicketSystemName`, `TicketComment`, `TicketRuleID`, `TicketRuleName`,
  `TicketData`; null when the alarm has no such step); `PbehaviorInfo` (`ID`, `Name`, `Reason`,
  `ReasonName`, `TypeID`, `TypeName`, `CanonicalType`).
* `.Entity`: `ID`, `Name`, `Type`, `Category`, `Connector`, `Component`, `ImpactLevel`,
  `Enabled`, `LastEventDate`, `Infos.<name>.{Name, Description, Value}`, `ComponentInfos`.
* `.AdditionalData`: `AlarmChangeType`, `Trigger`, `Author`, `User`, `Initiator`, `Output` of
  the event that triggered the scenario.
* `.Response`, `.ResponseMap`, `.Header`: what earlier webhooks of the same execution answered
  (Canopsis merges response objects into `Response` and keys them `<n>.<key>` in `ResponseMap`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engines.model.alarm import Alarm, Step
from engines.model.entity import Entity, EntityInfo

__all__ = ["ADDITIONAL_DATA_KEYS", "template_data"]

ADDITIONAL_DATA_KEYS: Final = ("AlarmChangeType", "Trigger", "Author", "User", "Initiator", "Output")

_STEP_FIELDS: Final = {
    "Type": "type",
    "Timestamp": "timestamp",
    "Author": "author",
    "UserID": "user_id",
    "Message": "message",
    "Role": "role",
    "Value": "value",
    "Initiator": "initiator",
    "Ticket": "ticket",
    "TicketURL": "ticket_url",
    "TicketSystemName": "ticket_system_name",
    "TicketComment": "ticket_comment",
    "TicketRuleID": "ticket_rule_id",
    "TicketRuleName": "ticket_rule_name",
    "TicketData": "ticket_data",
}
_PBEHAVIOR_FIELDS: Final = {
    "ID": "id",
    "Name": "name",
    "Reason": "reason",
    "ReasonName": "reason_name",
    "TypeID": "type",
    "TypeName": "type_name",
    "CanonicalType": "canonical_type",
}


def template_data(
    alarm: Alarm,
    entity: Entity | None,
    *,
    additional: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    response_map: Mapping[str, Any] | None = None,
    header: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The data a scenario template is rendered over (see the module docstring)."""
    extra = additional or {}
    return {
        "Alarm": _alarm(alarm),
        "Entity": _entity(entity) if entity is not None else None,
        "AdditionalData": {key: extra.get(key, "") for key in ADDITIONAL_DATA_KEYS},
        "Response": dict(response or {}),
        "ResponseMap": dict(response_map or {}),
        "Header": dict(header or {}),
    }


def _step(step: Step | None) -> dict[str, object] | None:
    if step is None:
        return None
    return {name: getattr(step, attribute) for name, attribute in _STEP_FIELDS.items()}


def _alarm(alarm: Alarm) -> dict[str, object]:
    v = alarm.value
    info = v.pbehavior_info or {}
    return {
        "ID": alarm.id,
        "EntityID": alarm.entity_id,
        "Time": alarm.time,
        "Tags": list(alarm.tags),
        "Value": {
            "Component": v.component,
            "Resource": v.resource,
            "Connector": v.connector,
            "ConnectorName": v.connector_name,
            "DisplayName": v.display_name,
            "Output": v.output,
            "LongOutput": v.long_output,
            "InitialOutput": v.initial_output,
            "InitialLongOutput": v.initial_long_output,
            "CreationDate": v.creation_date,
            "ActivationDate": v.activation_date,
            "LastUpdateDate": v.last_update_date,
            "LastEventDate": v.last_event_date,
            "Resolved": v.resolved,
            "EventsCount": v.events_count,
            "TotalStateChanges": v.total_state_changes,
            "State": _step(v.state),
            "Status": _step(v.status),
            "Ack": _step(v.ack),
            "Canceled": _step(v.canceled),
            "Snooze": _step(v.snooze),
            "ChangeState": _step(v.change_state),
            "Ticket": _step(v.ticket),
            "LastComment": _step(v.last_comment),
            "Tickets": [_step(t) for t in v.tickets],
            "PbehaviorInfo": {name: info.get(key, "") for name, key in _PBEHAVIOR_FIELDS.items()},
        },
    }


def _infos(infos: Mapping[str, EntityInfo]) -> dict[str, object]:
    return {
        name: {"Name": info.name, "Description": info.description, "Value": info.value} for name, info in infos.items()
    }


def _entity(entity: Entity) -> dict[str, object]:
    return {
        "ID": entity.id,
        "Name": entity.name,
        "Type": entity.type.value,
        "Category": entity.category,
        "Connector": entity.connector,
        "Component": entity.component,
        "ImpactLevel": entity.impact_level,
        "Enabled": entity.enabled,
        "LastEventDate": entity.last_event_date,
        "Infos": _infos(entity.infos),
        "ComponentInfos": _infos(entity.component_infos),
    }
