"""RabbitMQ sessions: aio-pika connects and declares; the hot path speaks aiormq frames directly.

Why not aio-pika's `publish()` per message: on a loopback where one `send()` costs ~45 µs, a
publish that holds the channel lock until its frame is written caps a relay near 1.2k msg/s.
Here a batch of publishes becomes one write (one syscall), each with its own confirm future, and
acks are cumulative (`multiple=True`), one per batch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, cast

import aio_pika
import aiormq
import pamqp.exceptions
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from framework.errors import BrokerUnavailable
from framework.transport.base import Delivery, Outgoing, Topology
from framework.transport.names import CONTENT_TYPE, partition_exchange, partition_queue, partition_queues
from framework.transport.partitions import ConsumedQueues
from framework.urls import mask_url

__all__ = ["AmqpSession", "AmqpTransport", "broker_errors"]

logger = logging.getLogger(__name__)

PERSISTENT: Final = 2
#: The broker plugin that provides the exchange type of partitioned queues.
HASH_EXCHANGE_PLUGIN: Final = "rabbitmq_consistent_hash_exchange"
#: Seconds between two checks of which publish queues are partitioned.
ROUTES_INTERVAL: Final = 30.0

#: What a lost or refusing broker raises inside aio-pika, aiormq and pamqp; all of it means
#: "reconnect" (tests/unit/framework/test_amqp_errors.py checks every class they define). A
#: RuntimeError is a bug, except the one aiormq raises for a channel the broker closed.
BROKER_ERRORS: Final = (
    aiormq.exceptions.AMQPError,
    aio_pika.exceptions.AMQPException,
    aiormq.exceptions.ChannelInvalidStateError,
    pamqp.exceptions.PAMQPException,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    EOFError,
)


@contextmanager
def broker_errors(doing: str) -> Iterator[None]:
    """The one place RabbitMQ client errors become ours: BrokerUnavailable("<doing>: <reason>"),
    which the caller retries after reconnecting. Anything else is left alone: it is a bug."""
    try:
        yield
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(f"{doing}: {_reason(exc)}") from exc


class AmqpTransport:
    """Opens sessions on the broker at `url` (CPS_AMQP_URL)."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout

    def __repr__(self) -> str:
        return f"<AmqpTransport {mask_url(self.url)}>"

    async def open(self, topology: Topology) -> AmqpSession:
        with broker_errors(mask_url(self.url)):
            connection = await aio_pika.connect(
                self.url,
                timeout=self.connect_timeout,
                client_properties={"connection_name": topology.consumer_name},
            )
        session = AmqpSession(connection, topology)
        try:
            with broker_errors(f"declaring {topology.consume_queue}"):
                await session.declare()
        except BrokerUnavailable as exc:
            await session.close()
            if topology.partitions and "x-consistent-hash" in exc.detail:
                hint = f" (--partitions needs it: rabbitmq-plugins enable {HASH_EXCHANGE_PLUGIN})"
                raise BrokerUnavailable(exc.detail + hint) from exc.__cause__
            raise
        return session


class AmqpSession:
    """One connection: a channel that publishes with confirms, and one per consumed queue
    (framework/transport/partitions.py)."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection, topology: Topology) -> None:
        self.connection = connection
        self.topology = topology
        self._lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._consumed = ConsumedQueues(connection, topology, self._on_close)
        #: Publish queues with a partition exchange in front: their messages go there, by entity.
        self._partitioned: frozenset[str] = frozenset()
        # Unique message ids without a uuid per message: the session's own prefix + the publish tag.
        self._id_prefix = f"{uuid.uuid4().hex[:16]}-"
        connection.close_callbacks.add(self._on_close)

    def __repr__(self) -> str:
        state = "lost" if self._lost.done() else "open"
        return f"<AmqpSession {self.topology.consume_queue} {state}>"

    @property
    def lost(self) -> asyncio.Future[BaseException | None]:
        return self._lost

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        if not self._lost.done():
            self._lost.set_result(exc)

    async def declare(self) -> None:
        t = self.topology
        # on_return_raises: a publish the broker could not route fails its confirm (see publish).
        self._publish_channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        self._publish_channel.close_callbacks.add(self._on_close)
        # Declare every queue we publish to: the default exchange drops messages for a queue
        # that does not exist yet, and the next engine may start after us.
        ch = self._publish_channel
        self._queue = await ch.declare_queue(t.consume_queue, durable=True)
        for name in (*t.publish_queues, t.dead_letter_queue):
            await ch.declare_queue(name, durable=True)
        if t.bindings:
            exchange = await ch.declare_exchange(t.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            for key in t.bindings:
                await self._queue.bind(exchange, routing_key=key)
        if t.partitions:
            await self._declare_partitions()
        self._partitioned = frozenset([q for q in t.publish_queues if await self._has_partitions(q)])
        self._routes_checked = asyncio.get_running_loop().time()
        # The hot path uses aiormq's concrete channel: its confirm map, sequence and write queue.
        self._publish_raw = cast(aiormq.Channel, await self._publish_channel.get_underlay_channel())

    async def _declare_partitions(self) -> None:
        """The consistent-hash exchange and its partition queues, each with one active consumer.

        Every instance consumes every partition; the broker lets one consumer per partition
        receive, and hands the partition to a waiting one when that consumer goes away. Unacked
        deliveries of a dead instance go back to the head of their partition, so the next one
        receives them first: an entity's events stay in publish order across a failover.
        """
        t = self.topology
        ch = self._publish_channel
        exchange = await ch.declare_exchange(partition_exchange(t.consume_queue), "x-consistent-hash", durable=True)
        for name in partition_queues(t.consume_queue, t.partitions):
            queue = await ch.declare_queue(name, durable=True, arguments={"x-single-active-consumer": True})
            await queue.bind(exchange, routing_key="1")  # the weight: partitions share equally

    async def _has_partitions(self, queue: str) -> bool:
        """Whether `queue` is consumed in partitions (its partition exchange exists)."""
        probe = await self.connection.channel(publisher_confirms=False)
        try:
            await probe.declare_exchange(partition_exchange(queue), passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return False  # NOT_FOUND closes the probe channel, and only it
        await probe.close()
        return True

    async def consume(self, on_delivery: Callable[[Delivery], None]) -> None:
        with broker_errors(f"subscribing to {self.topology.consume_queue}"):
            await self._consumed.consume(on_delivery)

    async def cancel(self) -> None:
        if self._lost.done():
            return
        with broker_errors("cancelling consumer"):
            await self._consumed.cancel()

    async def refresh(self) -> None:
        if self._lost.done():
            return
        t = self.topology
        now = asyncio.get_running_loop().time()
        with broker_errors("refreshing routes and partitions"):
            # A next engine switched to partitions after we connected: route to them from now on.
            # (Not at every call: each probe of a missing exchange is a channel error in the broker's log.)
            if now - self._routes_checked >= ROUTES_INTERVAL:
                self._partitioned = frozenset([q for q in t.publish_queues if await self._has_partitions(q)])
                self._routes_checked = now
            if t.partitions:
                first = await self._declared(partition_queue(t.consume_queue, 0))
                await self._consumed.rebalance(int(first.consumer_count or 0))

    def publish(self, messages: Sequence[Outgoing]) -> asyncio.Future[None]:
        """Write every message in one frame batch and return a future for all their confirms."""
        channel = self._publish_raw
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        # Batches queued behind a failed one are dropped unawaited when the session is torn down.
        done.add_done_callback(_retrieve)
        if not messages:
            done.set_result(None)
            return done
        if self._lost.done() or channel.is_closed:
            done.set_exception(BrokerUnavailable("connection lost before publishing"))
            return done
        frames: list[Any] = []
        pending = len(messages)
        returned_ids = channel.message_id_delivery_tag

        def on_confirm(confirmation: asyncio.Future[Any]) -> None:
            nonlocal pending
            # Read every outcome, even after the batch failed: an unread exception is logged.
            exc = None if confirmation.cancelled() else confirmation.exception()
            if done.done():
                return
            if confirmation.cancelled() or exc is not None:
                done.set_exception(BrokerUnavailable(f"publish not confirmed: {_reason(exc)}"))
                return
            pending -= 1
            if pending == 0:
                done.set_result(None)

        # Sequence numbers must match the order frames reach the broker, so number and enqueue
        # without yielding; no other coroutine writes publishes on this channel.
        for message in messages:
            channel.delivery_tag += 1
            tag = channel.delivery_tag
            confirmation = loop.create_future()
            confirmation.add_done_callback(on_confirm)
            channel.confirmations[tag] = confirmation
            # `mandatory`: a message no queue takes (a next queue deleted under us) comes back
            # instead of being dropped; aiormq finds its confirm by message id and fails it.
            message_id = message.message_id
            if message_id is None or message_id in returned_ids:  # copies of a fan-out share one id
                message_id = f"{self._id_prefix}{tag}"
            returned_ids[message_id] = tag
            confirmation.add_done_callback(partial(_forget, returned_ids, message_id))
            properties = spec.Basic.Properties(
                content_type=CONTENT_TYPE,
                delivery_mode=PERSISTENT,
                message_id=message_id,
                headers=message.headers,
            )
            exchange, routing_key = message.exchange, message.routing_key
            if not exchange and routing_key in self._partitioned:
                exchange, routing_key = partition_exchange(routing_key), message.key or ""
            frames.append(spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True))
            frames.append(ContentHeader(properties=properties, body_size=len(message.body)))
            frames.extend(_body_frames(message.body, channel.max_content_size))
        channel.write_queue.put_nowait(ChannelFrame.marshall(channel_number=channel.number, frames=frames))
        return done

    async def ack(self, tag: int) -> None:
        with broker_errors("acking"):
            await self._consumed.ack(tag)

    async def queue_depth(self) -> int:
        return await self._ready(self.topology.consume_queue)

    async def backlog(self) -> int:
        t = self.topology
        return sum([await self._ready(q) for q in (t.consume_queue, *partition_queues(t.consume_queue, t.partitions))])

    async def _ready(self, queue: str) -> int:
        return int((await self._declared(queue)).message_count or 0)

    async def _declared(self, queue: str) -> spec.Queue.DeclareOk:
        """What the broker says of `queue` now (ready messages, consumers), by a passive declare."""
        with broker_errors(f"checking {queue}"):
            return await asyncio.wait_for(self._publish_raw.queue_declare(queue, passive=True), timeout=5)

    async def close(self) -> None:
        self._on_close(self)
        try:
            await asyncio.wait_for(self.connection.close(), timeout=5)
        except BROKER_ERRORS as exc:
            logger.debug("closing the connection: %s", _reason(exc))


def _forget(ids: dict[str, int], message_id: str, _: asyncio.Future[Any]) -> None:
    ids.pop(message_id, None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _body_frames(body: bytes, max_size: int) -> list[ContentBody]:
    if len(body) <= max_size:
        return [ContentBody(body)] if body else []
    return [ContentBody(body[i : i + max_size]) for i in range(0, len(body), max_size)]


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "closed"
    try:
        text = str(exc) or repr(exc)
    except Exception:
        text = "(no message)"
    return f"{type(exc).__name__}: {text}"
