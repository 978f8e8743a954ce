"""AlarmStore: open alarms by entity, read once per batch; changed alarms written in one bulk.

An alarm gathers steps for as long as it is open (hundreds when it flaps), and most events add
one or two: so a change is written as what changed (`$set`, `$unset`, and `$push` of the new
steps), not as the whole document again.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any, Final, Protocol

from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from engines.model.alarm import Alarm, State, Status
from engines.store.bulk import bulk_write
from engines.store.collections import ALARMS, RESOLVED_ALARMS
from engines.store.paging import pages
from framework import database_errors

__all__ = ["OPEN", "AlarmStore", "AsRead", "MemoryAlarmStore", "MongoAlarmStore", "alarm_update"]

#: The canonical "open alarm" filter: Canopsis leaves `v.resolved` absent (or null) until resolution.
OPEN: dict[str, Any] = {"v.resolved": None}
#: Alarms per page of the beat: an alarm that flaps holds hundreds of steps (~1.4 KB each in
#: memory), so 100 of them can take 20 MB.
BEAT_PAGE: Final = 100
#: By alarm id, each alarm as the batch read it, or None for one the batch opened (not stored yet).
AsRead = Mapping[str, "Alarm | None"]


def due_filter(now: int, canceled_before: int) -> dict[str, Any]:
    """The open alarms time may change (engines/axe/rules.py decides): OK ones (resolve rules),
    snoozes ending by `now`, cancellations made by `canceled_before`, flapping ones."""
    return {
        **OPEN,
        "$or": [
            {"v.state.val": int(State.OK)},
            {"v.snooze.val": {"$lte": now}},
            {"v.canceled.t": {"$lte": canceled_before}},
            {"v.status.val": int(Status.FLAPPING)},
        ],
    }


class AlarmStore(Protocol):
    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        """The open alarm of each entity that has one (at most one per entity)."""

    def due_for_beat(self, now: int, canceled_before: int) -> AsyncIterator[list[Alarm]]:
        """Pages of the open alarms `due_filter` selects (at least those), for the beat to decide
        on; each page is read when the previous one has been handled."""

    async def save_all(self, alarms: Sequence[Alarm], as_read: AsRead | None = None) -> None:
        """Store the last state of each alarm; resolved ones are also copied to `resolved_alarms`.

        `as_read` says what is stored already: an alarm the batch opened is inserted, one it read
        is updated with what changed since, any other one replaced whole. Raises
        DatabaseUnavailable when the database does not answer.
        """

    async def setup(self) -> None:
        """Create indexes; idempotent."""


def latest(alarms: Sequence[Alarm]) -> list[Alarm]:
    """A batch may change one alarm several times: keep its last state only."""
    return list({alarm.id: alarm for alarm in alarms}.values())


def alarm_update(before: Alarm, after: Alarm) -> dict[str, Any] | None:
    """The MongoDB update turning `before` (as stored) into `after`: fields changed are set, fields
    gone unset, new steps pushed; {} when nothing changed. None when an update cannot say it (the
    steps are not `before`'s followed by new ones, or a key would read as a path): replace then.
    """
    old_steps, new_steps = before.value.steps, after.value.steps
    if len(new_steps) < len(old_steps) or any(a is not b and a != b for a, b in zip(old_steps, new_steps)):
        return None
    old, new = _without_steps(before), _without_steps(after)
    sets: dict[str, Any] = {}
    unsets: dict[str, str] = {}
    for prefix, was, now in (("", old, new), ("v.", old.pop("v"), new.pop("v"))):
        if any("." in key or key.startswith("$") for key in now.keys() | was.keys()):
            return None
        sets.update((prefix + k, v) for k, v in now.items() if was.get(k, _ABSENT) != v)
        unsets.update((prefix + k, "") for k in was.keys() - now.keys())
    update: dict[str, Any] = {}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    if len(new_steps) > len(old_steps):
        pushed = [
            step.model_dump(mode="json", by_alias=True, exclude_none=True) for step in new_steps[len(old_steps) :]
        ]
        update["$push"] = {"v.steps": {"$each": pushed}}
    return update


_ABSENT = object()


def _without_steps(alarm: Alarm) -> dict[str, Any]:
    """The stored document but for `v.steps`: cheap next to the steps of an alarm that flaps."""
    return alarm.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"value": {"steps"}})


class MongoAlarmStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.alarms = db[ALARMS]
        self.resolved = db[RESOLVED_ALARMS]

    def __repr__(self) -> str:
        return f"<MongoAlarmStore {self.alarms.full_name}>"

    async def setup(self) -> None:
        with database_errors():
            # d for find_open, t for listing by creation: both written once. None on fields events
            # change: on FerretDB/DocumentDB, five such indexes (the beat's four and
            # v.last_update_date) doubled the cost of an alarm update (100 updates: 40 ms, 19
            # without), while the beat reads 100k open alarms without them in 0.4 s once per
            # interval. Not v.resolved either: the planner combined it with d's, and find_open then
            # took 40 ms at 100k open alarms instead of 4.
            for key in ("t", "d"):
                await self.alarms.create_index(key)
            for key in ("t", "d"):
                await self.resolved.create_index(key)

    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        if not entity_ids:
            return {}
        with database_errors():
            docs = await self.alarms.find({"d": {"$in": list(entity_ids)}, **OPEN}).to_list(None)
        return {doc["d"]: Alarm.from_document(doc) for doc in docs}

    async def due_for_beat(self, now: int, canceled_before: int) -> AsyncIterator[list[Alarm]]:
        async for docs in pages(self.alarms, due_filter(now, canceled_before), BEAT_PAGE):
            yield [Alarm.from_document(doc) for doc in docs]

    async def save_all(self, alarms: Sequence[Alarm], as_read: AsRead | None = None) -> None:
        writes: list[Any] = []
        resolved: list[Any] = []
        for alarm in latest(alarms):
            before = None if as_read is None else as_read.get(alarm.id)
            update = None if before is None else alarm_update(before, alarm)
            if update is None:  # opened by the batch, not read by it, or not expressible as an update
                opened = as_read is not None and alarm.id in as_read and before is None
                doc = alarm.to_document()
                writes.append(InsertOne(doc) if opened else ReplaceOne({"_id": alarm.id}, doc, upsert=True))
            elif update:
                writes.append(UpdateOne({"_id": alarm.id}, update))
            if alarm.is_resolved:  # once in an alarm's life
                resolved.append(ReplaceOne({"_id": alarm.id}, alarm.to_document(), upsert=True))
        with database_errors():
            await bulk_write(self.alarms, writes)
            await bulk_write(self.resolved, resolved)


class MemoryAlarmStore:
    """The same contract over dicts, for the embedded chain and fast tests."""

    def __init__(self) -> None:
        self.alarms: dict[str, dict[str, Any]] = {}
        self.resolved: dict[str, dict[str, Any]] = {}

    async def setup(self) -> None:
        return None

    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        wanted = set(entity_ids)
        return {a.entity_id: a for a in self._open() if a.entity_id in wanted}

    async def due_for_beat(self, now: int, canceled_before: int) -> AsyncIterator[list[Alarm]]:
        """Every open alarm in one page: a superset, the beat decides."""
        if alarms := self._open():
            yield alarms

    def _open(self) -> list[Alarm]:
        return [Alarm.from_document(copy.deepcopy(d)) for d in self.alarms.values() if not d["v"].get("resolved")]

    async def save_all(self, alarms: Sequence[Alarm], as_read: AsRead | None = None) -> None:
        for alarm in latest(alarms):
            doc = alarm.to_document()
            self.alarms[alarm.id] = doc
            if doc["v"].get("resolved"):
                self.resolved[alarm.id] = copy.deepcopy(doc)
