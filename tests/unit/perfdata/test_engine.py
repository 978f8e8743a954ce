"""engines.perfdata on the in-memory broker: one write per batch, acked after it; outages retried, refusals isolated."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import pytest

from engines.perfdata.engine import PerfdataEngine
from framework import MetricsUnavailable, Point, PointsRefused, build_settings
from framework.runtime.embedded import EmbeddedChain
from framework.transport.names import DEAD_REASON_HEADER


class Recorder:
    """A PointWriter keeping each write; `fail` scripts errors for the next calls."""

    def __init__(self, *fail: Exception) -> None:
        self.writes: list[list[Point]] = []
        self.fail = list(fail)
        self.calls = 0

    async def write(self, points: Sequence[Point]) -> None:
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        if any(p.measurement == "refused" for p in points):
            raise PointsRefused("InfluxDB refused a point: field type conflict", line=None)
        self.writes.append(list(points))


def check(seq: int, perf_data: str | None = None, **extra: Any) -> bytes:
    event = {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": "check",
        "source_type": "resource",
        "component": f"web{seq:02d}",
        "resource": "disk",
        "state": 0,
        "timestamp": int(time.time()),
        "seq": seq,
        **extra,
    }
    if perf_data is not None:
        event["perf_data"] = perf_data
    return json.dumps(event).encode()


async def run(writer: Recorder, bodies: Sequence[bytes], **flags: Any) -> Any:
    settings = build_settings(name="perfdata", flags={"beat_interval": 3600, "bindings": "#", **flags}, environ={})
    engine = PerfdataEngine(settings, writer=writer)
    chain = EmbeddedChain([engine])
    (runner,) = await chain.run(bodies)
    return chain.broker, runner


async def test_a_batch_of_events_is_one_write() -> None:
    writer = Recorder()
    _, runner = await run(writer, [check(i, f"load={i} 'disk used'=50%") for i in range(20)], batch_size=100)
    assert sum(len(w) for w in writer.writes) == 40
    assert len(writer.writes) < 20, "events delivered together are written together"
    assert runner.stats.acked == 20 and runner.stats.dead == 0


async def test_events_are_forwarded_only_to_a_given_publish_queue() -> None:
    broker, _runner = await run(Recorder(), [check(0, "a=1")], publish_queues="next")
    assert [json.loads(m.body)["seq"] for m in broker.drain_queue("next")] == [0]


async def test_influxdb_outage_is_retried_and_nothing_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framework.runtime.handling.backoff_delays", lambda cap: iter([0.01] * 10))
    writer = Recorder(MetricsUnavailable("ConnectError: refused"), MetricsUnavailable("HTTP 503"))
    _, runner = await run(writer, [check(i, "a=1") for i in range(5)], batch_size=10)
    assert sum(len(w) for w in writer.writes) == 5
    assert runner.stats.retried == 2 and runner.stats.dead == 0 and runner.stats.acked == 5


async def test_refused_point_dead_letters_only_its_event() -> None:
    writer = Recorder()
    bodies = [check(0, "a=1"), check(1, "refused=1"), check(2, "b=2")]
    broker, _runner = await run(writer, bodies, batch_size=10)
    dead = broker.drain_queue("Engine_perfdata.dead")
    assert [json.loads(m.body)["seq"] for m in dead] == [1]
    assert dead[0].headers[DEAD_REASON_HEADER] == "InfluxDB refused a point: field type conflict"
    assert {p.measurement for w in writer.writes for p in w} == {"a", "b"}


async def test_malformed_perf_data_is_skipped_with_a_warning_and_acked(caplog: pytest.LogCaptureFixture) -> None:
    writer = Recorder()
    with caplog.at_level(logging.WARNING, logger="engines.perfdata.engine"):
        _, runner = await run(writer, [check(0, "a=1 b=="), check(1, "c=3")])
    assert [p.measurement for w in writer.writes for p in w] == ["c"]
    assert runner.stats.dead == 0 and runner.stats.acked == 2
    [record] = caplog.records
    assert record.getMessage().startswith("perf data of disk/web00 not written: perf_data item 2 'b=='")


async def test_events_without_perf_data_are_acked_without_a_write() -> None:
    writer = Recorder()
    _, runner = await run(writer, [check(0), check(1, output="no metrics")])
    assert writer.writes == [] and writer.calls == 0
    assert runner.stats.acked == 2
