"""The event address of an entity: the fields that make che and axe find it (reference §1.5).

Engines that send events about an entity (axe's beat, engine-pbehavior, action's scenarios,
cps-alarms) all derive `connector`, `connector_name`, `component`, `resource` and `source_type`
here, with Canopsis' rules (`libevent.Generator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from engines.model.alarm import AlarmValue
from engines.model.entity import Entity, EntityType
from engines.model.event import SourceType

__all__ = ["SYSTEM_CONNECTOR", "EventAddress", "entity_connector", "event_address"]

#: Connector and connector_name of what engines send or open about an entity when nothing gives
#: one: an alarm opened by an engine's event on an entity without connector records it.
SYSTEM_CONNECTOR: Final = "system"


@dataclass(frozen=True)
class EventAddress:
    """Where an event goes: an `Event`'s identity fields; `fields()` gives them to build one."""

    connector: str
    connector_name: str
    source_type: SourceType
    component: str | None = None
    resource: str | None = None

    def fields(self) -> dict[str, Any]:
        """The event fields: component and resource left out when empty."""
        fields: dict[str, Any] = {
            "connector": self.connector,
            "connector_name": self.connector_name,
            "source_type": self.source_type.value,
        }
        if self.component:
            fields["component"] = self.component
        if self.resource:
            fields["resource"] = self.resource
        return fields


def entity_connector(entity: Entity) -> tuple[str, str] | None:
    """The (connector, connector_name) a component or resource was created by: its `connector`
    "<connector>/<connector_name>" split at the first "/"; None when it has none."""
    if not entity.connector:
        return None
    connector, _, name = entity.connector.partition("/")
    return connector, name


def event_address(
    entity: Entity | None,
    default_connector: str,
    *,
    keep_entity_connector: bool = True,
    recorded: AlarmValue | None = None,
) -> EventAddress:
    """The address of an event about `entity`, from its type (Canopsis `libevent.Generator`).

    A connector entity is named by its id ("<connector>/<name>": connector = the id without
    "/<name>", connector_name = its name); a component gives component = its name; a resource
    component = its `component` and resource = its name; a service component = its id.
    Components and resources keep the connector they were created by (`entity_connector`) when
    `keep_entity_connector`; other entities, and services, get `default_connector` as both
    connector and connector_name (axe "axe", engine-pbehavior "pbehavior").

    `recorded` is what an alarm holds of the events that made it (`v.connector`,
    `v.connector_name`, `v.component`, `v.resource`): each non-empty one wins over what the
    entity gives. `source_type` is the entity's type; without an entity, "resource" when there
    is a resource, else "component" when there is a component, else "connector".

    The callers: axe's beat `event_address(entity, "axe")`; engine-pbehavior
    `event_address(entity, "pbehavior", keep_entity_connector=False)`; action's scenarios
    `event_address(entity, SYSTEM_CONNECTOR, keep_entity_connector=False, recorded=alarm.value)`.
    """
    connector = connector_name = default_connector
    component = resource = None
    if entity is not None:
        if keep_entity_connector and entity.type in (EntityType.COMPONENT, EntityType.RESOURCE):
            connector, connector_name = entity_connector(entity) or (connector, connector_name)
        match entity.type:
            case EntityType.CONNECTOR:
                connector, connector_name = entity.id.removesuffix("/" + entity.name), entity.name
            case EntityType.COMPONENT:
                component = entity.name
            case EntityType.RESOURCE:
                component, resource = entity.component, entity.name
            case EntityType.SERVICE:
                component = entity.id
    if recorded is not None:
        connector = recorded.connector or connector
        connector_name = recorded.connector_name or connector_name
        component = recorded.component or component
        resource = recorded.resource or resource
    if entity is not None:
        source_type = SourceType(entity.type.value)
    else:
        source_type = SourceType.RESOURCE if resource else SourceType.COMPONENT if component else SourceType.CONNECTOR
    return EventAddress(connector, connector_name, source_type, component, resource)
