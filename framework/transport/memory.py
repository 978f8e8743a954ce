"""An in-process broker: a whole chain in one process with no services (embedded mode, fast tests).

It keeps the semantics the runtime relies on: durable named queues, topic bindings, prefetch,
cumulative acks, and redelivery of what a closed session left unacked.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.errors import BrokerUnavailable
from framework.transport.base import Delivery, Outgoing, Topology

__all__ = ["MemoryBroker", "MemorySession", "StoredMessage"]


@dataclass(slots=True)
class StoredMessage:
    body: bytes
    message_id: str | None = None
    headers: dict[str, Any] | None = None
    redelivered: bool = False


@dataclass
class _Queue:
    messages: deque[StoredMessage] = field(default_factory=deque)
    consumers: list[MemorySession] = field(default_factory=list)


def _topic_regex(pattern: str) -> re.Pattern[str]:
    words = [r"[^.]+" if w == "*" else (r".*" if w == "#" else re.escape(w)) for w in pattern.split(".")]
    return re.compile(r"\.".join(words).replace(r".*\.", r"(?:.*\.)?").replace(r"\..*", r"(?:\..*)?") + "$")


class MemoryBroker:
    """Queues and exchanges living in this process; `open()` makes it a Transport."""

    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.bindings: dict[str, list[tuple[re.Pattern[str], str]]] = {}

    def __repr__(self) -> str:
        depths = ", ".join(f"{name}={len(q.messages)}" for name, q in self.queues.items())
        return f"<MemoryBroker {depths}>"

    def declare(self, name: str) -> _Queue:
        return self.queues.setdefault(name, _Queue())

    def bind(self, exchange: str, routing_key: str, queue: str) -> None:
        self.declare(queue)
        self.bindings.setdefault(exchange, []).append((_topic_regex(routing_key), queue))

    def publish(self, message: Outgoing) -> None:
        """Route like RabbitMQ: the default exchange by queue name, a topic exchange by bindings."""
        stored = StoredMessage(message.body, message.message_id, message.headers)
        if message.exchange == "":
            targets = [message.routing_key] if message.routing_key in self.queues else []
        else:
            targets = [q for rx, q in self.bindings.get(message.exchange, []) if rx.match(message.routing_key)]
        for name in dict.fromkeys(targets):
            queue = self.queues[name]
            queue.messages.append(stored)
            self._dispatch(queue)

    def depth(self, name: str) -> int:
        queue = self.queues.get(name)
        return len(queue.messages) if queue else 0

    def drain_queue(self, name: str) -> list[StoredMessage]:
        """Take every ready message out of `name` (what a test or the demo reads at the end)."""
        queue = self.declare(name)
        taken = list(queue.messages)
        queue.messages.clear()
        return taken

    async def open(self, topology: Topology) -> MemorySession:
        for name in (topology.consume_queue, *topology.publish_queues, topology.dead_letter_queue):
            self.declare(name)
        for key in topology.bindings:
            self.bind(topology.exchange, key, topology.consume_queue)
        return MemorySession(self, topology)

    def _dispatch(self, queue: _Queue) -> None:
        for consumer in queue.consumers:
            while queue.messages and consumer.has_credit():
                consumer.deliver(queue.messages.popleft())


class MemorySession:
    def __init__(self, broker: MemoryBroker, topology: Topology) -> None:
        self.broker = broker
        self.topology = topology
        self._unacked: dict[int, StoredMessage] = {}
        self._tags = 0
        self._on_delivery: Callable[[Delivery], None] | None = None
        self._lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    @property
    def lost(self) -> asyncio.Future[BaseException | None]:
        return self._lost

    def has_credit(self) -> bool:
        return self._on_delivery is not None and len(self._unacked) < self.topology.prefetch

    def deliver(self, message: StoredMessage) -> None:
        assert self._on_delivery is not None
        self._tags += 1
        self._unacked[self._tags] = message
        self._on_delivery(
            Delivery(
                body=message.body,
                tag=self._tags,
                redelivered=message.redelivered,
                message_id=message.message_id,
                headers=message.headers,
                received=asyncio.get_running_loop().time(),
            )
        )

    async def consume(self, on_delivery: Callable[[Delivery], None]) -> None:
        self._on_delivery = on_delivery
        queue = self.broker.declare(self.topology.consume_queue)
        queue.consumers.append(self)
        self.broker._dispatch(queue)

    async def cancel(self) -> None:
        queue = self.broker.declare(self.topology.consume_queue)
        if self in queue.consumers:
            queue.consumers.remove(self)
        self._on_delivery = None

    def publish(self, messages: Sequence[Outgoing]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._lost.done():
            done.set_exception(BrokerUnavailable("session closed"))
            return done
        for message in messages:
            self.broker.publish(message)
        done.set_result(None)
        return done

    async def ack(self, tag: int) -> None:
        for t in [t for t in self._unacked if t <= tag]:
            del self._unacked[t]
        self.broker._dispatch(self.broker.declare(self.topology.consume_queue))

    async def refresh(self) -> None:
        return None  # one process, no partitions

    async def queue_depth(self) -> int:
        return self.broker.depth(self.topology.consume_queue)

    async def backlog(self) -> int:
        return await self.queue_depth()

    async def close(self) -> None:
        await self.cancel()
        queue = self.broker.declare(self.topology.consume_queue)
        for message in reversed(list(self._unacked.values())):
            message.redelivered = True
            queue.messages.appendleft(message)
        self._unacked.clear()
        if not self._lost.done():
            self._lost.set_result(None)
        self.broker._dispatch(queue)
