"""One broker session's work: deliveries in, batches handled, outputs published, inputs acked.

Two stages run side by side:
  process: take the deliveries received so far (up to --batch-size), decode, handle, and write
           every output and dead letter of the batch in one go;
  settle:  in batch order, wait until the broker confirmed a batch's outputs, then ack the
           batch with one cumulative ack. An input is never acked before what it produced is safe.
Beside them: a watch on the connection, on a consumer the broker stopped feeding, and a refresh
of routes and partitions. A lost connection ends the session with BrokerUnavailable; what was in
flight is the broker's again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from framework.config.settings import Settings
from framework.engine import Engine
from framework.errors import BrokerUnavailable, StalledConsumer
from framework.observability.stats import Stats
from framework.runtime.handling import Handling
from framework.runtime.stopping import Stopping, sleep_or_stop
from framework.transport.base import Delivery, Session

__all__ = ["PIPELINE_DEPTH", "Pipeline"]

logger = logging.getLogger(__name__)

#: Batches written but not yet confirmed; bounds memory while confirms are slow.
PIPELINE_DEPTH: Final = 4
#: Seconds between two looks at what may change while connected (see Session.refresh).
REFRESH_INTERVAL: Final = 5.0


@dataclass(slots=True)
class _Written:
    """A batch whose outputs are on the wire; acked once `confirmed` resolves."""

    confirmed: Awaitable[None]
    last_tag: int
    size: int


class Pipeline:
    """Runs one session until it is lost (BrokerUnavailable) or, after a stop, drained."""

    def __init__(
        self,
        session: Session,
        handling: Handling,
        engine: Engine[Any],
        settings: Settings,
        stats: Stats,
        stop: asyncio.Event,
    ) -> None:
        self.session = session
        self.handling = handling
        self.engine = engine
        self.settings = settings
        self.stats = stats
        self.stop = stop
        #: Set when deliveries arrive, and by a stop request: the process stage waits on it.
        self.wake = asyncio.Event()
        self._inbox: deque[Delivery] = deque()

    async def run(self, on_consuming: Callable[[], None]) -> None:
        """Consume; `on_consuming` is called once the broker registered the consumer."""
        written: asyncio.Queue[_Written | None] = asyncio.Queue(maxsize=PIPELINE_DEPTH)
        await self.session.consume(self._on_delivery)
        on_consuming()
        async with asyncio.TaskGroup() as group:
            watchers = [
                group.create_task(_raise_when_lost(self.session), name="lost"),
                group.create_task(self._watch_consumer(), name="watchdog"),
                group.create_task(self._refresh(), name="refresh"),
            ]
            settle = group.create_task(self._settle(written), name="settle")
            try:
                await self._process(written)
            except Stopping:
                logger.warning("stopping while retrying: %d unacked messages will be redelivered", len(self._inbox))
                settle.cancel()
            else:
                await written.put(None)
                await settle
            for task in watchers:
                task.cancel()

    def _on_delivery(self, delivery: Delivery) -> None:
        self._inbox.append(delivery)
        self.stats.received += 1
        self.stats.last_delivery = delivery.received
        self.wake.set()

    async def _process(self, written: asyncio.Queue[_Written | None]) -> None:
        inbox, cancelled = self._inbox, False
        assigned: set[str] = set()
        while True:
            if self.stop.is_set() and not cancelled:
                # Drain: no new deliveries; those already here are finished, then acked.
                await self.session.cancel()
                cancelled = True
            if not inbox:
                if cancelled:
                    return
                self.wake.clear()
                await self.wake.wait()
                if self.settings.batch_wait and len(inbox) < self.settings.batch_size:
                    await sleep_or_stop(self.stop, self.settings.batch_wait)
                continue
            batch = [inbox.popleft() for _ in range(min(len(inbox), self.settings.batch_size))]
            for queue in sorted({d.queue for d in batch} - assigned):
                assigned.add(queue)
                await self.engine.on_assigned(queue)
            outgoing = await self.handling.batch(batch)
            await written.put(_Written(self.session.publish(outgoing), batch[-1].tag, len(batch)))

    async def _settle(self, written: asyncio.Queue[_Written | None]) -> None:
        while (item := await written.get()) is not None:
            await item.confirmed
            # Shielded: a drain timeout (or any cancel) never leaves an ack half done.
            await asyncio.shield(self.session.ack(item.last_tag))
            self.stats.acked += item.size

    async def _refresh(self) -> None:
        """Every few seconds: routes to partitioned next queues, and our share of our partitions."""
        while not self.stop.is_set():
            await asyncio.sleep(REFRESH_INTERVAL)
            await self.session.refresh()

    async def _watch_consumer(self) -> None:
        """Exit when the broker holds messages for us but delivers none (a dead consumer)."""
        loop = asyncio.get_running_loop()
        timeout = self.settings.stall_timeout
        quiet_since = loop.time()
        while True:
            await asyncio.sleep(min(timeout / 4, 5.0))
            now = loop.time()
            if self.stats.in_flight or self._inbox or self.stop.is_set():
                quiet_since = now
                continue
            quiet_since = max(quiet_since, self.stats.last_delivery)
            if now - quiet_since < timeout:
                continue
            depth = await self.session.queue_depth()
            if depth:
                raise StalledConsumer(
                    f"{depth} messages wait in {self.settings.consume_queue} but none was delivered"
                    f" for {now - quiet_since:.0f} s; exiting so that the service manager restarts the engine"
                )
            quiet_since = now


async def _raise_when_lost(session: Session) -> None:
    reason = await asyncio.shield(session.lost)
    raise BrokerUnavailable(f"connection closed: {reason or 'by the broker'}")
