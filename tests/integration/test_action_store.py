"""ExecutionStore contract, run on MongoDB (the real server) and on the in-memory store alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from engines.action.executions import Execution
from engines.action.store import ExecutionStore, MemoryExecutionStore, MongoExecutionStore
from engines.model import Event
from engines.model.pattern import Pattern

pytestmark = pytest.mark.integration

NOW = 1_764_000_000.0


@pytest.fixture(params=["memory", "mongo"])
async def store(
    request: pytest.FixtureRequest, mongo_db: AsyncDatabase[dict[str, Any]]
) -> AsyncIterator[ExecutionStore]:
    if request.param == "memory":
        yield MemoryExecutionStore()
        return
    mongo = MongoExecutionStore(mongo_db)
    await mongo.setup()
    yield mongo


def execution(eid: str, alarm_id: str = "a1", run_at: float = NOW, priority: int = 0) -> Execution:
    return Execution.model_validate(
        {
            "_id": eid,
            "scenario": "s1",
            "priority": priority,
            "alarm_id": alarm_id,
            "entity_id": "disk/web01",
            "run_at": run_at,
            "alarm": {"_id": alarm_id, "v": {"steps": [{"_t": "stateinc", "t": 1, "val": 2}]}},
            "entity": {"_id": "disk/web01", "infos": {"site": {"name": "site", "value": ["a", "b"]}}},
            "data": {"Trigger": "create"},
            "created": NOW,
        }
    )


def ack(resource: str) -> Event:
    return Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": "ack",
            "source_type": "resource",
            "component": "web01",
            "resource": resource,
            "timestamp": int(NOW),
            "initiator": "system",
            "scenario_execution": {"scenario": "s1", "emit_trigger": False},
        },
        context={"now": NOW},
    )


async def test_due_executions_are_claimed_once_in_order(store: ExecutionStore) -> None:
    await store.add(
        [execution("late", run_at=NOW + 60), execution("b", "a2", priority=2), execution("a", "a3", priority=1)]
    )
    await store.add([execution("a", "a3", run_at=NOW + 999)])  # a redelivered event: left as it is
    claimed = await store.claim_due("p1", NOW, NOW + 30, 10, ())
    assert [e.id for e in claimed] == ["a", "b"] and claimed[0].claimed_by == "p1"
    assert claimed[1].entity == {"_id": "disk/web01", "infos": {"site": {"name": "site", "value": ["a", "b"]}}}
    assert await store.claim_due("p2", NOW, NOW + 30, 10, ()) == [], "claimed by p1"
    assert [e.id for e in await store.claim_due("p2", NOW + 31, NOW + 61, 10, ())] == ["a", "b"], "claims lapse"


async def test_claims_are_renewed_released_and_skip_busy_alarms(store: ExecutionStore) -> None:
    await store.add([execution("x", "a1"), execution("y", "a2")])
    assert [e.id for e in await store.claim_due("p1", NOW, NOW + 30, 10, {"a2"})] == ["x"]
    await store.renew(["x"], "p1", NOW + 90)
    await store.renew(["x"], "p2", NOW + 999)  # not the holder: no effect
    assert [e.id for e in await store.claim_due("p2", NOW + 60, NOW + 90, 10, ())] == ["y"]
    await store.release("p1")
    assert [e.id for e in await store.claim_due("p3", NOW + 60, NOW + 90, 1, ())] == ["x"]


async def test_progress_is_recorded_and_finished_runs_are_deleted(store: ExecutionStore) -> None:
    await store.add([execution("x")])
    await store.advance("x", 2, '{"calls": 1}')
    (run,) = await store.claim_due("p1", NOW, NOW + 30, 10, ())
    assert (run.step, run.webhook) == (2, '{"calls": 1}')
    await store.finish("x")
    assert await store.claim_due("p1", NOW + 100, NOW + 130, 10, ()) == []


async def test_outbox_events_are_taken_once_then_forgotten_after_the_next_beat(store: ExecutionStore) -> None:
    await store.queue_events("x", 0, [ack("disk"), ack("cpu")])
    await store.queue_events("x", 0, [ack("disk"), ack("cpu")])  # a replayed step: no duplicates
    await store.queue_events("x", 1, [ack("ram")])
    taken = await store.take_events("p1", 1, NOW, NOW - 60, 100)
    assert [e.resource for e in taken] == ["disk", "cpu", "ram"]
    assert taken[0].model_extra == {"scenario_execution": {"scenario": "s1", "emit_trigger": False}}
    assert await store.take_events("p1", 2, NOW + 1, NOW + 1 - 60, 100) == []
    await store.forget_events("p1", 2)
    assert await store.take_events("p2", 1, NOW + 1000, NOW + 940, 100) == [], "forgotten, not stale"


async def test_outbox_events_of_a_dead_process_are_taken_again_when_stale(store: ExecutionStore) -> None:
    await store.queue_events("x", 0, [ack("disk")])
    assert len(await store.take_events("p1", 1, NOW, NOW - 60, 100)) == 1
    assert await store.take_events("p2", 1, NOW + 30, NOW - 30, 100) == []
    assert [e.resource for e in await store.take_events("p2", 1, NOW + 61, NOW + 1, 100)] == ["disk"]
    await store.forget_events("p1", 5)  # p1 came back: the entry is p2's now
    assert [e.resource for e in await store.take_events("p3", 1, NOW + 200, NOW + 140, 100)] == ["disk"]


async def test_take_events_is_bounded(store: ExecutionStore) -> None:
    await store.queue_events("x", 0, [ack(f"r{i}") for i in range(5)])
    assert [e.resource for e in await store.take_events("p1", 1, NOW, NOW - 60, 3)] == ["r0", "r1", "r2"]
    assert [e.resource for e in await store.take_events("p1", 2, NOW, NOW - 60, 3)] == ["r3", "r4"]


async def test_a_pbehavior_is_saved_once_with_a_readable_pattern(
    store: ExecutionStore, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    document = {
        "_id": "p1",
        "name": "m",
        "entity_pattern": [[{"field": "_id", "cond": {"type": "eq", "value": "e"}}]],
        "tstart": 1,
        "tstop": 2,
    }
    await store.save_pbehavior(document)
    await store.save_pbehavior({**document, "name": "changed"})
    if isinstance(store, MongoExecutionStore):
        saved = await mongo_db.pbehavior.find_one({"_id": "p1"})
    else:
        assert isinstance(store, MemoryExecutionStore)
        saved = store.pbehaviors["p1"]
    assert saved is not None and saved["name"] == "m"
    assert Pattern.parse(saved["entity_pattern"]) == Pattern.parse(document["entity_pattern"])
