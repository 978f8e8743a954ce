"""EntityStore: entities of `default_entities`, read once per batch and written in one bulk."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from engines.model import Entity
from engines.store.bulk import bulk_write
from engines.store.collections import ENTITIES
from framework.services import database_errors

__all__ = ["EntityStore", "MongoEntityStore", "MemoryEntityStore", "EntityWrite", "entity_update"]

#: (the entity as read, or None if it is new; the entity to store)
EntityWrite = tuple[Entity | None, Entity]
#: Entities that carry a pbehavior: a `pbehavior_info` with a non-empty `id` (che records it).
IN_PBEHAVIOR: dict[str, Any] = {"pbehavior_info.id": {"$nin": [None, ""]}}


class EntityStore(Protocol):
    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        """The stored entities among `ids` (missing ids are absent from the result)."""

    async def find_all(self) -> list[Entity]:
        """Every entity; engine-pbehavior's beat matches them against the pbehaviors in force."""

    async def find_in_pbehavior(self) -> list[Entity]:
        """The entities carrying a pbehavior (`pbehavior_info.id` set)."""

    async def save_all(self, writes: Sequence[EntityWrite]) -> None:
        """Create new entities and apply changed fields of existing ones, in one round trip.

        Raises DatabaseUnavailable when the database does not answer.
        """

    async def setup(self) -> None:
        """Create indexes; idempotent."""


def coalesce(writes: Sequence[EntityWrite]) -> list[EntityWrite]:
    """One write per entity: the first `before` seen and the last `after` (a batch touches a connector often)."""
    merged: dict[str, EntityWrite] = {}
    for before, after in writes:
        first = merged[after.id][0] if after.id in merged else before
        merged[after.id] = (first, after)
    return list(merged.values())


def entity_update(before: Entity | None, after: Entity) -> dict[str, Any] | None:
    """The MongoDB update turning `before` into `after`, or None when nothing changed.

    A new entity is inserted only if still absent ($setOnInsert), so two instances creating the
    same connector agree; `last_event_date` only moves forward ($max) whatever the write order.
    """
    doc = after.to_document()
    del doc["_id"]
    if before is None:
        return {"$setOnInsert": doc}
    old = before.to_document()
    changed = {k: v for k, v in doc.items() if old.get(k) != v}
    removed = {k: "" for k in old if k not in doc and k != "_id"}
    if not changed and not removed:
        return None
    update: dict[str, Any] = {}
    if "last_event_date" in changed:
        update["$max"] = {"last_event_date": changed.pop("last_event_date")}
    if changed:
        update["$set"] = changed
    if removed:
        update["$unset"] = removed
    return update


class MongoEntityStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[ENTITIES]

    def __repr__(self) -> str:
        return f"<MongoEntityStore {self.collection.full_name}>"

    async def setup(self) -> None:
        with database_errors():
            await self.collection.create_index("type")
            await self.collection.create_index("component")

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        if not ids:
            return {}
        with database_errors():
            docs = await self.collection.find({"_id": {"$in": list(ids)}}).to_list(None)
        return {doc["_id"]: Entity.model_validate(doc) for doc in docs}

    async def find_all(self) -> list[Entity]:
        with database_errors():
            docs = await self.collection.find({}).to_list(None)
        return [Entity.model_validate(doc) for doc in docs]

    async def find_in_pbehavior(self) -> list[Entity]:
        with database_errors():
            docs = await self.collection.find(IN_PBEHAVIOR).to_list(None)
        return [Entity.model_validate(doc) for doc in docs]

    async def save_all(self, writes: Sequence[EntityWrite]) -> None:
        ops = []
        for before, after in coalesce(writes):
            update = entity_update(before, after)
            if update is not None:
                ops.append(UpdateOne({"_id": after.id}, update, upsert=before is None))
        if ops:
            with database_errors():
                await bulk_write(self.collection, ops)


class MemoryEntityStore:
    """The same contract over a dict, for the embedded chain and fast tests."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    async def setup(self) -> None:
        return None

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        return {i: Entity.model_validate(self.documents[i]) for i in ids if i in self.documents}

    async def find_all(self) -> list[Entity]:
        return [Entity.model_validate(copy.deepcopy(doc)) for doc in self.documents.values()]

    async def find_in_pbehavior(self) -> list[Entity]:
        docs = (d for d in self.documents.values() if (d.get("pbehavior_info") or {}).get("id"))
        return [Entity.model_validate(copy.deepcopy(doc)) for doc in docs]

    async def save_all(self, writes: Sequence[EntityWrite]) -> None:
        for before, after in coalesce(writes):
            update = entity_update(before, after)
            if update is None:
                continue
            if "$setOnInsert" in update:
                self.documents.setdefault(after.id, {"_id": after.id, **copy.deepcopy(update["$setOnInsert"])})
                continue
            doc = self.documents.get(after.id)
            if doc is None:
                continue  # deleted meanwhile: an update without upsert changes nothing, as in MongoDB
            for key, value in update.get("$max", {}).items():
                doc[key] = max(doc.get(key) or value, value)
            doc.update(copy.deepcopy(update.get("$set", {})))
            for key in update.get("$unset", {}):
                doc.pop(key, None)
