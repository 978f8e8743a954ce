"""engines.store.entities.entities_of: the entity an event carries, else the stored one."""

from __future__ import annotations

from typing import Any

from engines.model import Entity, Event
from engines.store.entities import MemoryEntityStore, entities_of

NOW = 1_700_000_000


def event(component: str, carried: dict[str, Any] | None = None) -> Event:
    fields = {
        "connector": "c",
        "connector_name": "n",
        "event_type": "check",
        "source_type": "component",
        "component": component,
        "state": 1,
        "current_entity": carried,
    }
    return Event.model_validate(fields, context={"now": NOW})


def stored(entity_id: str, **fields: Any) -> dict[str, Any]:
    return {"_id": entity_id, "name": entity_id, "type": "component", "created": 0, **fields}


async def test_carried_entities_win_and_the_others_are_read_in_one_query() -> None:
    store = MemoryEntityStore()
    store.documents = {"a": stored("a", description="stored"), "b": stored("b", description="stored")}
    reads: list[set[str]] = []
    find_many = store.find_many

    async def counting(ids: Any) -> dict[str, Entity]:
        reads.append(set(ids))
        return await find_many(ids)

    store.find_many = counting  # type: ignore[method-assign]
    carried = stored("a", description="carried")
    found = await entities_of(
        store, [(event("a", carried), "a"), (event("b", {"not": "an entity"}), "b"), (event("c"), "c")]
    )
    assert {key: e.description for key, e in found.items()} == {"a": "carried", "b": "stored"}
    assert reads == [{"b", "c"}]
