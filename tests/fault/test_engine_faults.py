"""Engines under faults: kill -9 mid-stream, SIGTERM under load, a cancelled consumer, a broker restart.

Every test counts what came out: nothing lost; duplicates are allowed (delivery is at-least-once).
The broker restart stops RabbitMQ for every client on the machine: it stays the last test here.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest

pytestmark = pytest.mark.fault

#: Generous: three engines and the broker share two slow cores.
FLOW_TIMEOUT = 120.0
RABBITMQCTL_TIMEOUT = 120.0


class SeqCount:
    """`seq` values seen in a collector's messages, parsed once each as they arrive."""

    def __init__(self) -> None:
        self.counts: collections.Counter[int] = collections.Counter()
        self._parsed = 0

    def update(self, messages: list[Any]) -> int:
        for message in messages[self._parsed :]:
            self.counts[message.json()["seq"]] += 1
        self._parsed = len(messages)
        return len(self.counts)

    def at_least(self, distinct: int) -> Any:
        return lambda messages: self.update(messages) >= distinct

    def covers(self, wanted: range) -> Any:
        return lambda messages: self.update(messages) >= len(wanted) and all(s in self.counts for s in wanted)

    def report(self, wanted: range) -> str:
        missing = [s for s in wanted if s not in self.counts]
        duplicates = sum(n - 1 for n in self.counts.values())
        return (
            f"{len(self.counts)} distinct seqs, {len(missing)} missing (first: {missing[:10]}), {duplicates} duplicates"
        )


@asynccontextmanager
async def background(coroutine: Awaitable[Any]) -> AsyncIterator[asyncio.Future[Any]]:
    """Run `coroutine` as a task that cannot outlive the block (the block awaits it to see its errors)."""
    task = asyncio.ensure_future(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_chain_of_three_survives_sigkill_of_middle_engine(names, engines, amqp, events) -> None:
    a_queue, b_queue, c_queue, d_queue = (names.queue(role) for role in "abcd")
    c = await engines.start(
        "passthrough", "--consume-queue", c_queue, "--publish-queue", d_queue, consume_queue=c_queue
    )
    b = await engines.start(
        "passthrough", "--consume-queue", b_queue, "--publish-queue", c_queue, consume_queue=b_queue
    )
    a = await engines.start(
        "passthrough",
        "--consume-queue",
        a_queue,
        "--bind",
        names.routing_key,
        "--publish-queue",
        b_queue,
        consume_queue=a_queue,
    )
    total = range(10_000)
    seen = SeqCount()
    collector = await amqp.consume(d_queue)

    async with background(amqp.publish(events.many(len(total)), routing_key=names.routing_key)) as publishing:
        for kill_after in (1_500, 5_000):
            assert await collector.wait_until(seen.at_least(kill_after), FLOW_TIMEOUT), (
                f"{seen.report(total)}\n{engines.describe()}"
            )
            b.kill(signal.SIGKILL)
            assert await b.wait(10) == -signal.SIGKILL, b.describe()
            await asyncio.sleep(0.5)  # B's queue fills meanwhile; the restart takes it over
            b = await engines.restart(b)
        await asyncio.wait_for(publishing, FLOW_TIMEOUT)
    await collector.wait_until(seen.covers(total), FLOW_TIMEOUT)
    await collector.stop()

    assert set(seen.counts) == set(total), f"{seen.report(total)}\n{engines.describe()}"
    assert [p.returncode for p in (a, b, c)] == [None, None, None], engines.describe()


async def test_sigterm_under_load_loses_nothing(names, engines, amqp, events) -> None:
    source, target = names.queue("in"), names.queue("out")
    drain_timeout = 5.0
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--publish-queue",
        target,
        consume_queue=source,
        drain_timeout=drain_timeout,
    )
    total = range(5_000)
    seen = SeqCount()
    collector = await amqp.consume(target)

    async with background(amqp.publish(events.many(len(total)), queue=source)) as publishing:
        assert await collector.wait_until(seen.at_least(1_000), FLOW_TIMEOUT), engine.describe()
        at_term = len(seen.counts)
        engine.kill(signal.SIGTERM)
        code = await engine.wait(drain_timeout + 15)
        assert code == 0, f"exit {code} after SIGTERM with {at_term} forwarded\n{engine.describe()}"
        engine = await engines.restart(engine, drain_timeout=drain_timeout)
        await asyncio.wait_for(publishing, FLOW_TIMEOUT)
    await collector.wait_until(seen.covers(total), FLOW_TIMEOUT)
    await collector.stop()

    assert set(seen.counts) == set(total), f"SIGTERM at {at_term}: {seen.report(total)}\n{engines.describe()}"


async def test_consumer_cancelled_by_broker_exits_3_while_messages_wait(names, engines, amqp, events) -> None:
    source, target = names.queue("in"), names.queue("out")
    stall_timeout = 2.0
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--publish-queue",
        target,
        consume_queue=source,
        stall_timeout=stall_timeout,
    )
    # Deleting the queue makes the broker cancel the engine's consumer; the connection stays up.
    await amqp.delete_queue(source)
    await amqp.publish(events.many(10), queue=source)  # declares the queue again, without a consumer

    code = await engine.wait(stall_timeout + 30)

    assert code == 3, engine.describe()
    last_line = engine.log().strip().splitlines()[-1]
    assert f"10 messages wait in {source}" in last_line, engine.describe()
    assert await _depth(amqp, source) == 10, "the waiting messages must stay for the restarted engine"


async def test_next_queue_deleted_under_a_running_engine_loses_nothing(names, engines, amqp, events) -> None:
    source, target = names.queue("in"), names.queue("out")
    engine = await engines.start(
        "passthrough", "--consume-queue", source, "--publish-queue", target, consume_queue=source
    )
    await amqp.delete_queue(target)  # an operator mistake: the engine declared it at start only
    await amqp.publish(events.many(50), queue=source)

    received = await amqp.collect(target, until_count=50, timeout=30)

    seqs = {m.json()["seq"] for m in received}
    assert seqs == set(range(50)), f"{len(seqs)} of 50 arrived\n{engine.describe()}"
    assert engine.returncode is None, engine.describe()
    assert "NO_ROUTE" in engine.log(), "the engine says why it re-declared its topology"


async def _depth(amqp, queue: str) -> int:
    channel = await amqp.connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    return int(declared.declaration_result.message_count or 0)


async def _rabbitmqctl(*args: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, ["rabbitmqctl", *args], capture_output=True, text=True, timeout=RABBITMQCTL_TIMEOUT
    )
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}"


async def _wait_broker(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = await aio_pika.connect(url, timeout=5)
        except (TimeoutError, aio_pika.exceptions.AMQPError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            await connection.close()
            return


async def test_consumption_resumes_after_broker_restart(names, engines, amqp, events, rabbitmq) -> None:
    source, target = names.queue("in"), names.queue("out")
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--publish-queue",
        target,
        consume_queue=source,
    )
    before, after = range(500), range(500, 1000)
    # Frozen, the engine takes deliveries into its socket but processes none: when the broker
    # stops, 500 durable events are either unacked or still in the queue, none forwarded.
    engine.kill(signal.SIGSTOP)
    try:
        await amqp.publish(events.many(len(before)), queue=source)
        await amqp.close()  # the broker is about to drop every connection
        await _rabbitmqctl("stop_app")
        try:
            await asyncio.sleep(3)
        finally:
            await _rabbitmqctl("start_app")
            await _wait_broker(rabbitmq, 60)
    finally:
        engine.kill(signal.SIGCONT)
    restarted_at = time.monotonic()

    await amqp.connect()
    seen = SeqCount()
    collector = await amqp.consume(target)
    await amqp.publish(events.many(len(after), start=after.start), queue=source)
    resumed = await collector.wait_until(seen.covers(after), 10 - (time.monotonic() - restarted_at))
    resumed_in = time.monotonic() - restarted_at
    await collector.wait_until(seen.covers(range(1000)), FLOW_TIMEOUT)
    await collector.stop()

    assert resumed, f"not resumed {resumed_in:.1f} s after start_app: {seen.report(after)}\n{engine.describe()}"
    assert set(seen.counts) == set(range(1000)), f"{seen.report(range(1000))}\n{engine.describe()}"
    assert engine.returncode is None, engine.describe()
