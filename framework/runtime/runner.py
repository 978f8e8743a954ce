"""The life of an engine process: connect, serve sessions, beat, observe, drain, close.

The runner opens the first broker session (bounded attempts), sets the engine up, and runs side by
side: the session's pipeline (framework/runtime/session.py: consume, handle, publish, settle),
reconnecting whenever a session is lost (in-flight work is the broker's again); the beat
(framework/runtime/beat.py); and the observers (STATUS= and the watchdog, throughput metrics).
A stop drains in the order framework/runtime/stopping.py sets out.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from framework.backoff import backoff_delays
from framework.config.settings import Settings
from framework.engine import Engine
from framework.errors import BrokerUnavailable
from framework.observability.notify import Notifier
from framework.observability.runinfo import RUN_INFO_COLLECTION, RunInfoWriter
from framework.observability.stats import Stats
from framework.observability.systemd import STATUS_INTERVAL, feed_watchdog, report_status
from framework.observability.throughput import report_throughput
from framework.runtime.beat import Beat
from framework.runtime.handling import Handling
from framework.runtime.session import Pipeline
from framework.runtime.stopping import Stopping, drain, sleep_or_stop
from framework.services.connect import Services
from framework.transport.base import Session, Topology, Transport
from framework.transport.names import dead_letter_queue

__all__ = ["Runner"]

logger = logging.getLogger(__name__)


class Runner:
    """Runs one engine against one transport until `stop` is set (or a fatal error).

    It is also what observers read (framework/observability/view.py): settings, stats, whether it
    consumes or drains, its health and its queue's length.
    """

    def __init__(
        self,
        engine: Engine[Any],
        settings: Settings,
        transport: Transport,
        *,
        stop: asyncio.Event | None = None,
        on_ready: Callable[[], None] | None = None,
        services: Services | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.transport = transport
        self.stop = stop or asyncio.Event()
        self.on_ready = on_ready
        self.services = services or Services()
        self.stats = Stats()
        self.notifier = notifier or Notifier(None)
        self.handling = Handling(engine, settings, self.stats, self.stop)
        self._pipeline: Pipeline | None = None
        #: Loop time since when there has been no session (None while connected).
        self._disconnected_at: float | None = None
        self._progress: tuple[tuple[int, ...], float] = ((), 0.0)
        self.last_queue_length: int | None = None
        mongo = self.services.mongo
        self.run_info = RunInfoWriter(mongo[RUN_INFO_COLLECTION], settings) if mongo is not None else None
        #: Seconds between STATUS= lines (tests shorten it).
        self.status_interval = STATUS_INTERVAL

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"<Runner {self.settings.instance_name} queue={self.settings.consume_queue} "
            f"in_flight={s.in_flight} done={s.processed} dead={s.dead}>"
        )

    @property
    def topology(self) -> Topology:
        s = self.settings
        return Topology(
            consume_queue=s.consume_queue,
            publish_queues=s.publish_queues,
            dead_letter_queue=dead_letter_queue(s.consume_queue),
            exchange=s.exchange,
            bindings=s.bindings,
            prefetch=s.prefetch,
            consumer_name=f"{s.instance_name}:{s.consume_queue}",
            partitions=s.partitions,
        )

    @property
    def _session(self) -> Session | None:
        """The session consuming now (None while connecting or reconnecting)."""
        return self._pipeline.session if self._pipeline is not None else None

    # ---- process life ------------------------------------------------------------------

    async def run(self) -> None:
        """Open the first session (bounded attempts), then serve until stopped, then close.

        Raises BrokerUnavailable when the broker never answered at start, StalledConsumer when
        the watchdog found the consumer dead; both mean "exit non-zero, let systemd restart".
        """
        session = await self._open(attempts=self.settings.connect_attempts)
        await self.engine.setup(self.services)
        beat = Beat(self.engine, self, self.services, self.run_info, lambda: self._session, self.stop)
        try:
            async with asyncio.TaskGroup() as group:
                background = [group.create_task(beat.run(), name="beat")]
                if self.settings.influx_url:
                    background.append(group.create_task(report_throughput(self, self.services.influx), name="metrics"))
                if self.notifier.enabled:
                    status = report_status(self, self.notifier, self.status_interval)
                    background.append(group.create_task(status, name="status"))
                if self.notifier.watchdog_timeout:
                    background.append(group.create_task(feed_watchdog(self, self.notifier), name="watchdog"))
                serve = group.create_task(self._serve(session), name="serve")
                stopped = group.create_task(self.stop.wait(), name="stop")
                await asyncio.wait((serve, stopped), return_when=asyncio.FIRST_COMPLETED)
                if not serve.done():
                    self._wake()
                    await drain(serve, self.settings.drain_timeout, self.notifier, self.stats)
                stopped.cancel()
                for task in background:
                    task.cancel()
        finally:
            await self.engine.close()
        s = self.stats
        logger.info(
            "stopped: %d received, %d processed, %d forwarded, %d dropped, %d dead-lettered, %d retried",
            s.received,
            s.processed,
            s.forwarded,
            s.dropped,
            s.dead,
            s.retried,
        )

    def request_stop(self) -> None:
        self.stop.set()
        self._wake()

    def _wake(self) -> None:
        if self._pipeline is not None:
            self._pipeline.wake.set()

    # ---- health (STATUS=, WATCHDOG=1, /health, run-info) ---------------------------------

    @property
    def draining(self) -> bool:
        return self.stop.is_set()

    @property
    def consuming(self) -> bool:
        """True while a session is open, its consumer registered, and no stop was requested."""
        return self._session is not None and not self._session.lost.done() and not self.stop.is_set()

    def health(self) -> str | None:
        """None while the consumer is alive, else why not (for the watchdog).

        Alive: a session is open (or the engine has been reconnecting for less than
        --stall-timeout), and work in flight makes progress (events handled, acked or retried)
        within --stall-timeout, so a handler stuck on a call that never returns is caught.
        """
        now = asyncio.get_running_loop().time()
        timeout = self.settings.stall_timeout
        if self._session is None or self._session.lost.done():
            since = self._disconnected_at if self._disconnected_at is not None else now
            if now - since >= timeout:
                return f"not connected to RabbitMQ for {now - since:.1f} s"
            return None
        s = self.stats
        mark = (s.processed, s.acked, s.retried)  # not received: deliveries arrive while a handler hangs
        seen, at = self._progress
        if mark != seen or not s.in_flight:
            self._progress = (mark, now)
            return None
        if now - at >= timeout:
            return f"{s.in_flight} messages in flight and none handled or acked for {now - at:.1f} s"
        return None

    async def queue_length(self) -> int | None:
        """Messages ready in the consumed queue and its partitions (asked to the broker), or None
        when not connected."""
        session = self._session
        if session is None:
            return None
        try:
            async with asyncio.timeout(5.0):
                self.last_queue_length = await session.backlog()
        except (BrokerUnavailable, TimeoutError):
            return None
        return self.last_queue_length

    async def _open(self, attempts: int | None) -> Session:
        """Open a session, retrying with back-off; None attempts = until stopped."""
        started = time.monotonic()
        delays = backoff_delays(cap=self.settings.retry_max_delay)
        for attempt in itertools.count(1):
            try:
                session = await self.transport.open(self.topology)
            except BrokerUnavailable as exc:
                if attempts is not None and attempt >= attempts:
                    elapsed = time.monotonic() - started
                    raise BrokerUnavailable(
                        f"{exc.detail}; no answer after {attempt} attempts in {elapsed:.0f} s;"
                        " is RabbitMQ running? (deploy/local/start)"
                    ) from None
                delay = next(delays)
                logger.warning("cannot reach RabbitMQ (%s); retrying in %.1f s", exc.detail, delay)
                if await sleep_or_stop(self.stop, delay):
                    raise Stopping() from None
                continue
            logger.info("connected to RabbitMQ, consuming %s", self.settings.consume_queue)
            return session
        raise AssertionError("unreachable")

    async def _serve(self, session: Session) -> None:
        while True:
            try:
                await self._run_session(session)
                return
            except* BrokerUnavailable as group:
                logger.warning("connection lost (%s); in-flight messages will be redelivered", group.exceptions[0])
            finally:
                self._pipeline = None
                self._disconnected_at = asyncio.get_running_loop().time()
                await session.close()
            if self.stop.is_set():
                return
            self.stats.reconnects += 1
            self.stats.acked = self.stats.received  # unacked deliveries are the broker's again
            try:
                session = await self._open(attempts=None)
            except Stopping:
                return

    async def _run_session(self, session: Session) -> None:
        pipeline = Pipeline(session, self.handling, self.engine, self.settings, self.stats, self.stop)

        def consuming() -> None:
            self._pipeline = pipeline
            self._disconnected_at = None
            if self.on_ready is not None:
                self.on_ready()

        await pipeline.run(consuming)
