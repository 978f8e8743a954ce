"""The entity document of `default_entities` (connector, component, resource, service)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Entity", "EntityInfo", "EntityType", "InfoValue"]

#: What Canopsis accepts as an entity info value.
InfoValue = str | int | float | bool | list[str] | None


class EntityType(StrEnum):
    CONNECTOR = "connector"
    COMPONENT = "component"
    RESOURCE = "resource"
    SERVICE = "service"


class EntityInfo(BaseModel):
    """One entry of `infos`: `{name, description, value}`, as Canopsis stores it."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    name: str
    description: str = ""
    value: InfoValue = None


class Entity(BaseModel):
    """An entity as stored in `default_entities`; unknown fields survive a read-modify-write.

    Times are unix seconds, as Canopsis stores them. `_id` is the entity id of
    reference §1.5 (`resource/component`, `component`, `connector/connector_name`).
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    name: str
    type: EntityType
    enabled: bool = True
    enable_history: list[int] = Field(default_factory=list)
    created: int
    updated: int | None = None
    last_event_date: int | None = None
    connector: str | None = None  # "<connector>/<connector_name>" for components and resources
    component: str | None = None  # the component id, for resources and components
    infos: dict[str, EntityInfo] = Field(default_factory=dict)
    component_infos: dict[str, EntityInfo] = Field(default_factory=dict)
    category: str | None = None
    impact_level: int = 1
    description: str = ""
    perf_data: list[str] = Field(default_factory=list)
    soft_deleted: int | None = None
    pbehavior_info: dict[str, Any] | None = None

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document (and the `current_entity` an event carries)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def info_values(self) -> dict[str, InfoValue]:
        """`infos` as name → value: what entity patterns match `infos.<name>` against."""
        return {name: info.value for name, info in self.infos.items()}
