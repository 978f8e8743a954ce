"""AlarmStore contract, run on MongoDB (the real server) and on the in-memory store alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from engines.axe.lifecycle import apply_event
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.model.alarm import Alarm
from engines.store.alarms import AlarmStore, MemoryAlarmStore, MongoAlarmStore
from engines.store.paging import pages

pytestmark = pytest.mark.integration

NOW = 1_764_000_000


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[AlarmStore]:
    if request.param == "memory":
        yield MemoryAlarmStore()
        return
    mongo = MongoAlarmStore(mongo_db)
    await mongo.setup()
    yield mongo


def entity(resource: str) -> Entity:
    return Entity.model_validate(
        {
            "_id": f"{resource}/web01",
            "name": resource,
            "type": "resource",
            "created": NOW,
            "component": "web01",
            "connector": "nagios/paris",
        }
    )


def event(resource: str, event_type: str = "check", **fields: Any) -> Event:
    return Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": event_type,
            "source_type": "resource",
            "component": "web01",
            "resource": resource,
            "timestamp": NOW,
            **fields,
        },
        context={"now": NOW},
    )


def step(alarm: Alarm | None, resource: str, event_type: str = "check", now: int = NOW, **fields: Any) -> Alarm:
    change = apply_event(
        alarm, event(resource, event_type, **fields), entity(resource), Rules(), now, str(uuid.uuid4())
    )
    assert change.alarm is not None
    return change.alarm


async def test_open_alarms_are_found_by_entity(store: AlarmStore) -> None:
    disk, cpu = step(None, "disk", state=2), step(None, "cpu", state=1)
    await store.save_all([disk, cpu], {disk.id: None})
    found = await store.find_open(["disk/web01", "cpu/web01", "ram/web01"])
    assert {k: a.id for k, a in found.items()} == {"disk/web01": disk.id, "cpu/web01": cpu.id}
    assert found["disk/web01"] == disk


async def test_a_batch_changing_one_alarm_twice_stores_its_last_state(store: AlarmStore) -> None:
    created = step(None, "disk", state=2)
    worse = step(created, "disk", state=3)
    await store.save_all([created, worse])
    (stored,) = (await store.find_open(["disk/web01"])).values()
    assert stored.state == 3 and len(stored.value.steps) == 3


async def test_resolved_alarm_is_no_longer_open_and_is_copied_to_resolved_alarms(store: AlarmStore) -> None:
    ok = step(step(None, "disk", state=2), "disk", state=0)
    resolved = step(ok, "disk", "resolve_close", now=NOW + 120)
    assert resolved.is_resolved
    await store.save_all([resolved])
    assert await store.find_open(["disk/web01"]) == {}
    assert await due_for_beat(store) == []
    copies = (
        store.resolved if isinstance(store, MemoryAlarmStore) else {d["_id"]: d async for d in store.resolved.find({})}
    )
    assert list(copies) == [resolved.id]


async def test_next_failure_after_resolution_opens_a_new_alarm(store: AlarmStore) -> None:
    first = step(step(step(None, "disk", state=2), "disk", state=0), "disk", "resolve_close", now=NOW + 120)
    await store.save_all([first])
    second = step(None, "disk", state=1)
    await store.save_all([second])
    (open_alarm,) = (await store.find_open(["disk/web01"])).values()
    assert open_alarm.id == second.id != first.id


async def due_for_beat(store: AlarmStore, now: int = NOW, canceled_before: int = NOW - 3600) -> list[str]:
    return sorted([a.entity_id async for page in store.due_for_beat(now, canceled_before) for a in page])


async def test_the_beat_reads_the_alarms_time_may_change(store: AlarmStore) -> None:
    critical = step(None, "cpu", state=3)
    ok = step(step(None, "disk", state=2), "disk", state=0)
    snoozed = step(step(None, "mem", state=2), "mem", "snooze", duration=60, initiator="user", author="a")
    canceled = step(step(None, "net", state=2), "net", "cancel", initiator="user", author="a")
    await store.save_all([critical, ok, snoozed, canceled])
    due = await due_for_beat(store, now=NOW, canceled_before=NOW - 3600)
    assert set(due) >= {"disk/web01"}
    if isinstance(store, MongoAlarmStore):  # the memory store hands the beat every open alarm
        assert due == ["disk/web01"]
        later = await due_for_beat(store, now=NOW + 60, canceled_before=NOW)
        assert later == ["disk/web01", "mem/web01", "net/web01"]


async def test_pages_read_a_collection_by_id_whatever_its_size(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    await mongo_db.docs.insert_many([{"_id": f"d{i:02}", "even": i % 2 == 0} for i in range(11)])
    got = [[d["_id"] for d in page] async for page in pages(mongo_db.docs, {"even": True}, size=2)]
    assert got == [["d00", "d02"], ["d04", "d06"], ["d08", "d10"]]
    assert [len(p) async for p in pages(mongo_db.docs, {}, size=4)] == [4, 4, 3]


async def stored_document(store: AlarmStore, alarm_id: str) -> dict[str, Any]:
    if isinstance(store, MemoryAlarmStore):
        return store.alarms[alarm_id]
    doc = await store.alarms.find_one({"_id": alarm_id})
    assert doc is not None
    return doc


async def test_changes_written_as_updates_store_what_a_replace_would(store: AlarmStore) -> None:
    """Each batch saves with what it read: $set/$unset/$push must leave the very document."""
    created = step(None, "disk", state=2, output="95%")
    await store.save_all([created], {created.id: None})
    alarm = created
    for event_type, fields in [
        ("check", {"state": 3, "output": "99%"}),
        ("ack", {"initiator": "user", "author": "a"}),
        ("snooze", {"duration": 60, "initiator": "user", "author": "a"}),
        ("comment", {"output": "looking", "initiator": "user", "author": "a"}),
        ("ackremove", {"initiator": "user", "author": "a"}),
        ("check", {"state": 0}),
    ]:
        changed = step(alarm, "disk", event_type, **fields)
        await store.save_all([changed], {alarm.id: alarm})
        assert await stored_document(store, alarm.id) == changed.to_document(), event_type
        alarm = changed
    resolved = step(alarm, "disk", "resolve_close", now=NOW + 120)
    await store.save_all([resolved], {alarm.id: alarm})
    assert await stored_document(store, alarm.id) == resolved.to_document()
