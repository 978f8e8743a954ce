"""The seam between the engine runtime and a broker: RabbitMQ for real, in memory for demos and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Delivery", "Outgoing", "Session", "Topology", "Transport"]


@dataclass(slots=True)
class Delivery:
    """One message received from the consumed queue, not yet acknowledged."""

    body: bytes
    tag: int  # the broker's delivery tag: acks are cumulative up to it
    redelivered: bool = False
    message_id: str | None = None
    headers: dict[str, Any] | None = None
    received: float = 0.0  # loop time at arrival, for latency figures
    queue: str = ""  # the queue it came from (one of the partitions, with --partitions)


@dataclass(slots=True, frozen=True)
class Outgoing:
    """One message to publish: to a queue through the default exchange, or to a named exchange."""

    body: bytes
    routing_key: str
    exchange: str = ""
    message_id: str | None = None
    headers: dict[str, Any] | None = None
    key: str | None = None  # the entity it is about: picks the partition when the queue is partitioned


@dataclass(frozen=True)
class Topology:
    """What a session declares before consuming; re-applied as is after every reconnect."""

    consume_queue: str
    publish_queues: tuple[str, ...]
    dead_letter_queue: str
    exchange: str
    bindings: tuple[str, ...] = ()  # routing keys binding consume_queue to exchange
    prefetch: int = 200
    consumer_name: str = ""
    partitions: int = 0  # consume partition queues of consume_queue as well (see framework/transport/names.py)


class Session(Protocol):
    """One live connection: consuming, publishing with confirms, acking."""

    async def consume(self, on_delivery: Callable[[Delivery], None]) -> None:
        """Start delivering messages of the topology's consume queue to `on_delivery`."""

    async def cancel(self) -> None:
        """Stop deliveries; messages already delivered stay ours to ack."""

    def publish(self, messages: Sequence[Outgoing]) -> Awaitable[None]:
        """Send `messages` now, in order; the awaitable resolves once the broker confirmed all.

        Raises BrokerUnavailable if the broker refused one or the connection was lost.
        """

    async def ack(self, tag: int) -> None:
        """Acknowledge every delivery up to and including `tag`."""

    async def queue_depth(self) -> int:
        """Messages ready in the consume queue (for the stalled-consumer check: not the partitions,
        where a waiting instance sees messages that another one receives)."""

    async def backlog(self) -> int:
        """Messages ready in the consume queue and its partitions (for STATUS=, run-info, health)."""

    async def refresh(self) -> None:
        """Catch up with the broker: which publish queues are partitioned now, and, with
        --partitions, hand the partitions beyond this instance's share to the other instances."""

    @property
    def lost(self) -> asyncio.Future[BaseException | None]:
        """Resolves when the connection or a channel closed, with the reason."""

    async def close(self) -> None: ...


class Transport(Protocol):
    """Opens sessions; the runtime opens a new one after each connection loss."""

    async def open(self, topology: Topology) -> Session:
        """Connect and declare `topology`; raises BrokerUnavailable when the broker does not answer."""
