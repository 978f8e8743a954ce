"""CachedEntityStore over the in-memory store: what it reads, when, and what it remembers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import pytest

from engines.model import Entity
from engines.store.entities import EntityWrite, MemoryEntityStore, Saved, entity_update
from engines.store.entity_cache import ENTITY_BYTES, CachedEntityStore
from framework.errors import DatabaseUnavailable


class CountingStore(MemoryEntityStore):
    """Counts reads, and fails the next save when told to."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reads: list[set[str]] = []
        self.fail_next_save = False

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
    return Entity.model_validate(
        {
            "_id": f"{name}/web01",
            "name": name,
            "type": "resource",
            "created": 1000,
            "last_event_date": 1000,
            "component": "web01",
            **fields,
        }
    )


def cached(store: CountingStore, ttl: float = 60, entities: int = 100) -> tuple[CachedEntityStore, Clock]:
    """A cache with room for `entities` entities."""
    clock = Clock()
    return CachedEntityStore(store, entities * ENTITY_BYTES, ttl, clock), clock


async def test_entities_and_their_absence_are_read_once_then_served_from_memory() -> None:
    store = CountingStore()
    await store.save_all([(None, entity("disk"))])
    cache, _ = cached(store)
    assert set(await cache.find_many(["disk/web01", "cpu/web01"])) == {"disk/web01"}
    assert set(await cache.find_many(["disk/web01", "cpu/web01", "ram/web01"])) == {"disk/web01"}
    assert store.reads == [{"disk/web01", "cpu/web01"}, {"ram/web01"}]


async def test_writes_are_remembered_without_reading_them_back() -> None:
    store = CountingStore()
    cache, _ = cached(store)
    await cache.save_all([(None, entity("disk"))])
    assert (await cache.find_many(["disk/web01"]))["disk/web01"] == entity("disk")
    assert store.reads == []


async def test_changes_made_elsewhere_show_once_the_entry_is_older_than_the_ttl() -> None:
    store = CountingStore()
    await store.save_all([(None, entity("disk"))])
    cache, clock = cached(store, ttl=60)
    await cache.find_many(["disk/web01"])
    await store.save_all([(entity("disk"), entity("disk", enabled=False))])
    clock.now = 59
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].enabled is True
    clock.now = 60
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].enabled is False
    assert len(store.reads) == 2


async def test_memory_holds_at_most_capacity_entities_the_least_recently_used_going_first() -> None:
    store = CountingStore()
    await store.save_all([(None, entity(f"r{i}")) for i in range(5)])
    cache, _ = cached(store, entities=3)
    for name in ("r0", "r1", "r2"):
        await cache.find_many([f"{name}/web01"])
    await cache.find_many(["r0/web01"])  # r1 is now the least recently used
    await cache.find_many(["r3/web01"])
    assert len(cache.recent) == 3
    store.reads.clear()
    await cache.find_many(["r0/web01", "r1/web01", "r2/web01", "r3/web01"])
    assert store.reads == [{"r1/web01"}]


async def test_an_entity_another_instance_created_first_is_read_again() -> None:
    store = CountingStore()
    cache, _ = cached(store)
    assert await cache.find_many(["disk/web01"]) == {}
    await store.save_all([(None, entity("disk", category="db"))])  # the other instance
    saved = await cache.save_all([(None, entity("disk"))])
    assert saved == {"disk/web01": None}
    assert (await cache.find_many(["disk/web01"]))["disk/web01"].category == "db"
    await cache.find_many(["disk/web01"])
    assert store.reads == [{"disk/web01"}, {"disk/web01"}]


async def test_a_failed_save_makes_the_next_batch_read_again() -> None:
    store = CountingStore()
    await store.save_all([(None, entity("disk"))])
    cache, _ = cached(store)
    await cache.find_many(["disk/web01"])
    store.fail_next_save = True
    with pytest.raises(DatabaseUnavailable):
        await cache.save_all([(entity("disk"), entity("disk", category="db"))])
    await cache.find_many(["disk/web01"])
    assert store.reads == [{"disk/web01"}, {"disk/web01"}]


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
