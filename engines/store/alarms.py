"""AlarmStore: open alarms by entity, read once per batch; changed alarms written in one bulk."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any, Protocol

from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from engines.model.alarm import Alarm, State, Status
from engines.store.bulk import bulk_write
from engines.store.collections import ALARMS, RESOLVED_ALARMS
from engines.store.paging import pages
from framework.services import database_errors

__all__ = ["AlarmStore", "MongoAlarmStore", "MemoryAlarmStore", "OPEN"]

#: The canonical "open alarm" filter: Canopsis leaves `v.resolved` absent (or null) until resolution.
OPEN: dict[str, Any] = {"v.resolved": None}

def due_filter(now: int, canceled_before: int) -> dict[str, Any]:
    """The open alarms time may change (engines/axe/rules.py decides): OK ones (resolve rules),
    snoozes ending by `now`, cancellations made by `canceled_before`, flapping ones."""
    return {**OPEN, "$or": [
        {"v.state.val": int(State.OK)},
        {"v.snooze.val": {"$lte": now}},
        {"v.canceled.t": {"$lte": canceled_before}},
        {"v.status.val": int(Status.FLAPPING)},
    ]}  # fmt: skip


class AlarmStore(Protocol):
    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        """The open alarm of each entity that has one (at most one per entity)."""

    def due_for_beat(self, now: int, canceled_before: int) -> AsyncIterator[list[Alarm]]:
        """Pages of the open alarms `due_filter` selects (at least those), for the beat to decide
        on; each page is read when the previous one has been handled."""

    async def save_all(self, alarms: Sequence[Alarm], created: Collection[str] = ()) -> None:
        """Store the last state of each alarm; resolved ones are also copied to `resolved_alarms`.

        `created` names the alarms this batch opened (not stored yet): they are inserted, which
        costs less than a replace. Raises DatabaseUnavailable when the database does not answer.
        """

    async def setup(self) -> None:
        """Create indexes; idempotent."""


def latest(alarms: Sequence[Alarm]) -> list[Alarm]:
    """A batch may change one alarm several times: keep its last state only."""
    return list({alarm.id: alarm for alarm in alarms}.values())


class MongoAlarmStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.alarms = db[ALARMS]
        self.resolved = db[RESOLVED_ALARMS]

    def __repr__(self) -> str:
        return f"<MongoAlarmStore {self.alarms.full_name}>"

    async def setup(self) -> None:
        with database_errors():
            # d: find_open; the v.* of due_filter: the beat; the others: listing alarms by time.
            for key in ("t", "d", "v.resolved", "v.state.val", "v.status.val", "v.snooze.val", "v.canceled.t",
                        "v.creation_date", "v.last_event_date", "v.last_update_date"):
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
        async for docs in pages(self.alarms, due_filter(now, canceled_before)):
            yield [Alarm.from_document(doc) for doc in docs]

    async def save_all(self, alarms: Sequence[Alarm], created: Collection[str] = ()) -> None:
        docs = [alarm.to_document() for alarm in latest(alarms)]
        writes: list[Any] = [
            InsertOne(d) if d["_id"] in created else ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs
        ]
        resolved = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs if d["v"].get("resolved")]
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

    async def save_all(self, alarms: Sequence[Alarm], created: Collection[str] = ()) -> None:
        for alarm in latest(alarms):
            doc = alarm.to_document()
            self.alarms[alarm.id] = doc
            if doc["v"].get("resolved"):
                self.resolved[alarm.id] = copy.deepcopy(doc)
