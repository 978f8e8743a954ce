"""The beat lease on the real MongoDB-compatible server: one holder per tick, takeover after expiry."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from framework.runtime.lease import Lease

pytestmark = pytest.mark.integration

MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")


@pytest.fixture
def leases(mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncCollection[dict[str, Any]]:
    return mongo_db["engine_lease"]


async def test_second_instance_cannot_take_an_unexpired_lease(leases: AsyncCollection[dict[str, Any]]) -> None:
    a, b = Lease(leases, "beat:axe", "axe@h:1"), Lease(leases, "beat:axe", "axe@h:2")
    assert await a.acquire(60, now=1000)
    assert not await b.acquire(60, now=1001)
    assert await a.acquire(60, now=1060), "the holder renews its own lease at its next tick"


async def test_lease_moves_to_another_instance_once_expired(leases: AsyncCollection[dict[str, Any]]) -> None:
    a, b = Lease(leases, "beat:axe", "axe@h:1"), Lease(leases, "beat:axe", "axe@h:2")
    assert await a.acquire(10, now=1000)
    assert not await b.acquire(10, now=1009.8)
    assert await b.acquire(10, now=1010), "a dead holder's lease is taken one interval later"
    assert not await a.acquire(10, now=1011)
    doc = await leases.find_one({"_id": "beat:axe"})
    assert doc is not None and doc["holder"] == "axe@h:2"


async def test_leases_of_different_engines_are_independent(leases: AsyncCollection[dict[str, Any]]) -> None:
    assert await Lease(leases, "beat:axe", "x@h:1").acquire(60, now=1000)
    assert await Lease(leases, "beat:che", "y@h:1").acquire(60, now=1000)


async def test_two_axes_and_two_pbehaviors_starting_on_an_empty_database_create_each_default_once(
    engines: Any, names: Any, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    """FerretDB 2 reports an insert that lost the race as code 1, not 11000: neither may crash on it."""
    env = {"CPS_MONGO_URL": f"{MONGO_URL.rstrip('/')}/{mongo_db.name}"}
    started = []
    for engine in ("axe", "axe", "pbehavior", "pbehavior"):
        queue = names.queue(engine)
        started.append(
            await engines.start(
                engine,
                "--consume-queue",
                queue,
                "--beat-interval",
                "0.2",
                "--instance",
                f"{engine}-{len(started)}",
                consume_queue=queue,
                env=env,
                wait=False,
            )
        )
    for proc in started:
        await proc.wait_consuming()
    await asyncio.sleep(3)  # beats race for the leases, many times over
    for proc in started:
        assert proc.returncode is None and "Traceback" not in proc.log(tail=1 << 20), proc.describe()
    assert await mongo_db.resolve_rule.count_documents({}) == 1
    assert await mongo_db.pbehavior_type.count_documents({}) == 4
    assert await mongo_db.pbehavior_reason.count_documents({}) == 1
    leases = {d["_id"]: d["holder"] async for d in mongo_db.engine_lease.find({})}
    assert set(leases) == {"beat:axe", "beat:pbehavior"}
