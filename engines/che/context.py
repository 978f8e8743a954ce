"""che's entity-context step as pure code: which entities an event needs and how it changes them.

Reference §4.2 step 3 (Canopsis `contextgraph.Manager.Handle*`), plus the output truncation of
step 1. The engine reads `entity_ids(event).load` in one batch, calls `apply_context`, writes
`upserts` and attaches `entity` to the event as `current_entity`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engines.model.entity import Entity, EntityInfo, EntityType
from engines.model.event import Event, Initiator, SourceType
from engines.model.pbehavior_info import PbhInfo

__all__ = [
    "LONG_OUTPUT_LENGTH",
    "OUTPUT_LENGTH",
    "PBH_EVENT_TYPES",
    "ContextResult",
    "EntityIds",
    "apply_context",
    "entity_ids",
    "record_pbehavior",
    "truncate_outputs",
]

#: Canopsis `[Canopsis.alarm] OutputLength` and `LongOutputLength` defaults, in characters.
OUTPUT_LENGTH: Final = 255
LONG_OUTPUT_LENGTH: Final = 1024

_CHECK: Final = "check"
#: The events of engine-pbehavior; che records their `pbehavior_info` on the entity.
PBH_EVENT_TYPES: Final = frozenset({"pbhenter", "pbhleave", "pbhleaveandenter"})
_MISSING_HINT: Final[dict[SourceType, str]] = {
    SourceType.RESOURCE: "only a check event creates it",
    SourceType.COMPONENT: "only a check event not sent by an engine creates it",
    SourceType.CONNECTOR: "connectors are created by resource and component check events",
    SourceType.SERVICE: "services are created through the API",
}


@dataclass(frozen=True, slots=True)
class EntityIds:
    """The entities an event is about (reference §1.5) and the ids che must read for it.

    `own` is the entity attached to the event, chosen by `source_type` as Canopsis' processors
    do: `resource/component`, `component` (also a service id), `connector/connector_name`, or
    None for a metaalarm event. It can differ from `Event.entity_id` (the lock key), which only
    looks at which fields are filled. `load` holds, without duplicates, every id to read in one
    batch: own, component and connector for an event that creates entities, only own otherwise.
    """

    own: str | None
    connector: str
    component: str | None
    resource: str | None
    load: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContextResult:
    """What the context step decided for one event.

    `entity` is the event's own entity after the step (None for metaalarm events and on error).
    `upserts` are whole entity documents to write, parents first (connector, component, then
    the resource): the new ones and the ones whose `last_event_date` or `connector` changed.
    `created` and `repointed` name the ids that were inserted or got a new connector.
    `error` says why the event must be dropped (its entity does not exist); nothing is written.
    """

    entity: Entity | None = None
    upserts: tuple[Entity, ...] = ()
    created: tuple[str, ...] = ()
    repointed: tuple[str, ...] = ()
    error: str | None = None

    @property
    def changed(self) -> bool:
        """An entity was created or repointed: service membership must be recomputed (step 5)."""
        return bool(self.created or self.repointed)


def entity_ids(event: Event) -> EntityIds:
    """The ids `apply_context` needs from storage for `event`; see `EntityIds`."""
    connector = f"{event.connector}/{event.connector_name}"
    component: str | None = None
    resource: str | None = None
    own: str | None
    if event.source_type is SourceType.RESOURCE:
        component = event.component
        resource = own = f"{event.resource}/{event.component}"
    elif event.source_type is SourceType.COMPONENT:
        component = own = event.component
    elif event.source_type is SourceType.SERVICE:
        own = event.component
    elif event.source_type is SourceType.CONNECTOR:
        own = connector
    else:  # metaalarm: Canopsis passes it through without an entity
        own = None
    wanted = (own, component, connector) if _creates_entities(event) else (own,)
    load = tuple(dict.fromkeys(i for i in wanted if i))
    return EntityIds(own=own, connector=connector, component=component, resource=resource, load=load)


def apply_context(event: Event, known: Mapping[str, Entity], now: int) -> ContextResult:
    """Create or touch the entities of `event`, given the stored ones among `entity_ids(event)`.

    `known` maps id → stored entity (ids absent from it do not exist); it is never mutated.
    `now` is unix seconds. Rules (reference §4.2 step 3):

    * A `check` event about a resource, or a component when not sent by an engine
      (`initiator` "system"), creates every missing entity among connector (name =
      connector_name), component (its own `component`, and `connector`) and the event's own
      entity (a new resource copies its component's `infos` into `component_infos`), and bumps
      `last_event_date` of the connector and of the own entity. A new entity is enabled,
      `enable_history=[now]`, `created=last_event_date=now`, `infos={}`, `impact_level=1`.
      An existing own entity whose `connector` is not the event's is repointed to it. An existing
      component is not touched by resource events (as in Canopsis).
    * If the own entity is soft-deleted it is attached as stored and nothing is written;
      a soft-deleted connector is not bumped either.
    * Connector and service events never create: a missing entity is an error; a `check` bumps
      its `last_event_date` unless soft-deleted.
    * Every other event only loads its own entity, which must exist. A pbehavior event
      (`PBH_EVENT_TYPES`) also records on it what engine-pbehavior decided, so its next beat
      compares against that: see `record_pbehavior`.
    * `updated` is never set: it records edits made through the API, not event traffic.
      `enabled` is carried through: disabled entities are bumped and attached like the others.

    Deliberate differences from Canopsis HEAD (contextgraph/manager.go), all on rare paths:
    a parent found missing while the own entity exists is created (HEAD creates parents only
    with a new own entity); the own entity is repointed even when the new connector already
    exists (HEAD then keeps the old `connector`); soft-deleted connectors are never bumped; a
    non-check `metaalarm` event type on a resource or component only loads (HEAD may create
    entities without `last_event_date` for it).
    """
    ids = entity_ids(event)
    if ids.own is None:
        return ContextResult()
    stored = known.get(ids.own)
    if not _creates_entities(event):
        if stored is None:
            hint = _MISSING_HINT[event.source_type]
            if event.source_type is SourceType.COMPONENT and event.event_type == _CHECK:
                hint = "component events sent by engines (initiator system) never create it"
            return ContextResult(error=f"{event.source_type} {ids.own} does not exist ({hint})")
        touches = event.event_type == _CHECK and event.source_type in (
            SourceType.CONNECTOR,
            SourceType.SERVICE,
        )
        if touches and stored.soft_deleted is None:
            bumped = stored.model_copy(update={"last_event_date": now})
            return ContextResult(entity=bumped, upserts=(bumped,))
        if event.event_type in PBH_EVENT_TYPES and stored.soft_deleted is None:
            recorded = record_pbehavior(stored, event)
            if recorded is not None:
                return ContextResult(entity=recorded, upserts=(recorded,))
        return ContextResult(entity=stored)
    if stored is not None and stored.soft_deleted is not None:
        return ContextResult(entity=stored)
    return _build(event, ids, ids.own, known, now)


def record_pbehavior(entity: Entity, event: Event) -> Entity | None:
    """`entity` with the `pbehavior_info` a pbehavior event sets, or None when it changes nothing.

    pbhenter sets the event's `pbehavior_info` (and `last_pbehavior_date`, its timestamp) on an
    entity without one; pbhleave (which carries none) removes it from an entity that has one;
    pbhleaveandenter replaces one by another (a different pbehavior id or type id). Other cases
    are stale or repeated events (a beat ran again before the previous event got here): nothing
    changes, as Canopsis' guarded updates do. An object without `id` counts as no pbehavior.
    Disabled entities record it too (axe then leaves their alarm alone), else every beat would
    send the same event again.
    """
    before, after = PbhInfo.read(entity.pbehavior_info), PbhInfo.read(event.pbehavior_info)
    update: dict[str, Any]
    match event.event_type:
        case "pbhleave" if before is not None and after is None:
            update = {"pbehavior_info": None}
        case "pbhenter" if before is None and after is not None:
            update = {"pbehavior_info": event.pbehavior_info, "last_pbehavior_date": after.timestamp}
        case "pbhleaveandenter" if before is not None and after is not None and not before.same_as(after):
            update = {"pbehavior_info": event.pbehavior_info, "last_pbehavior_date": after.timestamp}
        case _:
            return None
    return Entity.model_validate({**entity.to_document(), **update})


def truncate_outputs(
    event: Event,
    *,
    output_length: int = OUTPUT_LENGTH,
    long_output_length: int = LONG_OUTPUT_LENGTH,
) -> Event:
    """`event` with `output` and `long_output` cut to at most that many characters.

    Only external events (`initiator` "external") are cut, as che does. Lengths count Unicode
    code points, like Go's `%.255s` in Canopsis `utils.TruncateString`, never bytes, so a
    multi-byte character is never split. A length below 1 means "no limit", as there. Returns
    `event` itself when nothing is cut, else a copy.
    """
    if event.initiator != Initiator.EXTERNAL:
        return event
    update: dict[str, str] = {}
    for name, limit in (("output", output_length), ("long_output", long_output_length)):
        text = getattr(event, name)
        if limit >= 1 and isinstance(text, str) and len(text) > limit:
            update[name] = text[:limit]
    return event.model_copy(update=update) if update else event


def _creates_entities(event: Event) -> bool:
    if event.event_type != _CHECK:
        return False
    if event.source_type is SourceType.RESOURCE:
        return True
    return event.source_type is SourceType.COMPONENT and event.initiator != Initiator.SYSTEM


def _build(event: Event, ids: EntityIds, own_id: str, known: Mapping[str, Entity], now: int) -> ContextResult:
    """The create-or-bump path of a contextable resource or component event."""
    upserts: list[Entity] = []
    created: list[str] = []
    connector = known.get(ids.connector)
    if connector is None:
        connector = _new(ids.connector, event.connector_name, EntityType.CONNECTOR, now)
        created.append(connector.id)
        upserts.append(connector)
    elif connector.soft_deleted is None:
        upserts.append(connector.model_copy(update={"last_event_date": now}))

    parent_infos: dict[str, EntityInfo] = {}
    if ids.resource is not None and ids.component is not None:
        component = known.get(ids.component)
        if component is None:
            component = _new(
                ids.component,
                ids.component,
                EntityType.COMPONENT,
                now,
                connector=ids.connector,
                component=ids.component,
            )
            created.append(component.id)
            upserts.append(component)
        parent_infos = component.infos

    stored = known.get(own_id)
    repointed: tuple[str, ...] = ()
    if stored is None:
        if ids.resource is not None:
            own = _new(
                own_id,
                event.resource or "",
                EntityType.RESOURCE,
                now,
                connector=ids.connector,
                component=ids.component,
                component_infos={k: v.model_copy(deep=True) for k, v in parent_infos.items()},
            )
        else:
            own = _new(own_id, own_id, EntityType.COMPONENT, now, connector=ids.connector, component=own_id)
        created.append(own_id)
    else:
        update: dict[str, Any] = {"last_event_date": now}
        if stored.connector != ids.connector:
            update["connector"] = ids.connector
            repointed = (own_id,)
        own = stored.model_copy(update=update)
    upserts.append(own)
    return ContextResult(entity=own, upserts=tuple(upserts), created=tuple(created), repointed=repointed)


def _new(entity_id: str, name: str, kind: EntityType, now: int, **fields: Any) -> Entity:
    """A new entity as Canopsis inserts it from an event."""
    document: dict[str, Any] = {
        "_id": entity_id,
        "name": name,
        "type": kind,
        "enabled": True,
        "enable_history": [now],
        "created": now,
        "last_event_date": now,
        "infos": {},
        "impact_level": 1,
        **fields,
    }
    return Entity.model_validate(document)
