"""The queues one session consumes: the engine's queue and, with --partitions, its partition queues.

Partitions keep each entity's events in order across instances. Publishers route an event to
partition `hash(entity id)` through a consistent-hash exchange; every instance consumes every
partition queue, and the broker's single-active-consumer lets one of them receive a partition's
messages at a time. When that instance dies, its channels close: the broker puts the unacked
messages back at the head of their partition and makes the next consumer active, which thus
receives them first, flagged redelivered (engines/axe/replay.py recognises those it applied).

Instances that start later wait; `rebalance` gives them work: an instance receiving from more
partitions than its share (partitions / consumers of a partition queue) releases the surplus the
same way a dead instance would, by closing the partition's channel once everything it handed
to the engine from it is acked, then subscribes again behind the others.

Each queue has its own channel, so delivery tags are per channel; the runner sees one sequence
of session tags and acks cumulatively, which `ack` turns into one cumulative ack per channel.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, cast

import aio_pika
import aiormq
from aiormq.abc import DeliveredMessage

from framework.transport.base import Delivery, Topology
from framework.transport.names import partition_queues

__all__ = ["ACTIVE_WINDOW", "ConsumedQueues"]

logger = logging.getLogger(__name__)

#: A partition that delivered within this many seconds counts as one this instance receives.
ACTIVE_WINDOW: Final = 10.0


@dataclass(eq=False)
class _ConsumedQueue:
    """One consumed queue on its own channel."""

    queue: str
    partition: bool
    channel: aio_pika.abc.AbstractChannel | None = None
    raw: aiormq.Channel | None = None
    consumer_tag: str | None = None
    #: (session tag, channel tag) of deliveries handed to the runner and not acked yet.
    unacked: deque[tuple[int, int]] = field(default_factory=deque)
    last_delivery: float = -math.inf
    releasing: bool = False
    closing: bool = False


class ConsumedQueues:
    """The queues this session consumes (the plain one and its partitions), one channel each: subscribes,
    acks and rebalances them on `connection`."""

    def __init__(
        self,
        connection: aio_pika.abc.AbstractConnection,
        topology: Topology,
        on_lost: Callable[[Any, BaseException | None], None],
    ) -> None:
        self.connection = connection
        self.topology = topology
        self.on_lost = on_lost
        partitions = [
            _ConsumedQueue(queue, True) for queue in partition_queues(topology.consume_queue, topology.partitions)
        ]
        # Random order: instances subscribing at the same moment share the partitions.
        random.shuffle(partitions)
        self.queues = [_ConsumedQueue(topology.consume_queue, False), *partitions]
        self.tags = itertools.count(1)
        self.on_delivery: Callable[[Delivery], None] | None = None
        self.consuming = False

    def __repr__(self) -> str:
        active = sum(1 for s in self.queues if s.partition and self._active(s))
        return f"<ConsumedQueues {self.topology.consume_queue} partitions={self.topology.partitions} active={active}>"

    @property
    def partitions(self) -> list[_ConsumedQueue]:
        return [s for s in self.queues if s.partition]

    async def consume(self, on_delivery: Callable[[Delivery], None]) -> None:
        self.on_delivery = on_delivery
        self.consuming = True
        for source in self.queues:
            await self._subscribe(source)

    async def cancel(self) -> None:
        """Stop every consumer; what was delivered stays ours to ack."""
        self.consuming = False
        for source in self.queues:
            if source.consumer_tag is not None and source.raw is not None and not source.raw.is_closed:
                tag, source.consumer_tag = source.consumer_tag, None
                await asyncio.wait_for(source.raw.basic_cancel(tag), timeout=5)

    async def ack(self, tag: int) -> None:
        """Ack every delivery up to session tag `tag`: one cumulative ack per channel."""
        for source in self.queues:
            last = None
            while source.unacked and source.unacked[0][0] <= tag:
                last = source.unacked.popleft()[1]
            if last is not None and source.raw is not None:
                await source.raw.basic_ack(last, multiple=True, wait=False)
            if source.releasing and not source.unacked:
                await self._finish_release(source)

    async def rebalance(self, consumers: int) -> None:
        """Release partitions beyond this instance's share, given `consumers` on a partition queue;
        they are subscribed again, behind the other instances."""
        if not self.consuming or not self.partitions or consumers <= 1:
            return
        share = math.ceil(len(self.partitions) / consumers)
        active = [s for s in self.partitions if self._active(s) and not s.releasing]
        surplus = random.sample(active, max(0, len(active) - share))
        for source in surplus:
            source.releasing = True
            logger.info("releasing %s to another instance (%d active here, share %d)", source.queue, len(active), share)
            if not source.unacked:
                await self._finish_release(source)

    def _active(self, source: _ConsumedQueue) -> bool:
        return asyncio.get_running_loop().time() - source.last_delivery < ACTIVE_WINDOW

    async def _subscribe(self, source: _ConsumedQueue) -> None:
        channel = await self.connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(partial(self._closed, source))
        prefetch = self.topology.prefetch
        if source.partition:  # an instance receiving every partition holds --prefetch in all
            prefetch = max(1, math.ceil(prefetch / self.topology.partitions))
        await channel.set_qos(prefetch_count=prefetch)
        source.channel, source.closing, source.releasing = channel, False, False
        source.raw = cast(aiormq.Channel, await channel.get_underlay_channel())
        source.unacked.clear()
        source.last_delivery = -math.inf
        ok = await source.raw.basic_consume(source.queue, self._receiver(source), no_ack=False)
        source.consumer_tag = str(ok.consumer_tag)

    def _closed(self, source: _ConsumedQueue, sender: Any, exc: BaseException | None = None) -> None:
        """A channel closed: the session is lost, unless we closed it to release its partition."""
        if sender is source.channel and not source.closing:
            self.on_lost(sender, exc)

    def _receiver(self, source: _ConsumedQueue) -> Callable[[DeliveredMessage], Any]:
        loop = asyncio.get_running_loop()

        async def on_message(message: DeliveredMessage) -> None:
            if source.releasing or self.on_delivery is None:
                return  # left unacked: closing the channel puts it back for the next instance
            now = loop.time()
            source.last_delivery = now
            tag = next(self.tags)
            source.unacked.append((tag, message.delivery_tag or 0))
            props = message.header.properties
            self.on_delivery(
                Delivery(
                    body=message.body,
                    tag=tag,
                    redelivered=bool(message.redelivered),
                    message_id=props.message_id,
                    headers=props.headers,
                    received=now,
                    queue=source.queue,
                )
            )

        return on_message

    async def _finish_release(self, source: _ConsumedQueue) -> None:
        if source.closing:
            return  # already under way (the last ack and the rebalance may both get here)
        source.closing = True
        if source.channel is not None:
            await source.channel.close()
        if self.consuming:
            await self._subscribe(source)
        logger.info("released %s; waiting behind the other instances", source.queue)
