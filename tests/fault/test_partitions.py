"""Several axe instances on partition queues: each entity's events applied once, in publish order,
across the death of an instance.

Two axe processes consume the same 8 partitions (`--partitions 8`); 20 000 events for 200
entities are routed by entity id, as che routes them. Every event changes its entity's state, so
each leaves exactly one step carrying its sequence number. One instance is SIGKILLed mid-run and
restarted: its partitions move to the other (single active consumer), which receives the killed
one's unacked events first, redelivered. At the end every alarm must hold its entity's steps
1..100, each once, in order: nothing lost, nothing applied twice, nothing reordered.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from framework.transport.names import partition_exchange, partition_queue

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]

MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")
ENTITIES = 200
PER_ENTITY = 100
PARTITIONS = 8
#: Generous: two engines, the broker and the database share two slow cores.
FLOW_TIMEOUT = 600.0
STATES = (1, 2, 3)  # cycled, so that every event changes the state and leaves one step
SEQ = re.compile(r"seq=(\d+)$")

Doc = dict[str, Any]


def entity(i: int) -> Doc:
    return {
        "_id": f"r{i:03d}/web01",
        "name": f"r{i:03d}",
        "type": "resource",
        "enabled": True,
        "created": 1,
        "component": "web01",
        "connector": "nagios/paris",
        "infos": {},
        "impact_level": 1,
    }


def event(i: int, seq: int) -> Doc:
    return {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": "check",
        "source_type": "resource",
        "component": "web01",
        "resource": f"r{i:03d}",
        "state": STATES[seq % 3],
        "output": f"seq={seq}",
        "current_entity": entity(i),
    }


def state_seqs(alarm: Doc) -> list[int]:
    """The sequence numbers of the alarm's state steps, in step order."""
    steps = alarm["v"].get("steps", [])
    return [int(m.group(1)) for s in steps if s["_t"] in ("stateinc", "statedec") and (m := SEQ.search(s["m"]))]


async def publish_all(url: str, queue: str) -> None:
    """Every event, entity-interleaved, to the partition exchange keyed by entity, as che publishes."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(partition_exchange(queue))
        for seq in range(1, PER_ENTITY + 1):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            json.dumps(event(i, seq)).encode(),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=f"r{i:03d}#{seq}",
                        ),
                        routing_key=f"r{i:03d}/web01",
                    )
                    for i in range(ENTITIES)
                )
            )
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def received(port: int) -> int:
    """Events an instance received so far, from its /metrics (0 until it serves them)."""
    async with httpx.AsyncClient(timeout=5) as http:
        try:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.ConnectError:
            return 0
    match = re.search(r"^cps_events_received_total(?:\{[^}]*\})? (\d+)", text, re.M)
    return int(match.group(1)) if match else 0


async def progress(db: AsyncDatabase[Doc]) -> int:
    """State steps written so far, over all alarms."""
    return sum(len(state_seqs(a)) for a in await db.periodical_alarm.find({}).to_list(None))


async def test_two_partitioned_axes_keep_each_entity_in_order_across_a_kill(
    engines: Any, names: Any, amqp: Any, mongo_db: AsyncDatabase[Doc], rabbitmq: str
) -> None:
    axe_q, out_q = names.queue("axe"), names.queue("out")
    names.queues.update(partition_queue(axe_q, i) for i in range(PARTITIONS))
    env = {"CPS_MONGO_URL": f"{MONGO_URL.rstrip('/')}/{mongo_db.name}"}
    # Batches of many events write each alarm once per batch: FerretDB replaces ~100 documents/s.
    # (Handling 4,000 events is seconds of CPU: /metrics must still answer, see framework.in_turns.)
    argv = (
        "--consume-queue",
        axe_q,
        "--publish-queue",
        out_q,
        "--partitions",
        str(PARTITIONS),
        "--beat-interval",
        "3600",
        "--batch-size",
        "4000",
        "--prefetch",
        "8000",
    )
    ports = [free_port(), free_port()]
    first, second = [
        await engines.start(
            "axe", *argv, "--instance", f"axe-{n}", "--metrics-port", str(port), consume_queue=axe_q, env=env
        )
        for n, port in enumerate(ports, 1)
    ]
    total = ENTITIES * PER_ENTITY
    publisher = asyncio.ensure_future(publish_all(rabbitmq, axe_q))
    try:
        deadline = time.monotonic() + FLOW_TIMEOUT
        # The first one started receives every partition; within seconds it hands half to the second.
        while not all([await received(port) for port in ports]):
            assert time.monotonic() < deadline, f"the partitions were not shared\n{engines.describe()}"
            await asyncio.sleep(0.5)
        while await progress(mongo_db) < total // 4:
            assert time.monotonic() < deadline, f"no progress\n{engines.describe()}"
            await asyncio.sleep(0.5)
        first.kill()
        await first.wait(10)
        await asyncio.sleep(2)
        await engines.start("axe", *argv, "--instance", "axe-1", consume_queue=axe_q, env=env, wait=False)
        await publisher
        while (done := await progress(mongo_db)) < total:
            assert time.monotonic() < deadline, (
                f"{done} of {total} steps after {FLOW_TIMEOUT:.0f} s\n{engines.describe()}"
            )
            await asyncio.sleep(1)
    finally:
        publisher.cancel()
        channel = await amqp.connection.channel() if amqp.connection else None
        if channel is not None:
            await channel.exchange_delete(partition_exchange(axe_q))
            await channel.close()

    alarms = await mongo_db.periodical_alarm.find({}).to_list(None)
    assert len(alarms) == ENTITIES, f"{len(alarms)} alarms for {ENTITIES} entities"
    wanted = list(range(1, PER_ENTITY + 1))
    wrong = {a["d"]: state_seqs(a) for a in alarms if state_seqs(a) != wanted}
    assert not wrong, (
        f"{len(wrong)} entities with steps lost, repeated or out of order, e.g. {next(iter(wrong.items()))}"
    )
    assert second.returncode is None, second.describe()
