"""CachedAlarmStore: axe's open alarms held in memory, so that a batch reads no alarm.

axe needs the open alarm (or its absence) of every event's entity. The open-alarm query by
entity costs a scan of `periodical_alarm` on FerretDB and a round trip per batch on MongoDB,
while axe itself writes every change of those alarms: so it keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

from engines.model.alarm import Alarm
from engines.store.alarms import AlarmStore, latest
from engines.store.reloading import Reloading

__all__ = ["CachedAlarmStore"]


class CachedAlarmStore(Reloading):
    """The open alarms of `store` by entity, read whole at first use and every `refresh` seconds.

    Correct while this instance is the only one changing the alarms of the entities it handles:
    one axe, or several on partition queues (each entity's events reach one instance; `forget` is
    called when a partition moves here). A failed save forgets everything: what it wrote is unknown.
    """

    def __init__(self, store: AlarmStore, refresh: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(refresh, clock)
        self.store = store
        self.open: dict[str, Alarm] = {}

    def __repr__(self) -> str:
        return f"<CachedAlarmStore {len(self.open)} open alarms of {self.store!r}>"

    async def setup(self) -> None:
        await self.store.setup()

    async def find_open(self, entity_ids: Collection[str]) -> dict[str, Alarm]:
        if (started := self.due()) is not None:
            self.open = {a.entity_id: a for a in await self.store.open_alarms()}
            self.loaded(started)
        return {i: self.open[i] for i in entity_ids if i in self.open}

    async def open_alarms(self) -> list[Alarm]:
        return await self.store.open_alarms()

    async def save_all(self, alarms: Sequence[Alarm], created: Collection[str] = ()) -> None:
        try:
            await self.store.save_all(alarms, created)
        except BaseException:
            self.forget()
            raise
        for alarm in latest(alarms):
            if not alarm.is_resolved:
                self.open[alarm.entity_id] = alarm
            elif alarm.entity_id in self.open and self.open[alarm.entity_id].id == alarm.id:
                del self.open[alarm.entity_id]
