"""The life of an engine process: connect, consume, handle, publish, settle, beat, drain, close.

Per session (one broker connection), two stages run side by side:
  process: take the deliveries received so far (up to --batch-size), decode, handle, and write
           every output and dead letter of the batch in one go;
  settle:  in batch order, wait until the broker confirmed a batch's outputs, then ack the
           batch with one cumulative ack. An input is never acked before what it produced is safe.
Beside them, the beat loop and, with CPS_INFLUX_URL, the throughput report (framework/observability/throughput.py).
A lost connection discards in-flight work (the broker redelivers it) and opens a new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from functools import partial
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from framework.engine import BeatOutput, Engine, in_turns, outputs_of
from framework.errors import BadEvent, BrokerUnavailable, ServiceUnavailable, StalledConsumer
from framework.message import Message, decode
from framework.transport.names import DEAD_ENGINE_HEADER, DEAD_QUEUE_HEADER, DEAD_REASON_HEADER, dead_letter_queue
from framework.runtime.lease import LEASE_COLLECTION, Lease, holder_id
from framework.observability.throughput import report_throughput
from framework.observability.notify import Notifier
from framework.observability.stats import Stats
from framework.observability.runinfo import RUN_INFO_COLLECTION, RunInfoWriter
from framework.observability.systemd import STATUS_INTERVAL, feed_watchdog, report_status
from framework.services.connect import Services, backoff_delays
from framework.config.settings import Settings
from framework.transport.base import Delivery, Outgoing, Session, Topology, Transport

__all__ = ["Runner", "Stats"]

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


class _Stopping(Exception):
    """Raised inside a session when a stop was requested while work was being retried."""


class Runner:
    """Runs one engine against one transport until `stop` is set (or a fatal error)."""

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
        self._batch_override = type(engine).handle_batch is not Engine.handle_batch
        self._balance = itertools.cycle(range(max(1, len(settings.publish_queues))))
        self._wake = asyncio.Event()
        self._session: Session | None = None
        self.notifier = notifier or Notifier(None)
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

    # ---- process life ------------------------------------------------------------------

    async def run(self) -> None:
        """Open the first session (bounded attempts), then serve until stopped, then close.

        Raises BrokerUnavailable when the broker never answered at start, StalledConsumer when
        the watchdog found the consumer dead; both mean "exit non-zero, let systemd restart".
        """
        session = await self._open(attempts=self.settings.connect_attempts)
        await self.engine.setup(self.services)
        try:
            async with asyncio.TaskGroup() as group:
                beat = group.create_task(self._beat_loop(), name="beat")
                helpers = []
                if self.settings.influx_url:
                    helpers.append(group.create_task(report_throughput(self, self.services.influx), name="metrics"))
                if self.notifier.enabled:
                    status = report_status(self, self.notifier, self.status_interval)
                    helpers.append(group.create_task(status, name="status"))
                if self.notifier.watchdog_timeout:
                    helpers.append(group.create_task(feed_watchdog(self, self.notifier), name="watchdog"))
                serve = group.create_task(self._serve(session), name="serve")
                stopped = group.create_task(self.stop.wait(), name="stop")
                await asyncio.wait((serve, stopped), return_when=asyncio.FIRST_COMPLETED)
                if not serve.done():
                    self._wake.set()
                    self.notifier.send("STOPPING=1", f"STATUS=draining: {self.stats.in_flight} in flight")
                    logger.info("draining: %d in flight", self.stats.in_flight)
                    done, _ = await asyncio.wait((serve,), timeout=self.settings.drain_timeout)
                    if not done:
                        logger.warning(
                            "drain not finished after %.0f s; %d unacked messages will be redelivered",
                            self.settings.drain_timeout, self.stats.in_flight,
                        )
                        serve.cancel()
                stopped.cancel()
                beat.cancel()
                for helper in helpers:
                    helper.cancel()
        finally:
            await self.engine.close()
        s = self.stats
        logger.info(
            "stopped: %d received, %d processed, %d forwarded, %d dropped, %d dead-lettered, %d retried",
            s.received, s.processed, s.forwarded, s.dropped, s.dead, s.retried,
        )

    def request_stop(self) -> None:
        self.stop.set()
        self._wake.set()

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
                if await self._sleep_or_stop(delay):
                    raise _Stopping() from None
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
                self._session = None
                self._disconnected_at = asyncio.get_running_loop().time()
                await session.close()
            if self.stop.is_set():
                return
            self.stats.reconnects += 1
            self.stats.acked = self.stats.received  # unacked deliveries are the broker's again
            try:
                session = await self._open(attempts=None)
            except _Stopping:
                return

    async def _run_session(self, session: Session) -> None:
        inbox: deque[Delivery] = deque()
        written: asyncio.Queue[_Written | None] = asyncio.Queue(maxsize=PIPELINE_DEPTH)
        wake = self._wake = asyncio.Event()

        def on_delivery(delivery: Delivery) -> None:
            inbox.append(delivery)
            self.stats.received += 1
            self.stats.last_delivery = delivery.received
            wake.set()

        await session.consume(on_delivery)
        self._session = session
        self._disconnected_at = None
        if self.on_ready is not None:
            self.on_ready()
        async with asyncio.TaskGroup() as group:
            watchers = [
                group.create_task(_raise_when_lost(session), name="lost"),
                group.create_task(self._watch_consumer(session, inbox), name="watchdog"),
            ]
            watchers.append(group.create_task(self._refresh(session), name="refresh"))
            settle = group.create_task(self._settle(session, written), name="settle")
            try:
                await self._process(session, inbox, written, wake)
            except _Stopping:
                logger.warning("stopping while retrying: %d unacked messages will be redelivered", len(inbox))
                settle.cancel()
            else:
                await written.put(None)
                await settle
            for task in watchers:
                task.cancel()

    # ---- stages --------------------------------------------------------------------------

    async def _process(
        self, session: Session, inbox: deque[Delivery], written: asyncio.Queue[_Written | None], wake: asyncio.Event
    ) -> None:
        cancelled = False
        assigned: set[str] = set()
        while True:
            if self.stop.is_set() and not cancelled:
                # Drain: no new deliveries; those already here are finished, then acked.
                await session.cancel()
                cancelled = True
            if not inbox:
                if cancelled:
                    return
                wake.clear()
                await wake.wait()
                if self.settings.batch_wait and len(inbox) < self.settings.batch_size:
                    await self._sleep_or_stop(self.settings.batch_wait)
                continue
            batch = [inbox.popleft() for _ in range(min(len(inbox), self.settings.batch_size))]
            for queue in sorted({d.queue for d in batch} - assigned):
                assigned.add(queue)
                await self.engine.on_assigned(queue)
            outgoing = await self._handle_batch(batch)
            await written.put(_Written(session.publish(outgoing), batch[-1].tag, len(batch)))

    async def _settle(self, session: Session, written: asyncio.Queue[_Written | None]) -> None:
        while (item := await written.get()) is not None:
            await item.confirmed
            await session.ack(item.last_tag)
            self.stats.acked += item.size

    async def _refresh(self, session: Session) -> None:
        """Every few seconds: routes to partitioned next queues, and our share of our partitions."""
        while not self.stop.is_set():
            await asyncio.sleep(REFRESH_INTERVAL)
            await session.refresh()

    async def _watch_consumer(self, session: Session, inbox: deque[Delivery]) -> None:
        """Exit when the broker holds messages for us but delivers none (a dead consumer)."""
        loop = asyncio.get_running_loop()
        timeout = self.settings.stall_timeout
        quiet_since = loop.time()
        while True:
            await asyncio.sleep(min(timeout / 4, 5.0))
            now = loop.time()
            if self.stats.in_flight or inbox or self.stop.is_set():
                quiet_since = now
                continue
            quiet_since = max(quiet_since, self.stats.last_delivery)
            if now - quiet_since < timeout:
                continue
            depth = await session.queue_depth()
            if depth:
                raise StalledConsumer(
                    f"{depth} messages wait in {self.settings.consume_queue} but none was delivered"
                    f" for {now - quiet_since:.0f} s; exiting so that the service manager restarts the engine"
                )
            quiet_since = now

    # ---- handling ------------------------------------------------------------------------

    async def _handle_batch(self, batch: Sequence[Delivery]) -> list[Outgoing]:
        """Decode and handle a batch; return its outputs and dead letters, in delivery order."""
        started = time.perf_counter()
        now = time.time()
        model = self.engine.message_model
        decoded: list[tuple[Delivery, Message]] = []
        results: dict[int, Sequence[Message] | BaseException] = {}
        async for delivery in in_turns(batch):
            try:
                message = decode(model, delivery.body, {"now": now})
                message.received_as(delivery.message_id, delivery.redelivered)
                decoded.append((delivery, message))
            except BadEvent as exc:
                results[delivery.tag] = exc
        if decoded:
            if self._batch_override:
                results.update(await self._handle_as_batch(decoded))
            else:
                results.update(await self._handle_each(decoded))
        outgoing: list[Outgoing] = []
        async for delivery in in_turns(batch):
            result = results[delivery.tag]
            if isinstance(result, BaseException):
                outgoing.append(self._dead_letter(delivery, result))
            else:
                outgoing.extend(self._route(delivery, result))
        elapsed = time.perf_counter() - started
        self.stats.processed += len(batch)
        self.stats.busy += elapsed
        self.stats.batch_seconds.observe(elapsed)
        return outgoing

    async def _handle_each(
        self, decoded: Sequence[tuple[Delivery, Message]]
    ) -> dict[int, Sequence[Message] | BaseException]:
        results: dict[int, Sequence[Message] | BaseException] = {}

        async def handle_group(group: Sequence[tuple[Delivery, Message]]) -> None:
            for delivery, event in group:
                results[delivery.tag] = await self._attempt(partial(self._handle_one, event), (event,))

        if self.settings.workers == 1:
            await handle_group(decoded)
            return results
        groups: dict[object, list[tuple[Delivery, Message]]] = {}
        for item in decoded:
            key = item[1].key
            groups.setdefault(key if key is not None else object(), []).append(item)
        limit = asyncio.Semaphore(self.settings.workers)

        async def bounded(group: Sequence[tuple[Delivery, Message]]) -> None:
            async with limit:
                await handle_group(group)

        try:
            async with asyncio.TaskGroup() as tg:
                for group in groups.values():
                    tg.create_task(bounded(group))
        except* _Stopping:
            raise _Stopping() from None
        return results

    async def _handle_as_batch(
        self, decoded: Sequence[tuple[Delivery, Message]]
    ) -> dict[int, Sequence[Message] | BaseException]:
        events = [event for _, event in decoded]

        async def whole() -> list[Sequence[Message] | BadEvent]:
            outcomes = await self.engine.handle_batch(events)
            if len(outcomes) != len(events):
                raise TypeError(f"handle_batch returned {len(outcomes)} outcomes for {len(events)} events")
            return [o if isinstance(o, BadEvent) else outputs_of(o) for o in outcomes]

        result = await self._attempt(whole, events)
        if not isinstance(result, BaseException):
            return {d.tag: outputs for (d, _), outputs in zip(decoded, result)}
        if len(decoded) == 1:
            return {decoded[0][0].tag: result}
        # One event spoiled the batch: replay one by one so only the culprit is dead-lettered.
        isolated: dict[int, Sequence[Message] | BaseException] = {}
        for event in events:
            event.handled_again()
        for delivery, event in decoded:
            single = await self._attempt(partial(self._single, event), (event,))
            isolated[delivery.tag] = single
        return isolated

    async def _single(self, event: Message) -> Sequence[Message]:
        (outcome,) = await self.engine.handle_batch([event])
        if isinstance(outcome, BadEvent):
            raise outcome
        return outputs_of(outcome)

    async def _handle_one(self, event: Message) -> Sequence[Message]:
        return outputs_of(await self.engine.handle(event))

    async def _attempt(self, call: Callable[[], Awaitable[Any]], events: Sequence[Message]) -> Any:
        """Run `call` on `events`, retrying service outages with back-off; return its result or the
        error to dead-letter. A retry hands `events` again, so they count as redelivered then."""
        delays = backoff_delays(cap=self.settings.retry_max_delay)
        while True:
            try:
                return await call()
            except ServiceUnavailable as exc:
                delay = next(delays)
                self.stats.retried += 1
                logger.warning("%s; retrying in %.1f s", exc, delay)
                for event in events:
                    event.handled_again()
                if await self._sleep_or_stop(delay):
                    raise _Stopping() from None
            except BadEvent as exc:
                return exc
            except Exception as exc:  # a bug in the handler: never kills the engine
                logger.exception("handler error in %s; the event goes to the dead-letter queue", self.settings.instance_name)
                return exc

    def _route(self, delivery: Delivery, outputs: Sequence[Message]) -> list[Outgoing]:
        if not outputs:
            self.stats.dropped += 1
            return []
        queues = self.settings.publish_queues
        message_id = delivery.message_id if len(outputs) == 1 else None
        routed: list[Outgoing] = []
        for message in outputs:
            body = message.to_json()
            targets = (queues[next(self._balance)],) if self.settings.balanced and queues else queues
            key = message.key
            routed.extend(Outgoing(body=body, routing_key=q, message_id=message_id, key=key) for q in targets)
        self.stats.forwarded += len(routed)
        return routed

    def _dead_letter(self, delivery: Delivery, error: BaseException) -> Outgoing:
        reason = error.reason if isinstance(error, BadEvent) else f"handler error: {type(error).__name__}: {error}"
        self.stats.dead += 1
        if self.settings.print_event_on_error:
            logger.warning("dead-lettered (%s): %r", reason, delivery.body[:2048])
        else:
            logger.info("dead-lettered: %s", reason)
        headers = dict(delivery.headers or {})
        headers.update(
            {
                DEAD_REASON_HEADER: reason[:1024],
                DEAD_ENGINE_HEADER: self.settings.instance_name,
                DEAD_QUEUE_HEADER: self.settings.consume_queue,
            }
        )
        return Outgoing(
            body=delivery.body,
            routing_key=dead_letter_queue(self.settings.consume_queue),
            message_id=delivery.message_id,
            headers=headers,
        )

    # ---- beat ----------------------------------------------------------------------------

    async def _beat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.beat_interval
        lease = self._beat_lease()
        next_at = loop.time() + interval
        if self.run_info is not None:
            await self.run_info.refresh(self)
        while not await self._sleep_or_stop(next_at - loop.time()):
            started = loop.time()
            if self.run_info is not None:
                await self.run_info.refresh(self)  # every instance, lease or not
            try:
                if lease is not None and not await lease.acquire(interval, time.time()):
                    logger.debug("beat skipped: another instance holds %s", lease.name)
                    next_at += interval
                    continue
                await self._emit_all(await self.engine.beat())
            except _Stopping:
                return
            except ServiceUnavailable as exc:
                logger.warning("beat skipped: %s", exc)
            except Exception:
                logger.exception("beat failed in %s", self.settings.instance_name)
            self.stats.beats += 1
            self.stats.beat_seconds = loop.time() - started
            self.stats.last_beat = time.time()
            logger.debug("beat %d took %.3f s", self.stats.beats, self.stats.beat_seconds)
            # Never overlap, never catch up in a burst: the next tick is the next one still ahead.
            next_at += interval * max(1, -(-(loop.time() - next_at) // interval))

    def _beat_lease(self) -> Lease | None:
        if not self.engine.beat_once or self.services.mongo is None:
            return None  # without MongoDB (the embedded chain) there is one process: no one to share with
        return Lease(
            self.services.mongo[LEASE_COLLECTION],
            f"beat:{self.settings.name}",
            holder_id(self.settings.instance_name),
        )

    async def _emit_all(self, emitted: BeatOutput) -> None:
        if isinstance(emitted, AsyncGenerator):
            async with contextlib.aclosing(emitted) as batches:
                async for batch in batches:
                    if batch:
                        await self._emit(batch)
        elif emitted:
            await self._emit(emitted)

    async def _emit(self, messages: Sequence[Message]) -> None:
        """Publish to the head of the chain, retrying through reconnects until confirmed."""
        outgoing = [Outgoing(body=m.to_json(), routing_key="", exchange=self.settings.exchange) for m in messages]
        delays = backoff_delays(cap=self.settings.retry_max_delay)
        while True:
            try:
                if self._session is None:
                    raise BrokerUnavailable("not connected")
                await self._session.publish(outgoing)
                return
            except BrokerUnavailable as exc:
                delay = next(delays)
                logger.warning("beat events not published (%s); retrying in %.1f s", exc.detail, delay)
                if await self._sleep_or_stop(delay):
                    raise _Stopping() from None

    async def _sleep_or_stop(self, delay: float) -> bool:
        """Sleep `delay` seconds; return True at once if a stop is requested meanwhile."""
        if self.stop.is_set():
            return True
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, delay))
        except TimeoutError:
            return False
        return True


async def _raise_when_lost(session: Session) -> None:
    reason = await asyncio.shield(session.lost)
    raise BrokerUnavailable(f"connection closed: {reason or 'by the broker'}")
