"""CachedEntityStore over the in-memory store: what it reads, when, and what it remembers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from engines.model import Entity
from engines.store.entities import EntityWrite, MemoryEntityStore, Saved, entity_update
from engines.store.entity_cache import CachedEntityStore
from framework.errors import DatabaseUnavailable


class CountingStore(MemoryEntityStore):
    """Counts reads, and fails the next save when told to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full_reads = 0
        self.reads: list[set[str]] = []
        self.fail_next_save = False

    async def find_all(self) -> list[Entity]:
        self.full_reads += 1
        return await super().find_all()

    async def find_many(self, ids: Collection[str]) -> dict[str, Entity]:
        self.reads.append(set(ids))
        return await super().find_many(ids)

    async def save_all(self, writes: Sequence[EntityWrite]) -> Saved:
        if self.fail_next_save:
            self.fail_next_save = False
            raise DatabaseUnavailable("down")
        return await super().save_all(writes)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entity(name: str = "disk", **fields: Any) -> Entity:
    return Entity.model_validate({"_id": f"{name}/web01", "name": name, "type": "resource", "created": 1000,
                                  "last_event_date": 1000, "component": "web01", **fields})


def cached(store: CountingStore, refresh: float = 60) -> tuple[CachedEntityStore, Clock]:
    clock = Clock()
    return CachedEntityStore(store, refresh, clock), clock


async def test_entities_are_read_once_then_served_from_memory() -> None:
    store = CountingStore()
    await store.save_all([(None, entity("disk"))])
    cache, _ = cached(store)
    assert set(await cache.find_many(["disk/web01", "cpu/web01"])) == {"disk/web01"}
    assert set(await cache.find_many(["disk/web01", "cpu/web01"])) == {"disk/web01"}
    assert (store.full_reads, store.reads) == (1, [])


async def test_writes_are_remembered_without_reading_them_back() -> None:
    store = CountingStore()
    cache, _ = cached(store)
    await cache.find_many([])
    await cache.save_all([(None, entity("disk"))])
    assert (await cache.find_many(["disk/web01"]))["disk/web01"] == entity("disk")
    assert (store.full_reads, store.reads) == (1, [])


async def test_changes_made_elsewhere_show_after_the_refresh() -> None:
    store = CountingStore()
    await store.save_all([(None, entity("disk"))])
    cache, clock = cached(store, refresh=60)
    await cache.find_many(["disk/web01"])
    await store.save_all([(entity("disk"), entity("disk", enabled=False))])
    clock.now = 59
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].enabled is True
    clock.now = 60
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].enabled is False
    assert store.full_reads == 2


async def test_an_entity_another_instance_created_first_is_read_again() -> None:
    store = CountingStore()
    cache, _ = cached(store)
    await cache.find_many([])
    await store.save_all([(None, entity("disk", category="db"))])  # the other instance
    saved = await cache.save_all([(None, entity("disk"))])
    assert saved == {"disk/web01": None}
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].category == "db"
    assert store.reads == [{"disk/web01"}]
    await cache.find_many(["disk/web01"])
    assert store.reads == [{"disk/web01"}]


async def test_a_failed_save_makes_the_next_batch_read_everything_again() -> None:
    store = CountingStore()
    cache, _ = cached(store)
    await cache.find_many([])
    store.fail_next_save = True
    try:
        await cache.save_all([(None, entity("disk"))])
    except DatabaseUnavailable:
        pass
    await cache.find_many(["disk/web01"])
    assert store.full_reads == 2


def test_last_event_date_alone_is_written_once_it_moved_by_the_resolution() -> None:
    before = entity(last_event_date=1000)
    assert entity_update(before, entity(last_event_date=1059), resolution=60) is None
    assert entity_update(before, entity(last_event_date=1060), resolution=60) == {"$max": {"last_event_date": 1060}}
    assert entity_update(before, entity(last_event_date=1001), resolution=0) == {"$max": {"last_event_date": 1001}}


def test_a_real_change_carries_the_last_event_date_whatever_the_resolution() -> None:
    update = entity_update(entity(), entity(last_event_date=1001, category="db"), resolution=60)
    assert update == {"$max": {"last_event_date": 1001}, "$set": {"category": "db"}}


async def test_a_bump_below_the_resolution_leaves_the_stored_date_and_says_so() -> None:
    store = CountingStore(last_event_date_resolution=60)
    await store.save_all([(None, entity())])
    saved = await store.save_all([(entity(), entity(last_event_date=1030))])
    assert saved == {"disk/web01": entity()}
    assert store.documents["disk/web01"]["last_event_date"] == 1000
