"""An engine publishing to a partitioned queue routes each event by its entity, in order.

A consumer started with `--partitions` declares the consistent-hash exchange and its partition
queues; che, started after it, finds them and publishes there instead of to the plain queue.
Read back from the partition queues: every event arrived, each entity's events in one partition
and in publish order, and more than one partition was used.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
from typing import Any

import aio_pika
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from framework.transport.amqp import AmqpTransport
from framework.transport.base import Outgoing, Topology
from framework.transport.names import partition_exchange, partition_queue, partition_queues

pytestmark = pytest.mark.integration

MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")
PARTITIONS = 4
EVENTS = 350  # 50 hosts x 7 disks in the event factory: 350 entities, some twice


async def test_che_routes_events_to_the_partition_of_their_entity(
    engines: Any, names: Any, amqp: Any, events: Any, mongo_db: AsyncDatabase[dict[str, Any]], rabbitmq: str
) -> None:
    target = names.queue("axe")
    partitions = [partition_queue(target, i) for i in range(PARTITIONS)]
    names.queues.update(partitions)
    # The partitioned consumer declares its topology, then leaves the messages for us to read.
    holder = await engines.start(
        "passthrough", "--consume-queue", target, "--partitions", str(PARTITIONS), consume_queue=target
    )
    holder.kill()
    await holder.wait(10)
    che_q = names.queue("che")
    exchange = f"{names.prefix}events"
    await engines.start(
        "che",
        "--consume-queue",
        che_q,
        "--publish-queue",
        target,
        "--exchange",
        exchange,
        consume_queue=che_q,
        env={"CPS_MONGO_URL": f"{MONGO_URL.rstrip('/')}/{mongo_db.name}"},
    )
    try:
        sent = events.many(EVENTS) + events.many(EVENTS, start=EVENTS)
        await amqp.publish(sent, exchange=exchange)
        where: dict[str, set[str]] = collections.defaultdict(set)
        order: dict[str, list[int]] = collections.defaultdict(list)
        got = 0
        connection = await aio_pika.connect(rabbitmq, timeout=10)
        try:
            channel = await connection.channel()
            queues = [await channel.declare_queue(q, passive=True) for q in partitions]
            for _ in range(300):
                for queue in queues:
                    while (message := await queue.get(no_ack=True, fail=False)) is not None:
                        event = json.loads(message.body)
                        entity = f"{event['resource']}/{event['component']}"
                        where[entity].add(queue.name)
                        order[entity].append(event["seq"])
                        got += 1
                if got >= len(sent):
                    break
                await asyncio.sleep(0.2)
            plain = await channel.declare_queue(target, passive=True)
            left_in_plain = plain.declaration_result.message_count
            await channel.exchange_delete(partition_exchange(target))
        finally:
            await connection.close()
    finally:
        await engines.stop_all()
    assert got == len(sent), f"{got} of {len(sent)} events reached the partitions\n{engines.describe()}"
    assert left_in_plain == 0
    assert all(len(queues) == 1 for queues in where.values()), "an entity's events went to several partitions"
    assert all(seqs == sorted(seqs) for seqs in order.values()), "an entity's events out of publish order"
    assert len(set().union(*where.values())) > 1, "every entity hashed to one partition"


async def test_a_session_routes_to_partitions_and_counts_their_backlog(names: Any, rabbitmq: str) -> None:
    queue = names.queue("parts")
    names.queues.update(partition_queues(queue, PARTITIONS))
    # Publishing to its own queue: the session finds it partitioned, as a publisher upstream would.
    topology = Topology(
        consume_queue=queue,
        publish_queues=(queue,),
        dead_letter_queue=f"{queue}.dead",
        exchange="",
        partitions=PARTITIONS,
    )
    session = await AmqpTransport(rabbitmq).open(topology)
    try:
        await session.publish([Outgoing(body=b"{}", routing_key=queue, key=f"entity-{i}") for i in range(40)])
        assert await session.queue_depth() == 0  # the stall check looks at the plain queue only
        assert await session.backlog() == 40  # STATUS=, run-info and cps-healthcheck see the partitions
    finally:
        await session.close()
        connection = await aio_pika.connect(rabbitmq, timeout=10)
        channel = await connection.channel()
        await channel.exchange_delete(partition_exchange(queue))
        await connection.close()
