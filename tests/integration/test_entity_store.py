"""EntityStore contract, run on MongoDB (the real server) and on the in-memory store alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from engines.model import Entity
from engines.store.entities import EntityStore, MemoryEntityStore, MongoEntityStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, mongo_db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[EntityStore]:
    if request.param == "memory":
        yield MemoryEntityStore()
        return
    mongo = MongoEntityStore(mongo_db)
    await mongo.setup()
    yield mongo


def resource(name: str = "disk", **fields: Any) -> Entity:
    return Entity.model_validate(
        {
            "_id": f"{name}/web01",
            "name": name,
            "type": "resource",
            "created": 1000,
            "last_event_date": 1000,
            "connector": "nagios/paris",
            "component": "web01",
            **fields,
        }
    )


async def test_new_entities_are_created_and_read_back(store: EntityStore) -> None:
    await store.save_all([(None, resource("disk")), (None, resource("cpu"))])
    found = await store.find_many(["disk/web01", "cpu/web01", "absent/web01"])
    assert set(found) == {"disk/web01", "cpu/web01"}
    assert found["disk/web01"] == resource("disk")


async def test_creating_an_existing_entity_keeps_the_stored_one(store: EntityStore) -> None:
    await store.save_all([(None, resource(infos={"env": {"name": "env", "value": "prod"}}))])
    saved = await store.save_all([(None, resource()), (None, resource("cpu"))])  # another instance saw disk missing too
    assert saved == {"disk/web01": None, "cpu/web01": resource("cpu")}
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert stored.info_values() == {"env": "prod"}


async def test_changed_fields_are_written_and_others_kept(store: EntityStore) -> None:
    before = resource(category="db")
    await store.save_all([(None, before)])
    after = Entity.model_validate(
        {**before.to_document(), "infos": {"env": {"name": "env", "value": "prod"}}, "enabled": False}
    )
    await store.save_all([(before, after)])
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert stored.info_values() == {"env": "prod"} and stored.enabled is False and stored.category == "db"


async def test_last_event_date_never_moves_backwards(store: EntityStore) -> None:
    first = resource(last_event_date=2000)
    await store.save_all([(None, first)])
    stale = Entity.model_validate({**resource().to_document(), "last_event_date": 1500})
    await store.save_all([(resource(), stale)])
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert stored.last_event_date == 2000


async def test_a_batch_touching_one_entity_twice_writes_its_last_state(store: EntityStore) -> None:
    v1 = resource(last_event_date=1000)
    v2 = Entity.model_validate({**v1.to_document(), "last_event_date": 1100})
    v3 = Entity.model_validate({**v1.to_document(), "last_event_date": 1200, "category": "web"})
    await store.save_all([(None, v1), (v1, v2), (v2, v3)])
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert (stored.last_event_date, stored.category) == (1200, "web")


async def test_unknown_fields_survive_a_read_modify_write(store: EntityStore) -> None:
    await store.save_all([(None, resource(custom_field={"a": 1}))])
    (read,) = (await store.find_many(["disk/web01"])).values()
    changed = Entity.model_validate({**read.to_document(), "last_event_date": 3000})
    await store.save_all([(read, changed)])
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert stored.model_extra == {"custom_field": {"a": 1}}


async def ids_in_pages(store: EntityStore, in_pbehavior: bool = False) -> list[str]:
    return [e.id async for page in store.pages(in_pbehavior) for e in page]


async def test_pages_of_all_entities_or_those_in_a_pbehavior_for_the_pbehavior_beat(store: EntityStore) -> None:
    info = {"id": "pbh-1", "type": "default_maintenance", "timestamp": 1500}
    await store.save_all(
        [
            (None, resource("disk", pbehavior_info=info)),
            (None, resource("cpu")),
            (None, resource("mem", pbehavior_info={"id": ""})),
        ]
    )
    assert sorted(await ids_in_pages(store)) == ["cpu/web01", "disk/web01", "mem/web01"]
    assert await ids_in_pages(store, in_pbehavior=True) == ["disk/web01"]


async def test_pbehavior_info_removed_from_an_entity_is_unset(store: EntityStore) -> None:
    entered = resource(pbehavior_info={"id": "pbh-1", "timestamp": 1500})
    await store.save_all([(None, entered)])
    left = Entity.model_validate({**entered.to_document(), "pbehavior_info": None})
    await store.save_all([(entered, left)])
    (stored,) = (await store.find_many(["disk/web01"])).values()
    assert stored.pbehavior_info is None and await ids_in_pages(store, in_pbehavior=True) == []
