"""The beat lease on the real MongoDB-compatible server: one holder per tick, takeover after expiry."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from framework.lease import Lease

pytestmark = pytest.mark.integration


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
