"""PbehaviorEngine's beat on in-memory stores, and its events through che and axe (no broker)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import pytest

from engines.axe.engine import AxeEngine
from engines.che.engine import CheEngine
from engines.model import Entity, Event
from engines.pbehavior.documents import DEFAULT_REASON, DEFAULT_TYPES
from engines.pbehavior.engine import PbehaviorEngine, PbehaviorOptions
from engines.store.alarms import MemoryAlarmStore
from engines.store.documents import MemoryDocuments
from engines.store.entities import MemoryEntityStore
from framework import DROP, ConfigError, build_settings
from framework.services.connect import Services

NOW: Final = int(time.time()) // 60 * 60  # events must be within 24 h of the real clock
DISK: Final = [[{"field": "name", "cond": {"type": "eq", "value": "disk"}}]]


def maintenance(**fields: Any) -> dict[str, Any]:
    """A maintenance of the entity named "disk", from an hour ago for two hours."""
    return {
        "_id": "pbh-1",
        "name": "Upgrade",
        "author": "alice",
        "enabled": True,
        "type_": "default_maintenance",
        "reason": "default_reason",
        "tstart": NOW - 3600,
        "tstop": NOW + 3600,
        "entity_pattern": DISK,
        "created": NOW - 7200,
        **fields,
    }


def entity_document(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"{name}/srv01",
        "name": name,
        "type": "resource",
        "component": "srv01",
        "connector": "centreon/centreon-1",
        "enabled": True,
        "created": 0,
        **fields,
    }


class CountingEntities(MemoryEntityStore):
    """Remembers which read the beat used."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def pages(self, in_pbehavior: bool = False) -> AsyncIterator[list[Entity]]:
        self.reads.append("in_pbehavior" if in_pbehavior else "all")
        return super().pages(in_pbehavior)


async def beat(pbh: PbehaviorEngine) -> list[Event]:
    return [event async for page in await pbh.beat() for event in page]


async def events_at(pbh: PbehaviorEngine, now: int) -> list[Event]:
    return [event async for page in pbh.events_at(now) for event in page]


async def engine(pbehaviors: Sequence[dict[str, Any]], entities: MemoryEntityStore) -> PbehaviorEngine:
    settings = build_settings(name="pbehavior", flags={}, environ={}, options_model=PbehaviorOptions)
    pbh = PbehaviorEngine(
        settings,
        pbehaviors=MemoryDocuments(pbehaviors),
        types=MemoryDocuments([t.to_document() for t in DEFAULT_TYPES]),
        reasons=MemoryDocuments([DEFAULT_REASON.to_document()]),
        entities=entities,
        clock=lambda: NOW,
    )
    await pbh.setup(Services())
    return pbh


def store(*documents: dict[str, Any]) -> CountingEntities:
    entities = CountingEntities()
    entities.documents = {d["_id"]: d for d in documents}
    return entities


async def test_beat_sends_pbhenter_for_matching_entities_only() -> None:
    entities = store(entity_document("disk"), entity_document("cpu"), entity_document("disk2"))
    pbh = await engine([maintenance()], entities)

    events = await beat(pbh)

    assert [(e.event_type, e.entity_id) for e in events] == [("pbhenter", "disk/srv01")]
    assert events[0].pbehavior_info is not None and events[0].pbehavior_info["id"] == "pbh-1"
    assert entities.reads == ["all"]


async def test_beat_sends_pbhleave_once_the_pbehavior_is_over_reading_only_entities_in_one() -> None:
    carried = {
        "id": "pbh-1",
        "name": "Upgrade",
        "type": "default_maintenance",
        "type_name": "Default maintenance",
        "reason_name": "Default",
        "timestamp": NOW - 3600,
    }
    entities = store(entity_document("disk", pbehavior_info=carried), entity_document("cpu"))
    pbh = await engine([maintenance(tstop=NOW - 60)], entities)

    events = await beat(pbh)

    assert [(e.event_type, e.entity_id, e.output) for e in events] == [
        ("pbhleave", "disk/srv01", "Title: Upgrade. Type: Default maintenance. Reason: Default."),
    ]
    assert entities.reads == ["in_pbehavior"]


async def test_beat_skips_soft_deleted_entities_and_broken_pbehaviors() -> None:
    entities = store(entity_document("disk", soft_deleted=NOW - 10))
    pbh = await engine([maintenance(), {"_id": "broken", "name": "no type"}], entities)
    assert await beat(pbh) == []


async def test_nothing_is_sent_when_entities_already_carry_what_is_in_force() -> None:
    entities = store(entity_document("disk"))
    pbh = await engine([maintenance()], entities)
    (enter,) = await beat(pbh)
    entities.documents["disk/srv01"]["pbehavior_info"] = enter.pbehavior_info
    assert await events_at(pbh, NOW + 60) == []


async def test_consumed_events_are_dropped() -> None:
    pbh = await engine([], store())
    assert (
        await pbh.handle(
            Event.model_validate(
                {
                    "connector": "c",
                    "connector_name": "n",
                    "event_type": "check",
                    "source_type": "component",
                    "component": "x",
                }
            )
        )
        is DROP
    )


def test_unknown_time_zone_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        build_settings(name="pbehavior", flags={"timezone": "Mars/Olympus"}, environ={}, options_model=PbehaviorOptions)


# --- the loop: beat → che → axe → next beat ---------------------------------------------------------


async def through(engines: Sequence[Any], events: Sequence[Event]) -> list[Event]:
    """`events` as published JSON, through each engine's batch handler in turn."""
    for eng in engines:
        decoded = [Event.model_validate_json(e.to_json(), context={"now": NOW}) for e in events]
        outcomes = await eng.handle_batch(decoded)
        events = [o for o in outcomes if isinstance(o, Event)]
    return list(events)


async def test_pbehavior_events_reach_the_alarm_through_che_and_axe() -> None:
    entities, alarms = store(), MemoryAlarmStore()
    che = CheEngine(build_settings(name="che", flags={}, environ={}), entities=entities, filters=MemoryDocuments())
    axe = AxeEngine(build_settings(name="axe", flags={}, environ={}), alarms=alarms, entities=entities)
    for eng in (che, axe):
        await eng.setup(Services())
    check = Event.model_validate(
        {
            "connector": "centreon",
            "connector_name": "centreon-1",
            "event_type": "check",
            "source_type": "resource",
            "component": "srv01",
            "resource": "disk",
            "state": 2,
            "timestamp": NOW - 7200,
        },
        context={"now": NOW},
    )
    await through([che, axe], [check])
    pbh = await engine([maintenance()], entities)

    (enter,) = await events_at(pbh, NOW)
    (forwarded,) = await through([che, axe], [enter])

    (alarm,) = (await alarms.find_open(["disk/srv01"])).values()
    assert alarm.value.pbehavior_info == enter.pbehavior_info
    assert [s.type for s in alarm.value.steps][-1] == "pbhenter"
    assert forwarded.alarm_change is not None and forwarded.alarm_change["Type"] == "pbhenter"
    assert entities.documents["disk/srv01"]["pbehavior_info"] == enter.pbehavior_info
    assert await events_at(pbh, NOW + 60) == []  # the entity now carries it

    (leave,) = await events_at(pbh, NOW + 3600)
    await through([che, axe], [leave])

    (alarm,) = (await alarms.find_open(["disk/srv01"])).values()
    assert alarm.value.pbehavior_info is None and alarm.value.pbh_inactive_duration == 3600
    assert "pbehavior_info" not in entities.documents["disk/srv01"]
    assert await events_at(pbh, NOW + 3660) == []
