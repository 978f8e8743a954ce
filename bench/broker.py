"""The bench's own side of the broker: declare and delete queues, preload, pace, and time arrivals."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from bench.events import stamp

PERSISTENT: Final = 2
PROPERTIES: Final = spec.Basic.Properties(content_type="application/json", delivery_mode=PERSISTENT)
#: What a restarted or lost broker raises here; a round that meets one is run again.
#: (aiormq raises ChannelInvalidStateError, a RuntimeError, on a channel a lost connection closed.)
BROKER_LOST: Final = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError, OSError)
#: Publishes awaited together while preloading; confirms are pipelined, so the preload is quick.
PRELOAD_WINDOW: Final = 500


@dataclass
class Arrivals:
    """Wall-clock arrival time and body of every message consumed from a queue."""

    expected: int
    times: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, message: DeliveredMessage) -> None:
        self.times.append(time.time())
        self.bodies.append(message.body)
        if len(self.times) >= self.expected:
            self.complete.set()


class BenchBroker:
    """One aiormq connection for the bench process: a confirming channel and a consuming one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.created: set[str] = set()  # deleted once more at exit: a broker restart can undo a delete
        self.exchanges: set[str] = set()  # likewise

    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            await self.delete_queues(*self.created)
            await self.delete_exchanges(*self.exchanges)
        finally:
            await self.connection.close()

    async def _connect(self, attempts: int = 30, delay: float = 2.0) -> None:
        """Connect, waiting out a broker restart (other sessions run fault tests on this broker)."""
        for attempt in range(1, attempts + 1):
            try:
                self.connection = await aiormq.connect(self.url)
                self.publisher = await self.connection.channel(publisher_confirms=True)
                self.pacer = await self.connection.channel(publisher_confirms=False)
                self.consumer = await self.connection.channel(publisher_confirms=False)
                return
            except BROKER_LOST:
                if attempt == attempts:
                    raise
                await asyncio.sleep(delay)

    async def reconnect(self) -> None:
        """Open a new connection after losing the broker, and delete what the lost one could not."""
        with contextlib.suppress(BROKER_LOST):
            await self.connection.close()
        await self._connect()
        await self.delete_queues(*self.created)
        await self.delete_exchanges(*self.exchanges)

    async def fresh_queues(self, *names: str) -> None:
        """Declare durable queues (as the engines do) and purge them."""
        self.created.update(names)
        for name in names:
            await self.publisher.queue_declare(name, durable=True)
            await self.publisher.queue_purge(name)

    async def delete_queues(self, *names: str) -> None:
        """Delete `names` (a missing queue is fine); on a lost broker, leave the rest for `reconnect` or exit."""
        self.created.update(names)
        for name in names:
            try:
                await self.publisher.queue_delete(name)
            except BROKER_LOST:
                return

    async def delete_exchanges(self, *names: str) -> None:
        """Delete exchanges an engine declared (missing ones are fine); on a lost broker, leave them for exit."""
        self.exchanges.update(names)
        for name in names:
            try:
                await self.publisher.exchange_delete(name)
            except BROKER_LOST:
                return

    async def depth(self, name: str) -> int:
        """Messages ready in `name`; those delivered and not yet acked are not counted (AMQP gives no more)."""
        ok = await self.publisher.queue_declare(name, passive=True)
        return int(ok.message_count or 0)

    async def topic_exchange(self, name: str, queue: str, key: str = "#") -> None:
        """Declare `name` as the engines do (durable topic) and bind `queue` to it: nothing published
        before the first engine has declared its own binding is lost."""
        self.exchanges.add(name)
        await self.publisher.exchange_declare(name, exchange_type="topic", durable=True)
        await self.publisher.queue_bind(queue, name, routing_key=key)

    async def publish(self, exchange: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish persistent (routing key, body) pairs to `exchange`; return once the broker confirmed them all.

        The confirms of one call are pipelined, so a batch costs about one round trip.
        """
        await asyncio.gather(
            *(
                self.publisher.basic_publish(b, exchange=exchange, routing_key=k, properties=PROPERTIES)
                for k, b in messages
            )
        )

    async def preload(self, queue: str, bodies: Sequence[bytes]) -> None:
        """Publish persistent `bodies` to `queue` and return once the broker confirmed them all."""
        for start in range(0, len(bodies), PRELOAD_WINDOW):
            window = bodies[start : start + PRELOAD_WINDOW]
            await asyncio.gather(
                *(self.publisher.basic_publish(b, routing_key=queue, properties=PROPERTIES) for b in window)
            )

    async def pace(self, queue: str, events: Sequence[dict[str, Any]], rate: float) -> None:
        """Publish `events` at `rate` per second, each stamped with `sent_at` as it leaves."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while sent < len(events):
            due = min(len(events), int((loop.time() - start) * rate) + 1)
            while sent < due:
                body = stamp(events[sent], time.time())
                await self.pacer.basic_publish(body, routing_key=queue, properties=PROPERTIES)
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))

    async def watch(self, queue: str, expected: int) -> tuple[Arrivals, str]:
        """Consume `queue` without acks (the bench must not be the bottleneck); returns the consumer tag."""
        arrivals = Arrivals(expected)

        async def on_message(message: DeliveredMessage) -> None:
            arrivals.record(message)

        return arrivals, await self.consume(queue, on_message)

    async def consume(self, queue: str, on_message: Callable[[DeliveredMessage], Coroutine[Any, Any, None]]) -> str:
        """Consume `queue` without acks, so acking costs the bench nothing; returns the consumer tag."""
        ok = await self.consumer.basic_consume(queue, on_message, no_ack=True)
        return str(ok.consumer_tag)

    async def unwatch(self, consumer_tag: str) -> None:
        await self.consumer.basic_cancel(consumer_tag)
