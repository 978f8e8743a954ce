"""What event-filter templates and copy paths read: the event and its entity under Canopsis' Go
field names (`.Event.Component`, `.Event.Entity.Infos.<name>.Value`) and the regexp groups a
rule's patterns captured (`.RegexMatch`), as plain dicts, all the template sandbox can read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engines.model.entity import Entity, EntityInfo
from engines.model.event import Event, SourceType, State

__all__ = ["GO_FIELDS", "event_view", "go_name", "regex_view"]

#: Go `types.Event` field names that actions may set → (JSON field, kind). Kinds coerce as Go's
#: `Event.SetField`: str takes strings only, int rounds floats, map merges string values.
GO_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "Connector": ("connector", "str"),
    "ConnectorName": ("connector_name", "str"),
    "EventType": ("event_type", "event_type"),
    "SourceType": ("source_type", "source_type"),
    "Component": ("component", "str"),
    "Resource": ("resource", "str"),
    "PerfData": ("perf_data", "str"),
    "Status": ("status", "int"),
    "State": ("state", "state"),
    "Output": ("output", "str"),
    "LongOutput": ("long_output", "str"),
    "AlarmID": ("aid", "str"),
    "Author": ("author", "str"),
    "UserID": ("user_id", "str"),
    "Role": ("role", "str"),
    "Timestamp": ("timestamp", "int"),
    "Duration": ("duration", "int"),
    "Debug": ("debug", "bool"),
    "Initiator": ("initiator", "str"),
    "Tags": ("tags", "map"),
    "Ticket": ("ticket", "str"),
    "TicketURL": ("ticket_url", "str"),
    "TicketComment": ("ticket_comment", "str"),
    "TicketSystemName": ("ticket_system_name", "str"),
    "TicketData": ("ticket_data", "map"),
    "TicketMetaAlarmID": ("ticket_meta_alarm_id", "str"),
    "TicketRuleID": ("ticket_rule_id", "str"),
    "TicketRuleName": ("ticket_rule_name", "str"),
}
_EVENT_REGEX: Final = {
    "connector": "Connector",
    "connector_name": "ConnectorName",
    "component": "Component",
    "resource": "Resource",
    "output": "Output",
    "long_output": "LongOutput",
    "event_type": "EventType",
    "source_type": "SourceType",
    "author": "Author",
    "initiator": "Initiator",
}
_ENTITY_REGEX: Final = {"_id": "ID", "name": "Name", "category": "Category", "type": "Type"}


def event_view(event: Event, entity: Entity | None) -> dict[str, Any]:
    zero = {"str": "", "int": 0, "state": 0, "source_type": "", "event_type": "", "bool": False, "map": {}}
    view: dict[str, Any] = {}
    for go_name, (attribute, kind) in GO_FIELDS.items():
        value = getattr(event, attribute)
        view[go_name] = zero[kind] if value is None else _plain(value)
    view["Status"] = event.status  # a pointer in Go: nil prints "<no value>"
    view["ExtraInfos"] = {**(event.model_extra or {}), **(event.extra or {})}
    view["Entity"] = None if entity is None else _entity_view(entity)
    return view


def _entity_view(entity: Entity) -> dict[str, Any]:
    def infos(items: Mapping[str, EntityInfo]) -> dict[str, Any]:
        return {k: {"Name": i.name, "Description": i.description, "Value": i.value} for k, i in items.items()}

    return {
        "ID": entity.id,
        "Name": entity.name,
        "Type": entity.type.value,
        "Enabled": entity.enabled,
        "Category": entity.category or "",
        "Component": entity.component or "",
        "Connector": entity.connector or "",
        "ImpactLevel": entity.impact_level,
        "Infos": infos(entity.infos),
        "ComponentInfos": infos(entity.component_infos),
    }


def regex_view(
    event_groups: Mapping[str, Mapping[str, str]], entity_groups: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """`.RegexMatch`: every field present (Go's nil maps), so a missing group is a missing key."""
    view: dict[str, Any] = {go: {} for go in _EVENT_REGEX.values()}
    view["ExtraInfos"] = {}
    on_entity: dict[str, Any] = {go: {} for go in _ENTITY_REGEX.values()}
    on_entity.update(Infos={}, ComponentInfos={})
    for groups, names, target, prefixes in (
        (event_groups, _EVENT_REGEX, view, {"extra.": "ExtraInfos"}),
        (entity_groups, _ENTITY_REGEX, on_entity, {"infos.": "Infos", "component_infos.": "ComponentInfos"}),
    ):
        for name, found in groups.items():
            if name in names:
                target[names[name]] = dict(found)
            for prefix, key in prefixes.items():
                if name.startswith(prefix):
                    target[key][name[len(prefix) :]] = dict(found)
    view["Entity"] = on_entity
    return view


_ALL_GO: Final = {attribute: go for go, (attribute, _) in GO_FIELDS.items()}


def go_name(attribute: str) -> str:
    return _ALL_GO.get(attribute, "".join(part.title() for part in attribute.split("_")))


def _plain(value: Any) -> Any:
    """Enums as their JSON value, so templates print 2 and "resource"."""
    if isinstance(value, State):
        return int(value)
    return value.value if isinstance(value, SourceType) else value
