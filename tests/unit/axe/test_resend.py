"""BeatLedger and axe's beat while the chain lags: one event per alarm until applied or timed out."""

from __future__ import annotations

import time
import uuid
from typing import Any

from engines.axe.engine import AxeEngine, AxeOptions
from engines.axe.lifecycle import apply_event
from engines.axe.resend import BeatLedger
from engines.axe.rule_documents import DEFAULT_RESOLVE_RULE
from engines.axe.rules import Rules
from engines.model import Entity, Event
from engines.store.alarms import MemoryAlarmStore
from engines.store.documents import MemoryDocuments
from engines.store.entities import MemoryEntityStore
from framework import build_settings
from framework.services.connect import Services

NOW = int(time.time())


def entity(name: str) -> Entity:
    return Entity.model_validate(
        {
            "_id": f"{name}/web01",
            "name": name,
            "type": "resource",
            "created": NOW - 600,
            "component": "web01",
            "connector": "nagios/paris",
        }
    )


def event(name: str, event_type: str = "check", at: int = NOW - 300, **fields: Any) -> Event:
    return Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": event_type,
            "source_type": "resource",
            "component": "web01",
            "resource": name,
            "timestamp": at,
            **fields,
        },
        context={"now": NOW},
    )


def test_an_event_is_sent_once_until_the_timeout() -> None:
    ledger = BeatLedger(resend_after=600)
    resolve = event("disk", "resolve_close")
    ledger.start()
    assert ledger.to_send([resolve], NOW) == [resolve]
    assert ledger.finish() == 1
    ledger.start()
    assert ledger.to_send([resolve], NOW + 599) == []
    ledger.finish()
    ledger.start()
    assert ledger.to_send([resolve], NOW + 600) == [resolve]


def test_an_event_no_longer_called_for_is_forgotten_and_sent_again_if_due_again() -> None:
    ledger = BeatLedger(resend_after=600)
    resolve = event("disk", "resolve_close")
    ledger.start()
    ledger.to_send([resolve], NOW)
    ledger.finish()
    ledger.start()
    assert ledger.finish() == 0, "applied: the alarm no longer calls for it"
    ledger.start()
    assert ledger.to_send([resolve], NOW + 60) == [resolve]


def test_kinds_and_entities_are_counted_apart() -> None:
    ledger = BeatLedger(resend_after=600)
    ledger.start()
    decided = [event("disk", "resolve_close"), event("disk", "unsnooze"), event("cpu", "resolve_close")]
    assert ledger.to_send(decided, NOW) == decided


async def axe_with_ok_alarms(count: int) -> AxeEngine:
    entities, alarms = MemoryEntityStore(), MemoryAlarmStore()
    ok = []
    for i in range(count):
        name = f"r{i}"
        await entities.save_all([(None, entity(name))])
        created = apply_event(
            None, event(name, state=2, at=NOW - 300), entity(name), Rules(), NOW - 300, str(uuid.uuid4())
        ).alarm
        back = apply_event(created, event(name, state=0, at=NOW - 200), entity(name), Rules(), NOW - 200, "-").alarm
        assert back is not None
        ok.append(back)
    await alarms.save_all(ok)
    settings = build_settings(name="axe", flags={}, environ={}, options_model=AxeOptions)
    axe = AxeEngine(
        settings, alarms=alarms, entities=entities, resolve_rules=MemoryDocuments([DEFAULT_RESOLVE_RULE.to_document()])
    )
    await axe.setup(Services())
    return axe


async def beat(axe: AxeEngine) -> list[Event]:
    return [e async for page in await axe.beat() for e in page]


async def test_a_lagging_chain_gets_each_resolution_once_not_at_every_beat() -> None:
    axe = await axe_with_ok_alarms(3)
    first = await beat(axe)
    assert sorted(e.entity_id for e in first) == ["r0/web01", "r1/web01", "r2/web01"]
    assert {e.event_type for e in first} == {"resolve_close"}
    assert await beat(axe) == [], "not applied yet (queued behind the lag): not sent again"
