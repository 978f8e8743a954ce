"""The beat lease on the real MongoDB-compatible server: one holder per tick, takeover after expiry."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from framework.lease import Lease

pytestmark = pytest.mark.integration


@pytest.fixture
async def leases() -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017"), serverSelectionTimeoutMS=5000
    )
    collection = client["cps_test"][f"lease_{uuid.uuid4().hex[:8]}"]
    try:
        await client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"MongoDB-compatible server not reachable ({exc}); run deploy/local/start")
    yield collection
    await collection.drop()
    await client.close()


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
