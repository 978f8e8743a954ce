"""The /metrics text and the health endpoints, served by a runner on the in-memory broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from framework import BadEvent, Engine, MemoryBroker, Message, Outcome, Runner, build_settings
from framework.observability.prometheus import MetricsServer
from framework.observability.stats import Histogram
from framework.transport.base import Outgoing


class Sorter(Engine[Message]):
    """Forwards even seqs, drops odd ones, dead-letters seq 3."""

    name = "t"

    async def handle(self, event: Message) -> Outcome:
        seq = event.model_dump()["seq"]
        if seq == 3:
            raise BadEvent("three", b"")
        return event if seq % 2 == 0 else []


def settings(**flags: Any) -> Any:
    flags.setdefault("beat_interval", 3600)
    return build_settings(name="t", flags={"instance": "t-1", **flags}, environ={}, defaults={"bindings": ("#",)})


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


def sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram(bounds=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and abs(h.total - 3.65) < 1e-9


async def test_metrics_count_events_and_ready_follows_consuming() -> None:
    broker = MemoryBroker()
    engine = Sorter(settings(publish_queues="out"))
    runner = Runner(engine, engine.settings, broker)
    async with MetricsServer(runner, port=0, host="127.0.0.1") as server:
        assert (await get(server.port, "/health/ready"))[0] == 503
        assert (await get(server.port, "/health/live"))[0] == 200
        ready = asyncio.Event()
        runner.on_ready = ready.set
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(ready.wait(), 5)
        for i in range(10):
            broker.publish(Outgoing(body=json.dumps({"seq": i}).encode(), routing_key="", exchange="canopsis.events"))
        while runner.stats.acked < 10:
            await asyncio.sleep(0.01)
        assert await get(server.port, "/health/ready") == (200, "ready\n")
        status, text = await get(server.port, "/metrics")
        assert status == 200
        assert sample(text, "cps_events_received_total") == 10
        assert sample(text, "cps_events_processed_total") == 10
        assert sample(text, "cps_events_forwarded_total") == 5
        assert sample(text, "cps_events_dropped_total") == 4
        assert sample(text, "cps_events_dead_lettered_total") == 1
        assert sample(text, "cps_in_flight") == 0
        assert 0 <= sample(text, "cps_seconds_since_last_delivery") < 5
        assert 'cps_events_received_total{engine="t",instance="t-1"} 10.0' in text
        assert 'cps_batch_handle_seconds_bucket{engine="t",instance="t-1",le="+Inf"}' in text
        assert "# TYPE cps_batch_handle_seconds histogram" in text
        assert (await get(server.port, "/nope"))[0] == 404
        assert (await get(server.port, "/metrics", "POST"))[0] == 405
        runner.request_stop()
        await asyncio.wait_for(task, 5)
        assert (await get(server.port, "/health/ready"))[0] == 503


async def test_a_garbage_request_gets_no_answer_and_the_server_goes_on() -> None:
    runner = Runner(Sorter(settings()), settings(), MemoryBroker())
    async with MetricsServer(runner, port=0, host="127.0.0.1") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\r\n\r\n")
        assert await reader.read() == b""
        writer.close()
        assert (await get(server.port, "/health/live"))[0] == 200
