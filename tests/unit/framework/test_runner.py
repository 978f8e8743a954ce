"""The runtime's contract on the in-memory broker: routing, dead letters, retries, order, beat, drain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from framework import (
    DROP,
    BadEvent,
    DatabaseUnavailable,
    Engine,
    MemoryBroker,
    Message,
    Outcome,
    Runner,
    Settings,
    build_settings,
)
from framework.runtime.embedded import EmbeddedChain
from framework.transport.base import Outgoing
from framework.transport.names import DEAD_REASON_HEADER


def settings(name: str = "t", **flags: Any) -> Any:
    flags.setdefault("beat_interval", 3600)
    return build_settings(name=name, flags=flags, environ={}, defaults={"bindings": ("#",)})


def bodies(n: int, **extra: Any) -> list[bytes]:
    return [json.dumps({"seq": i, **extra}).encode() for i in range(n)]


def seqs(broker: MemoryBroker, queue: str) -> list[int]:
    return [json.loads(m.body)["seq"] for m in broker.drain_queue(queue)]


class Forward(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Outcome:
        return event


async def run(engine: Engine[Any], payloads: Sequence[bytes]) -> tuple[MemoryBroker, Any]:
    chain = EmbeddedChain([engine])
    (runner,) = await chain.run(payloads)
    assert chain.broker is not None
    return chain.broker, runner


async def test_events_are_forwarded_in_order_and_all_acked() -> None:
    broker, runner = await run(Forward(settings(publish_queues="out")), bodies(500))
    assert seqs(broker, "out") == list(range(500))
    assert runner.stats.in_flight == 0 and runner.stats.acked == 500


async def test_two_publish_queues_each_get_a_copy() -> None:
    broker, _ = await run(Forward(settings(publish_queues=["a", "b"])), bodies(50))
    assert seqs(broker, "a") == seqs(broker, "b") == list(range(50))


async def test_balanced_publish_splits_round_robin() -> None:
    broker, _ = await run(Forward(settings(publish_queues="a,b", balanced=True)), bodies(50))
    a, b = seqs(broker, "a"), seqs(broker, "b")
    assert sorted(a + b) == list(range(50)) and len(a) == len(b) == 25


async def test_undecodable_body_goes_to_dead_letter_queue_with_reason() -> None:
    broker, runner = await run(Forward(settings(publish_queues="out")), [b"not json", b"[1]", *bodies(3)])
    dead = broker.drain_queue("Engine_t.dead")
    assert [m.body for m in dead] == [b"not json", b"[1]"]
    assert "Invalid JSON" in dead[0].headers[DEAD_REASON_HEADER]
    assert seqs(broker, "out") == [0, 1, 2]
    assert runner.stats.dead == 2


class Picky(Engine[Message]):
    """Refuses odd events, crashes on seq 4, drops seq 6."""

    name = "t"

    async def handle(self, event: Message) -> Outcome:
        seq = event.model_extra["seq"]  # type: ignore[index]
        if seq == 4:
            raise KeyError("boom")
        if seq == 6:
            return DROP
        if seq % 2:
            raise BadEvent(f"odd seq {seq}")
        return event


async def test_handler_errors_dead_letter_only_the_culprit() -> None:
    broker, runner = await run(Picky(settings(publish_queues="out")), bodies(8))
    reasons = [m.headers[DEAD_REASON_HEADER] for m in broker.drain_queue("Engine_t.dead")]
    assert reasons == ["odd seq 1", "odd seq 3", "handler error: KeyError: 'boom'", "odd seq 5", "odd seq 7"]
    assert seqs(broker, "out") == [0, 2]
    assert runner.stats.dropped == 1 and runner.stats.acked == 8


class ReturnsNone(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Any:
        return None


async def test_handler_returning_none_is_dead_lettered_not_silently_dropped() -> None:
    broker, _ = await run(ReturnsNone(settings(publish_queues="out")), bodies(1))
    (dead,) = broker.drain_queue("Engine_t.dead")
    assert "returned None" in dead.headers[DEAD_REASON_HEADER]


class Flaky(Engine[Message]):
    """The database is down for the first two attempts."""

    name = "t"
    failures = 2

    async def handle(self, event: Message) -> Outcome:
        if self.failures:
            self.failures -= 1
            raise DatabaseUnavailable("connection refused")
        return event


async def test_service_outage_is_retried_and_nothing_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framework.runtime.handling.backoff_delays", lambda cap: iter([0.01] * 10))
    broker, runner = await run(Flaky(settings(publish_queues="out")), bodies(5))
    assert seqs(broker, "out") == list(range(5))
    assert runner.stats.retried == 2 and runner.stats.dead == 0


class Batched(Engine[Message]):
    """Bulk form: fails the whole batch when seq 3 is in it."""

    name = "t"
    calls: list[int]
    redelivered: list[list[bool]]

    async def handle_batch(self, events: Sequence[Message]) -> list[Outcome]:
        self.calls.append(len(events))
        self.redelivered.append([e.amqp_redelivered for e in events])
        if any(e.model_extra["seq"] == 3 for e in events):  # type: ignore[index]
            raise ValueError("bad row")
        return list(events)


async def test_failing_batch_is_replayed_one_by_one_to_isolate_the_culprit() -> None:
    engine = Batched(settings(publish_queues="out", batch_size=10))
    engine.calls, engine.redelivered = [], []
    broker, _ = await run(engine, bodies(6))
    assert seqs(broker, "out") == [0, 1, 2, 4, 5]
    (dead,) = broker.drain_queue("Engine_t.dead")
    assert json.loads(dead.body)["seq"] == 3
    assert engine.calls[0] == 6 and engine.calls[1:] == [1] * 6
    assert engine.redelivered[0] == [False] * 6 and engine.redelivered[1:] == [[True]] * 6, (
        "what the batch wrote before failing is recognisable in the replay"
    )


class FlakyBatch(Engine[Message]):
    """The database goes away during the first write of the batch."""

    name = "t"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.redelivered: list[list[bool]] = []

    async def handle_batch(self, events: Sequence[Message]) -> list[Outcome]:
        self.redelivered.append([e.amqp_redelivered for e in events])
        if len(self.redelivered) == 1:
            raise DatabaseUnavailable("connection reset")
        return list(events)


async def test_a_batch_retried_after_an_outage_counts_as_redelivered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framework.runtime.handling.backoff_delays", lambda cap: iter([0.01] * 10))
    engine = FlakyBatch(settings(publish_queues="out", batch_size=10))
    broker, _ = await run(engine, bodies(3))
    assert seqs(broker, "out") == [0, 1, 2]
    assert engine.redelivered == [[False] * 3, [True] * 3]


class RejectsInBatch(Engine[Message]):
    name = "t"

    async def handle_batch(self, events: Sequence[Message]) -> list[Any]:
        return [BadEvent("no such entity") if e.model_extra["seq"] == 1 else e for e in events]  # type: ignore[index]


async def test_batch_outcome_can_dead_letter_one_event_without_replaying_the_batch() -> None:
    broker, _runner = await run(RejectsInBatch(settings(publish_queues="out")), bodies(3))
    assert seqs(broker, "out") == [0, 2]
    assert [m.headers[DEAD_REASON_HEADER] for m in broker.drain_queue("Engine_t.dead")] == ["no such entity"]


class Keyed(Message):
    @property
    def key(self) -> str:
        return str(self.model_extra["entity"])  # type: ignore[index]


class SlowPerKey(Engine[Keyed]):
    """Takes longer for low sequence numbers, so without per-key order later events would overtake."""

    name = "t"
    message_model = Keyed
    seen: list[tuple[str, int]]

    async def handle(self, event: Keyed) -> Outcome:
        seq = event.model_extra["seq"]  # type: ignore[index]
        await asyncio.sleep(0.001 * (20 - seq % 20))
        self.seen.append((event.key, seq))
        return event


async def test_workers_keep_the_order_of_each_entity() -> None:
    engine = SlowPerKey(settings(publish_queues="out", workers=8, batch_size=100))
    engine.seen = []
    payloads = [json.dumps({"seq": i, "entity": f"e{i % 5}"}).encode() for i in range(100)]
    broker, _ = await run(engine, payloads)
    for entity in {k for k, _ in engine.seen}:
        handled = [seq for k, seq in engine.seen if k == entity]
        assert handled == sorted(handled), entity
    assert [json.loads(m.body)["seq"] for m in broker.drain_queue("out")] == list(range(100))
    assert [s for _, s in engine.seen] != list(range(100)), "workers ran nothing concurrently"


class Beating(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Outcome:
        return event

    async def beat(self) -> list[Message]:
        return [Message.model_validate({"seq": -1})]


async def start(engine: Engine[Any], broker: MemoryBroker) -> tuple[Runner, asyncio.Task[None]]:
    runner = Runner(engine, engine.settings, broker)
    ready = asyncio.Event()
    runner.on_ready = ready.set
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(ready.wait(), 5)
    return runner, task


async def test_beat_events_go_to_the_head_of_the_chain() -> None:
    broker = MemoryBroker()
    runner, task = await start(Beating(settings(publish_queues="out", beat_interval=0.02)), broker)
    async with asyncio.timeout(5):
        while broker.depth("out") < 3:
            await asyncio.sleep(0.01)
    runner.request_stop()
    await asyncio.wait_for(task, 5)
    assert set(seqs(broker, "out")) == {-1}, "beat events flow through the engine's own queue (bound to #)"
    assert runner.stats.beats >= 3


class CountingBroker(MemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.published = 0

    def publish(self, message: Outgoing) -> None:
        self.published += 1
        super().publish(message)


class BeatingInBatches(Engine[Message]):
    """A beat deciding in batches: the second is asked for once the first is published."""

    name = "t"

    def __init__(self, settings: Settings, broker: CountingBroker) -> None:
        super().__init__(settings)
        self.broker = broker
        self.published_before_second: int | None = None

    async def handle(self, event: Message) -> Outcome:
        return event

    async def beat(self) -> AsyncGenerator[list[Message], None]:
        return self._batches()

    async def _batches(self) -> AsyncGenerator[list[Message], None]:
        yield [Message.model_validate({"seq": -1}), Message.model_validate({"seq": -2})]
        if self.published_before_second is None:
            self.published_before_second = self.broker.published
        yield []
        yield [Message.model_validate({"seq": -3})]


async def test_a_beat_yielding_batches_publishes_each_before_deciding_the_next() -> None:
    broker = CountingBroker()
    engine = BeatingInBatches(settings(publish_queues="out", beat_interval=0.02), broker)
    runner, task = await start(engine, broker)
    async with asyncio.timeout(5):
        while broker.depth("out") < 3:
            await asyncio.sleep(0.01)
    runner.request_stop()
    await asyncio.wait_for(task, 5)
    assert engine.published_before_second == 2
    assert set(seqs(broker, "out")) >= {-1, -2, -3}


async def test_stop_drains_what_was_delivered_and_acks_it() -> None:
    broker = MemoryBroker()
    runner, task = await start(Forward(settings(publish_queues="out", prefetch=50)), broker)
    for body in bodies(200):
        broker.publish(Outgoing(body=body, routing_key="Engine_t"))
    runner.request_stop()
    await asyncio.wait_for(task, 5)
    handled = seqs(broker, "out")
    left = [json.loads(m.body)["seq"] for m in broker.drain_queue("Engine_t")]
    assert handled and sorted(handled + left) == list(range(200)), "each event forwarded once or still queued"
    assert runner.stats.in_flight == 0
