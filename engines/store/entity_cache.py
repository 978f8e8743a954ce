"""CachedEntityStore: the entities che handled recently, so that most batches read none.

che needs the connector, component and resource of nearly every event; Canopsis keeps them in a
Redis cache for that reason. Here a bounded map in memory holds the entities used last, so a
batch reads only those it has not seen lately, in one query, and memory does not follow the
number of entities in the database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Final

from engines.model import Entity
from engines.store.entities import EntityStore, EntityWrite, Saved
from engines.store.recent import Recent

__all__ = ["CachedEntityStore", "entity_bytes"]

#: What an entity costs as Python objects, measured (~1.6 KB with a few infos).
ENTITY_BYTES: Final = 2_000
ABSENT_BYTES: Final = 200


def entity_bytes(entity: Entity | None) -> int:
    return ABSENT_BYTES if entity is None else ENTITY_BYTES


class CachedEntityStore:
    """The entities used last (or known absent), within `capacity` bytes (as `entity_bytes`
    estimates them), each trusted for `ttl` seconds.

    Writes go through to `store` and update the map. Changes made elsewhere (another che instance,
    an operator editing `default_entities`) show once the entry is older than `ttl`; an entity
    this instance saw missing but another instance created first (the save says so) is read
    again when next needed.
    """

    def __init__(
        self, store: EntityStore, capacity: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.recent: Recent[str, Entity] = Recent(capacity, ttl, clock, entity_bytes)

    def __repr__(self) -> str:
        return f"<CachedEntityStore {len(self.recent)} entities of {self.store!r}>"

    async def setup(self) -> None:
        await self.store.setup()

    def forget(self) -> None:
        self.recent.clear()

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        return await self.recent.read_through(ids, self.store.find_many)

    def pages(self, in_pbehavior: bool = False) -> AsyncIterator[list[Entity]]:
        return self.store.pages(in_pbehavior)

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        try:
            saved = await self.store.save_all(writes)
        except BaseException:
            self.forget()  # what was written is unknown
            raise
        for entity_id, entity in saved.items():
            if entity is None:
                self.recent.discard(entity_id)  # created meanwhile elsewhere: read it next time
        self.recent.store({i: e for i, e in saved.items() if e is not None})
        return saved
