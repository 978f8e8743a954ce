"""CachedAlarmStore over the in-memory store: open alarms read once, kept by the engine's own writes."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import pytest

from engines.axe.lifecycle import apply_event
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.model.alarm import Alarm
from engines.store.alarm_cache import CachedAlarmStore, alarm_bytes
from engines.store.alarms import AsRead, MemoryAlarmStore
from framework.errors import DatabaseUnavailable

NOW = 1_764_000_000


class CountingStore(MemoryAlarmStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[set[str]] = []
        self.created: list[set[str]] = []
        self.fail_next_save = False

    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        self.reads.append(set(entity_ids))
        return await super().find_open(entity_ids)

    async def save_all(self, alarms: Sequence[Alarm], as_read: AsRead | None = None) -> None:
        if self.fail_next_save:
            self.fail_next_save = False
            raise DatabaseUnavailable("down")
        self.created.append({i for i, a in (as_read or {}).items() if a is None})
        await super().save_all(alarms, as_read)


def step(alarm: Alarm | None, state: int, event_type: str = "check", now: int = NOW) -> Alarm:
    entity = Entity.model_validate(
        {
            "_id": "disk/web01",
            "name": "disk",
            "type": "resource",
            "created": NOW,
            "component": "web01",
            "connector": "nagios/paris",
        }
    )
    event = Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": event_type,
            "source_type": "resource",
            "component": "web01",
            "resource": "disk",
            "timestamp": now,
            "state": state,
        },
        context={"now": now},
    )
    change = apply_event(alarm, event, entity, Rules(), now, str(uuid.uuid4()))
    assert change.alarm is not None
    return change.alarm


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


async def test_open_alarms_and_their_absence_are_read_once_and_kept_by_own_writes(store: CountingStore) -> None:
    cache = CachedAlarmStore(store, capacity=10**6, ttl=60, clock=lambda: 0.0)
    assert await cache.find_open(["disk/web01"]) == {}
    alarm = step(None, 2)
    await cache.save_all([alarm], {alarm.id: None})
    assert await cache.find_open(["disk/web01"]) == {"disk/web01": alarm}
    assert store.reads == [{"disk/web01"}] and store.created == [{alarm.id}]


async def test_a_resolved_alarm_leaves_the_cache(store: CountingStore) -> None:
    cache = CachedAlarmStore(store, capacity=10**6, ttl=60, clock=lambda: 0.0)
    alarm = step(step(None, 2), 0)
    await cache.save_all([alarm])
    resolved = step(alarm, 0, "resolve_close", now=NOW + 120)
    assert resolved.is_resolved
    await cache.save_all([resolved])
    assert await cache.find_open(["disk/web01"]) == {}
    assert store.reads == []


async def test_an_alarm_resolved_and_reopened_in_one_batch_is_the_new_one(store: CountingStore) -> None:
    cache = CachedAlarmStore(store, capacity=10**6, ttl=60, clock=lambda: 0.0)
    resolved = step(step(step(None, 2), 0), 0, "resolve_close", now=NOW + 120)
    reopened = step(None, 3, now=NOW + 130)
    await cache.save_all([resolved, reopened], {reopened.id: None})
    assert await cache.find_open(["disk/web01"]) == {"disk/web01": reopened}


async def test_forget_and_a_failed_save_read_again(store: CountingStore) -> None:
    cache = CachedAlarmStore(store, capacity=10**6, ttl=60, clock=lambda: 0.0)
    await cache.find_open(["disk/web01"])
    cache.forget()
    await cache.find_open(["disk/web01"])
    store.fail_next_save = True
    with pytest.raises(DatabaseUnavailable):
        await cache.save_all([step(None, 2)])
    await cache.find_open(["disk/web01"])
    assert len(store.reads) == 3


async def test_alarms_written_elsewhere_show_once_the_entry_is_older_than_the_ttl(store: CountingStore) -> None:
    now = [0.0]
    cache = CachedAlarmStore(store, capacity=10**6, ttl=60, clock=lambda: now[0])
    await cache.find_open(["disk/web01"])
    await store.save_all([step(None, 2)])
    assert await cache.find_open(["disk/web01"]) == {}
    now[0] = 60.0
    assert list(await cache.find_open(["disk/web01"])) == ["disk/web01"]


async def test_memory_is_bounded_in_bytes_an_alarm_with_many_steps_weighing_more(store: CountingStore) -> None:
    small = step(None, 2)
    big = small
    for n in range(40):
        big = step(big, 1 + n % 3)
    assert alarm_bytes(big) > 10 * alarm_bytes(None) and alarm_bytes(big) > 4 * alarm_bytes(small)
    cache = CachedAlarmStore(store, capacity=alarm_bytes(big) + alarm_bytes(None) - 1, ttl=60, clock=lambda: 0.0)
    await cache.save_all([big])
    assert await cache.find_open(["disk/web01"]) == {"disk/web01": big} and store.reads == []
    await cache.find_open(["cpu/web01"])  # its absence pushes the big alarm out
    assert cache.recent.total <= cache.recent.capacity
    await cache.find_open(["disk/web01"])
    assert store.reads[-1] == {"disk/web01"}
