"""Documents the stream never touches, inserted before the engines start, to show that their memory
does not follow what the database holds."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bench.sustained.settings import _INDEX, PRELOAD_CHUNK, PRELOAD_CONNECTOR
from engines.axe.lifecycle import apply_event
from engines.axe.replay import record_applied
from engines.axe.rules import Rules
from engines.che.context import apply_context
from engines.model.alarm import display_name
from engines.model.event import Event
from engines.store.collections import ALARMS, ENTITIES


def preload_templates(now: int) -> tuple[str, str]:
    """One resource entity and its open critical alarm, as che and axe write them, as JSON with
    `_INDEX` where a clone's index goes (component and resource names, hence ids).

    Built by the engines' own code from a critical check, so the documents have every field the
    engines write today, and change with them.
    """
    name = f"{PRELOAD_CONNECTOR}_{_INDEX}"
    check = {
        "connector": PRELOAD_CONNECTOR,
        "connector_name": PRELOAD_CONNECTOR,
        "event_type": "check",
        "source_type": "resource",
        "component": name,
        "resource": name,
        "state": 3,
        "output": "preloaded: CRITICAL - disk usage 97%",
    }
    event = Event.model_validate(check, context={"now": now})
    context = apply_context(event, {}, now)
    entity = context.entity
    assert entity is not None, context.error
    event = event.model_copy(update={"current_entity": entity.to_document()})
    event.received_as(_INDEX, redelivered=False)
    change = apply_event(None, event, entity, Rules(), now, new_id=_INDEX)
    assert change.alarm is not None
    alarm = record_applied(change.alarm, event)
    return json.dumps(entity.to_document()), json.dumps(alarm.to_document())


def clone_entity(template: str, i: int) -> dict[str, Any]:
    """Entity `preload_<i>/preload_<i>`."""
    return dict(json.loads(template.replace(_INDEX, str(i))))


def clone_alarm(template: str, i: int) -> dict[str, Any]:
    """The open alarm of entity `preload_<i>/preload_<i>`, with a fresh alarm id as axe gives one."""
    document = dict(json.loads(template.replace(_INDEX, str(i))))
    alarm_id = str(uuid.uuid4())
    document["_id"] = alarm_id
    document["v"]["display_name"] = display_name(alarm_id)
    document["cps_applied"] = [str(uuid.uuid4())]
    return document


async def preload(db: AsyncDatabase[dict[str, Any]], alarms: int, entities: int) -> None:
    """`entities` entities and open alarms on the first `alarms` of them, inserted in chunks."""
    entity_template, alarm_template = preload_templates(int(time.time()))
    await _insert(db, ENTITIES, entities, lambda i: clone_entity(entity_template, i))
    await _insert(db, ALARMS, alarms, lambda i: clone_alarm(alarm_template, i))


async def _insert(
    db: AsyncDatabase[dict[str, Any]], collection: str, n: int, make: Callable[[int], dict[str, Any]]
) -> None:
    if not n:
        return
    started = time.monotonic()
    step = max(n // 10, 1)  # about ten progress lines whatever n
    shown = 0
    for first in range(0, n, PRELOAD_CHUNK):
        last = min(first + PRELOAD_CHUNK, n)
        await db[collection].insert_many([make(i) for i in range(first, last)])
        if last - shown >= step or last == n:
            shown = last
            print(f"preload: {collection} {last:,}/{n:,} ({time.monotonic() - started:.1f} s)", flush=True)
