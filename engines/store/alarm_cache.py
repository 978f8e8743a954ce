"""CachedAlarmStore: the open alarms axe handled recently, so that most batches read no alarm.

axe needs the open alarm (or its absence) of every event's entity, and writes every change of
those alarms itself: a batch finds most of them in memory and reads only the others, in one
query. The cache is bounded in bytes, so memory follows neither the number of open alarms in the
database nor their steps (an alarm that flaps for hours holds hundreds).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Final

from engines.model.alarm import Alarm
from engines.store.alarms import AlarmStore, AsRead, latest
from engines.store.recent import Recent

__all__ = ["CachedAlarmStore", "alarm_bytes"]

#: What an alarm costs as Python objects, measured: ~8 KB, and ~1.4 KB per step.
ALARM_BYTES: Final = 8_000
STEP_BYTES: Final = 1_400
ABSENT_BYTES: Final = 200


def alarm_bytes(alarm: Alarm | None) -> int:
    return ABSENT_BYTES if alarm is None else ALARM_BYTES + STEP_BYTES * len(alarm.value.steps)


class CachedAlarmStore:
    """The open alarm (or its absence) of the entities used last, within `capacity` bytes (as
    `alarm_bytes` estimates them), each trusted for `ttl` seconds.

    Correct while this instance is the only one changing the alarms of the entities it handles:
    one axe, or several on partition queues (each entity's events reach one instance; `forget` is
    called when a partition moves here). A failed save forgets everything: what it wrote is unknown.
    """

    def __init__(
        self, store: AlarmStore, capacity: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.recent: Recent[str, Alarm] = Recent(capacity, ttl, clock, alarm_bytes)

    def __repr__(self) -> str:
        return f"<CachedAlarmStore {len(self.recent)} entities of {self.store!r}>"

    async def setup(self) -> None:
        await self.store.setup()

    def forget(self) -> None:
        self.recent.clear()

    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        return await self.recent.read_through(entity_ids, self.store.find_open)

    def due_for_beat(self, now: int, canceled_before: int) -> AsyncIterator[list[Alarm]]:
        return self.store.due_for_beat(now, canceled_before)

    async def save_all(self, alarms: Sequence[Alarm], as_read: AsRead | None = None) -> None:
        try:
            await self.store.save_all(alarms, as_read)
        except BaseException:
            self.forget()
            raise
        now_open: dict[str, Alarm | None] = {}
        for alarm in latest(alarms):
            if not alarm.is_resolved:
                now_open[alarm.entity_id] = alarm
            elif now_open.get(alarm.entity_id) is None:  # not reopened by a later event of the batch
                now_open[alarm.entity_id] = None
        self.recent.store(now_open)
