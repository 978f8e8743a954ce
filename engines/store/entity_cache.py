"""CachedEntityStore: che's entities held in memory, so that a batch reads nothing it has seen.

che needs the connector, component and resource of nearly every event; Canopsis keeps them in a
Redis cache for that reason. Reading them per batch costs a query whose price grows with the
collection (FerretDB scans the table for an `$in`), so che keeps them all in memory instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

from engines.model import Entity
from engines.store.entities import EntityStore, EntityWrite, Saved
from engines.store.reloading import Reloading

__all__ = ["CachedEntityStore"]


class CachedEntityStore(Reloading):
    """Every entity of `store` in memory, read whole at first use and again every `refresh` seconds.

    Writes go through to `store` and update the copy, so an id absent from the copy does not exist,
    with one exception: an entity this instance saw missing but another instance created first
    (the save says so) is read again when next needed. Changes made elsewhere (another che
    instance, an operator editing `default_entities`) show once the next reload has run.
    """

    def __init__(self, store: EntityStore, refresh: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(refresh, clock)
        self.store = store
        self.entities: dict[str, Entity] = {}
        #: Ids whose stored state is unknown here (created meanwhile by another instance).
        self.unsure: set[str] = set()

    def __repr__(self) -> str:
        return f"<CachedEntityStore {len(self.entities)} entities of {self.store!r}>"

    async def setup(self) -> None:
        await self.store.setup()

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        if (started := self.due()) is not None:
            self.entities = {e.id: e for e in await self.store.find_all()}
            self.unsure.clear()
            self.loaded(started)
        unsure = self.unsure.intersection(ids)
        if unsure:
            self._remember({i: None for i in unsure} | dict(await self.store.find_many(unsure)))
            self.unsure -= unsure
        return {i: self.entities[i] for i in ids if i in self.entities}

    async def find_all(self) -> list[Entity]:
        return await self.store.find_all()

    async def find_in_pbehavior(self) -> list[Entity]:
        return await self.store.find_in_pbehavior()

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        try:
            saved = await self.store.save_all(writes)
        except BaseException:
            self.forget()  # what was written is unknown
            raise
        self._remember(saved)
        self.unsure.update(i for i, e in saved.items() if e is None)
        return saved

    def _remember(self, entities: Saved) -> None:
        for entity_id, entity in entities.items():
            if entity is None:
                self.entities.pop(entity_id, None)
            else:
                self.entities[entity_id] = entity
