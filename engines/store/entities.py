"""EntityStore: entities of `default_entities`, read once per batch and written in one bulk."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from typing import Any, Protocol

from pydantic import ValidationError
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from engines.model import Entity, Event
from engines.model.pbehavior_info import in_pbehavior as carries_pbehavior
from engines.store.bulk import bulk_write
from engines.store.collections import ENTITIES
from engines.store.paging import PAGE, pages
from framework import DUPLICATE_KEY, database_errors

__all__ = [
    "EntityStore",
    "EntityWrite",
    "MemoryEntityStore",
    "MongoEntityStore",
    "Saved",
    "entities_of",
    "entity_update",
]

#: (the entity as read, or None if it is new; the entity to store)
EntityWrite = tuple[Entity | None, Entity]
#: After a save, per entity id: the entity as stored, or None when it was to be created but
#: already existed (another instance created it first): the stored one must be read again.
Saved = dict[str, Entity | None]
#: Entities that carry a pbehavior: a `pbehavior_info` with a non-empty `id` (che records it).
IN_PBEHAVIOR: dict[str, Any] = {"pbehavior_info.id": {"$nin": [None, ""]}}


class EntityStore(Protocol):
    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        """The stored entities among `ids` (missing ids are absent from the result)."""

    def pages(self, in_pbehavior: bool = False) -> AsyncIterator[list[Entity]]:
        """Every entity, or those carrying a pbehavior (`pbehavior_info.id` set), a page at a time
        (engine-pbehavior's beat matches them against the pbehaviors in force)."""

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        """Create new entities and apply changed fields of existing ones, in one bulk write.

        Returns what is stored for each entity of `writes` (see `Saved`). Raises
        DatabaseUnavailable when the database does not answer.
        """

    async def setup(self) -> None:
        """Create indexes; idempotent."""


async def entities_of(store: EntityStore, wanted: Iterable[tuple[Event, str]]) -> dict[str, Entity]:
    """The entity of each (event, entity id): the one the event carries (`current_entity`, as che
    attached it), else the stored one, read in one query. A carried document that is not an
    entity is ignored; an entity neither carried nor stored is absent from the result."""
    found: dict[str, Entity] = {}
    missing: set[str] = set()
    for event, entity_id in wanted:
        if event.current_entity:
            try:
                found[entity_id] = Entity.model_validate(event.current_entity)
                continue
            except ValidationError:
                pass  # not a Canopsis entity: read the stored one
        missing.add(entity_id)
    missing -= found.keys()
    if missing:
        found.update(await store.find_many(missing))
    return found


def coalesce(writes: Sequence[EntityWrite]) -> list[EntityWrite]:
    """One write per entity: the first `before` seen and the last `after` (a batch touches a connector often)."""
    merged: dict[str, EntityWrite] = {}
    for before, after in writes:
        first = merged[after.id][0] if after.id in merged else before
        merged[after.id] = (first, after)
    return list(merged.values())


def entity_update(before: Entity, after: Entity, resolution: int = 0) -> dict[str, Any] | None:
    """The MongoDB update turning `before` into `after`, or None when nothing worth writing changed.

    `last_event_date` only moves forward ($max) whatever the write order, and alone it is written
    only once it moved by `resolution` seconds or more (see `CheOptions.last_event_date_resolution`).
    """
    doc = after.to_document()
    del doc["_id"]
    old = before.to_document()
    changed = {k: v for k, v in doc.items() if old.get(k) != v}
    removed = {k: "" for k in old if k not in doc and k != "_id"}
    if not removed and changed.keys() <= {"last_event_date"}:
        moved = (after.last_event_date or 0) - (before.last_event_date or 0)
        if not changed or moved < max(resolution, 1):
            return None
    update: dict[str, Any] = {}
    if "last_event_date" in changed:
        update["$max"] = {"last_event_date": changed.pop("last_event_date")}
    if changed:
        update["$set"] = changed
    if removed:
        update["$unset"] = removed
    return update


def stored_after(
    writes: Sequence[EntityWrite], resolution: int
) -> tuple[list[Entity], list[tuple[Entity, dict[str, Any]]], Saved]:
    """Split `writes` into entities to insert and updates of existing ones, and what is then stored.

    An entity whose changes are not worth writing (see `entity_update`) stays as it was read.
    """
    inserts: list[Entity] = []
    updates: list[tuple[Entity, dict[str, Any]]] = []
    saved: Saved = {}
    for before, after in coalesce(writes):
        if before is None:
            inserts.append(after)
            saved[after.id] = after
            continue
        update = entity_update(before, after, resolution)
        if update is not None:
            updates.append((after, update))
        saved[after.id] = before if update is None else after
    return inserts, updates, saved


class MongoEntityStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, last_event_date_resolution: int = 0) -> None:
        self.collection = db[ENTITIES]
        self.resolution = last_event_date_resolution

    def __repr__(self) -> str:
        return f"<MongoEntityStore {self.collection.full_name}>"

    async def setup(self) -> None:
        with database_errors():
            await self.collection.create_index("type")
            await self.collection.create_index("component")
            await self.collection.create_index("pbehavior_info.id")

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        if not ids:
            return {}
        with database_errors():
            docs = await self.collection.find({"_id": {"$in": list(ids)}}).to_list(None)
        return {doc["_id"]: Entity.model_validate(doc) for doc in docs}

    async def pages(self, in_pbehavior: bool = False) -> AsyncIterator[list[Entity]]:
        async for docs in pages(self.collection, IN_PBEHAVIOR if in_pbehavior else {}):
            yield [Entity.model_validate(doc) for doc in docs]

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        inserts, updates, saved = stored_after(writes, self.resolution)
        ops: list[Any] = [InsertOne(e.to_document()) for e in inserts]
        ops += [UpdateOne({"_id": e.id}, update) for e, update in updates]
        try:
            with database_errors():
                await bulk_write(self.collection, ops)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            saved.update((inserts[e["index"]].id, None) for e in errors)
        return saved


class MemoryEntityStore:
    """The same contract over a dict, for the embedded chain and fast tests."""

    def __init__(self, *, last_event_date_resolution: int = 0) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.resolution = last_event_date_resolution

    async def setup(self) -> None:
        return None

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        return {i: Entity.model_validate(self.documents[i]) for i in ids if i in self.documents}

    async def pages(self, in_pbehavior: bool = False) -> AsyncIterator[list[Entity]]:
        docs = [d for d in self.documents.values() if not in_pbehavior or carries_pbehavior(d.get("pbehavior_info"))]
        for start in range(0, len(docs), PAGE):
            yield [Entity.model_validate(copy.deepcopy(doc)) for doc in docs[start : start + PAGE]]

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        inserts, updates, saved = stored_after(writes, self.resolution)
        for entity in inserts:
            if entity.id in self.documents:
                saved[entity.id] = None
            else:
                self.documents[entity.id] = entity.to_document()
        for entity, update in updates:
            doc = self.documents.get(entity.id)
            if doc is None:
                continue  # deleted meanwhile: an update without upsert changes nothing, as in MongoDB
            for key, value in update.get("$max", {}).items():
                doc[key] = max(doc.get(key) or value, value)
            doc.update(copy.deepcopy(update.get("$set", {})))
            for key in update.get("$unset", {}):
                doc.pop(key, None)
        return saved
