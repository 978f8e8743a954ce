"""ExecutionStore: scenario runs waiting or in progress, and the outbox of the events they produced.

Two collections. `action_execution` holds one document per scenario run (engines.action.
scenarios.Execution): written when its event is handled, before that event is acked; claimed
by the process that runs it (`claimed_by`, `claimed_until`, renewed on each beat, so a dead
process's claims lapse); deleted when the run ends. `action_outbox` holds the events a run
produced, as JSON text: a beat takes the unpublished ones (`emitted_by`, `emitted_beat`,
`emitted_at`) and returns them to the runtime, which publishes them with confirms before it can
run the next beat; that next beat deletes them. An outbox entry taken by a process that died
before its next beat is taken again once `stale` seconds old: delivery is at-least-once.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from engines.action.executions import Execution
from engines.model.event import Event
from engines.store.bulk import bulk_write
from engines.store.collections import ACTION_EXECUTIONS, ACTION_OUTBOX, PBEHAVIORS
from framework import database_errors

__all__ = ["ExecutionStore", "MemoryExecutionStore", "MongoExecutionStore"]

_last_seq = 0


def _seq() -> int:
    """Outbox order: nanoseconds since the epoch, strictly increasing within the process (and
    within MongoDB's 8-byte integers)."""
    global _last_seq
    _last_seq = max(time.time_ns(), _last_seq + 1)
    return _last_seq


def _outbox_entries(execution_id: str, step: int, events: Sequence[Event]) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"{execution_id}:{step}:{i}",
            "execution": execution_id,
            "seq": _seq(),
            "body": event.to_json().decode(),
            "emitted_by": None,
            "emitted_beat": 0,
            "emitted_at": 0.0,
        }
        for i, event in enumerate(events)
    ]


class ExecutionStore(Protocol):
    async def setup(self) -> None:
        """Create indexes; idempotent."""

    async def add(self, executions: Sequence[Execution]) -> None:
        """Store new executions; one already stored (a redelivered event) is left as it is."""

    async def claim_due(
        self, holder: str, now: float, until: float, limit: int, busy_alarms: Collection[str]
    ) -> list[Execution]:
        """Claim up to `limit` executions due at `now` whose claim lapsed and whose alarm is not
        in `busy_alarms`, until `until`; by run_at, priority, creation."""

    async def renew(self, ids: Collection[str], holder: str, until: float) -> None:
        """Extend the claims `holder` has on `ids`."""

    async def advance(self, execution_id: str, step: int, webhook: str) -> None:
        """Record that the actions before `step` are done, and what the webhooks answered."""

    async def finish(self, execution_id: str) -> None:
        """Delete an execution that ended (done, dropped or failed)."""

    async def release(self, holder: str) -> None:
        """Lapse the claims of `holder` at once (a clean stop), so they run again soon."""

    async def queue_events(self, execution_id: str, step: int, events: Sequence[Event]) -> None:
        """Put what step `step` of an execution produced into the outbox (idempotent)."""

    async def take_events(self, holder: str, beat: int, now: float, stale_before: float, limit: int) -> list[Event]:
        """Mark up to `limit` outbox events unpublished, or taken before `stale_before`, as taken
        by `holder` in `beat`; return them in the order they were queued."""

    async def forget_events(self, holder: str, before_beat: int) -> None:
        """Delete the events `holder` took in beats before `before_beat` (they were published)."""

    async def save_pbehavior(self, document: dict[str, Any]) -> None:
        """Insert a pbehavior unless one with its `_id` exists."""


class MongoExecutionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.executions = db[ACTION_EXECUTIONS]
        self.outbox = db[ACTION_OUTBOX]
        self.pbehaviors = db[PBEHAVIORS]

    def __repr__(self) -> str:
        return f"<MongoExecutionStore {self.executions.full_name}>"

    async def setup(self) -> None:
        with database_errors():
            for key in ("run_at", "claimed_until", "alarm_id"):
                await self.executions.create_index(key)
            for key in ("emitted_by", "emitted_at", "seq"):
                await self.outbox.create_index(key)

    async def add(self, executions: Sequence[Execution]) -> None:
        if not executions:
            return
        writes = [UpdateOne({"_id": e.id}, {"$setOnInsert": e.to_document()}, upsert=True) for e in executions]
        with database_errors():
            await bulk_write(self.executions, writes)

    async def claim_due(
        self, holder: str, now: float, until: float, limit: int, busy_alarms: Collection[str]
    ) -> list[Execution]:
        free = {"run_at": {"$lte": now}, "claimed_until": {"$lte": now}}
        claimed: list[Execution] = []
        with database_errors():
            candidates = await (
                self.executions.find(free, {"_id": 1, "alarm_id": 1})
                .sort([("run_at", 1), ("priority", 1), ("created", 1)])
                .limit(limit * 4)
                .to_list(None)
            )
            for candidate in candidates:
                if len(claimed) >= limit:
                    break
                if candidate.get("alarm_id") in busy_alarms:
                    continue
                doc = await self.executions.find_one_and_update(
                    {"_id": candidate["_id"], **free},
                    {"$set": {"claimed_by": holder, "claimed_until": until}},
                    return_document=ReturnDocument.AFTER,
                )
                if doc is not None:  # None: another process claimed it first
                    claimed.append(Execution.model_validate(doc))
        return claimed

    async def renew(self, ids: Collection[str], holder: str, until: float) -> None:
        if not ids:
            return
        with database_errors():
            await self.executions.update_many(
                {"_id": {"$in": list(ids)}, "claimed_by": holder}, {"$set": {"claimed_until": until}}
            )

    async def advance(self, execution_id: str, step: int, webhook: str) -> None:
        with database_errors():
            await self.executions.update_one({"_id": execution_id}, {"$set": {"step": step, "webhook": webhook}})

    async def finish(self, execution_id: str) -> None:
        with database_errors():
            await self.executions.delete_one({"_id": execution_id})

    async def release(self, holder: str) -> None:
        with database_errors():
            await self.executions.update_many({"claimed_by": holder}, {"$set": {"claimed_until": 0.0}})

    async def queue_events(self, execution_id: str, step: int, events: Sequence[Event]) -> None:
        entries = _outbox_entries(execution_id, step, events)
        if not entries:
            return
        with database_errors():
            await bulk_write(
                self.outbox, [UpdateOne({"_id": e["_id"]}, {"$setOnInsert": e}, upsert=True) for e in entries]
            )

    async def take_events(self, holder: str, beat: int, now: float, stale_before: float, limit: int) -> list[Event]:
        free = {"emitted_at": {"$lt": stale_before}}
        with database_errors():
            ids = [d["_id"] for d in await self.outbox.find(free, {"_id": 1}).sort("seq", 1).limit(limit).to_list(None)]
            if not ids:
                return []
            await self.outbox.update_many(
                {"_id": {"$in": ids}, **free},
                {"$set": {"emitted_by": holder, "emitted_beat": beat, "emitted_at": now}},
            )
            docs = await self.outbox.find({"emitted_by": holder, "emitted_beat": beat}).sort("seq", 1).to_list(None)
        return [Event.model_validate_json(d["body"], context={"now": now}) for d in docs]

    async def forget_events(self, holder: str, before_beat: int) -> None:
        with database_errors():
            await self.outbox.delete_many({"emitted_by": holder, "emitted_beat": {"$lt": before_beat}})

    async def save_pbehavior(self, document: dict[str, Any]) -> None:
        with database_errors():
            await self.pbehaviors.update_one({"_id": document["_id"]}, {"$setOnInsert": document}, upsert=True)


class MemoryExecutionStore:
    """The same contract in memory: for the embedded chain and tests."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.outbox: dict[str, dict[str, Any]] = {}
        self.pbehaviors: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<MemoryExecutionStore executions={len(self.executions)} outbox={len(self.outbox)}>"

    async def setup(self) -> None:
        pass

    async def add(self, executions: Sequence[Execution]) -> None:
        for execution in executions:
            self.executions.setdefault(execution.id, execution.to_document())

    async def claim_due(
        self, holder: str, now: float, until: float, limit: int, busy_alarms: Collection[str]
    ) -> list[Execution]:
        due = sorted(
            (d for d in self.executions.values() if d["run_at"] <= now and d["claimed_until"] <= now),
            key=lambda d: (d["run_at"], d["priority"], d["created"]),
        )
        claimed: list[Execution] = []
        for doc in due:
            if len(claimed) >= limit:
                break
            if doc["alarm_id"] in busy_alarms:
                continue
            doc.update(claimed_by=holder, claimed_until=until)
            claimed.append(Execution.model_validate(copy.deepcopy(doc)))
        return claimed

    async def renew(self, ids: Collection[str], holder: str, until: float) -> None:
        for execution_id in ids:
            doc = self.executions.get(execution_id)
            if doc is not None and doc["claimed_by"] == holder:
                doc["claimed_until"] = until

    async def advance(self, execution_id: str, step: int, webhook: str) -> None:
        if execution_id in self.executions:
            self.executions[execution_id].update(step=step, webhook=webhook)

    async def finish(self, execution_id: str) -> None:
        self.executions.pop(execution_id, None)

    async def release(self, holder: str) -> None:
        for doc in self.executions.values():
            if doc["claimed_by"] == holder:
                doc["claimed_until"] = 0.0

    async def queue_events(self, execution_id: str, step: int, events: Sequence[Event]) -> None:
        for entry in _outbox_entries(execution_id, step, events):
            self.outbox.setdefault(entry["_id"], entry)

    async def take_events(self, holder: str, beat: int, now: float, stale_before: float, limit: int) -> list[Event]:
        free = sorted((e for e in self.outbox.values() if e["emitted_at"] < stale_before), key=lambda e: e["seq"])
        taken = free[:limit]
        for entry in taken:
            entry.update(emitted_by=holder, emitted_beat=beat, emitted_at=now)
        return [Event.model_validate_json(e["body"], context={"now": now}) for e in taken]

    async def forget_events(self, holder: str, before_beat: int) -> None:
        for key in [k for k, e in self.outbox.items() if e["emitted_by"] == holder and e["emitted_beat"] < before_beat]:
            del self.outbox[key]

    async def save_pbehavior(self, document: dict[str, Any]) -> None:
        self.pbehaviors.setdefault(document["_id"], copy.deepcopy(document))
