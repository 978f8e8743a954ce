"""framework.observability.throughput: the engine's own throughput (cps_evt_per_sec,
cps_sec_per_evt), and that it never hurts events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from framework import Engine, MemoryBroker, Message, MetricsUnavailable, Outcome, Point, Runner, build_settings
from framework.observability.throughput import (
    EVENTS_PER_SECOND,
    SECONDS_PER_EVENT,
    Sample,
    ThroughputReporter,
    report_interval,
    throughput_points,
)
from framework.services.connect import Services
from framework.transport.base import Outgoing

TAGS = {"engine": "t"}


@pytest.mark.parametrize(("beat", "interval"), [(60.0, 10.0), (10.0, 10.0), (2.0, 2.0), (0.05, 0.05)])
def test_report_interval_is_ten_seconds_or_the_beat_when_shorter(beat: float, interval: float) -> None:
    assert report_interval(beat) == interval


def test_rate_and_seconds_per_event_over_the_interval() -> None:
    points = throughput_points(Sample(100.0, 50, 1.0), Sample(110.0, 150, 3.0), TAGS, 1764358800)
    assert points == [
        Point(EVENTS_PER_SECOND, {"value": 10.0}, TAGS, 1764358800),
        Point(SECONDS_PER_EVENT, {"value": 0.02, "warn": 0.6, "crit": 0.9}, TAGS, 1764358800),
    ]


def test_idle_interval_reports_zero_events_and_no_seconds_per_event() -> None:
    points = throughput_points(Sample(100.0, 50, 1.0), Sample(110.0, 50, 1.0), TAGS, 1)
    assert points == [Point(EVENTS_PER_SECOND, {"value": 0.0}, TAGS, 1)]


def test_empty_interval_reports_nothing() -> None:
    assert throughput_points(Sample(5.0, 1, 0.0), Sample(5.0, 9, 1.0), TAGS, 1) == []


# ---- in the runner ---------------------------------------------------------------------------------


class Recorder:
    """A PointWriter that keeps what it is given, or raises `error` every time."""

    def __init__(self, error: Exception | None = None) -> None:
        self.points: list[Point] = []
        self.calls = 0
        self.error = error

    async def write(self, points: Sequence[Point]) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.points.extend(points)


class Forward(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Outcome:
        return event


def settings(**flags: Any) -> Any:
    flags.setdefault("influx_url", "http://127.0.0.1:8086/metrics")
    flags.setdefault("beat_interval", 0.05)
    return build_settings(name="t", flags={"publish_queues": "out", **flags}, environ={})


async def run_until(runner: Runner, broker: MemoryBroker, count: int, done: Any) -> None:
    ready = asyncio.Event()
    runner.on_ready = ready.set
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(ready.wait(), 5)
    for i in range(count):
        broker.publish(Outgoing(body=json.dumps({"seq": i}).encode(), routing_key="Engine_t"))
    async with asyncio.timeout(10):
        while not done():
            await asyncio.sleep(0.01)
    runner.request_stop()
    await asyncio.wait_for(task, 5)


async def test_runner_reports_its_throughput_with_the_legacy_names_and_tags() -> None:
    broker, writer = MemoryBroker(), Recorder()
    s = settings(instance="t-2")
    runner = Runner(Forward(s), s, broker, services=Services(influx=writer))  # type: ignore[arg-type]
    await run_until(runner, broker, 40, lambda: broker.depth("out") == 40 and len(writer.points) >= 3)
    names = {p.measurement for p in writer.points}
    assert names == {EVENTS_PER_SECOND, SECONDS_PER_EVENT}
    tags = writer.points[0].tags
    assert tags["connector"] == "Engine" and tags["connector_name"] == "engine" and tags["component"]
    assert {k: tags[k] for k in ("resource", "engine", "instance")} == {
        "resource": "Engine_t",
        "engine": "t",
        "instance": "t-2",
    }
    rates = [p for p in writer.points if p.measurement == EVENTS_PER_SECOND]
    assert max(float(p.fields["value"]) for p in rates) > 0
    assert runner.stats.busy > 0


async def test_unreachable_influxdb_logs_one_warning_and_events_flow(caplog: pytest.LogCaptureFixture) -> None:
    broker, writer = MemoryBroker(), Recorder(MetricsUnavailable("ConnectError: refused"))
    s = settings()
    runner = Runner(Forward(s), s, broker, services=Services(influx=writer))  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="framework.observability.throughput"):
        await run_until(runner, broker, 30, lambda: broker.depth("out") == 30 and writer.calls >= 4)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "InfluxDB unavailable: ConnectError: refused" in warnings[0].getMessage()
    assert runner.stats.dead == 0 and runner.stats.retried == 0


async def test_bug_in_the_metrics_writer_never_stops_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    broker, writer = MemoryBroker(), Recorder(RuntimeError("boom"))
    s = settings()
    runner = Runner(Forward(s), s, broker, services=Services(influx=writer))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="framework.observability.throughput"):
        await run_until(runner, broker, 10, lambda: broker.depth("out") == 10 and writer.calls >= 3)
    [warning] = caplog.records
    assert "RuntimeError: boom" in warning.getMessage() and warning.exc_info is not None


async def test_engine_without_influx_service_reports_through_its_own_writer(caplog: pytest.LogCaptureFixture) -> None:
    broker = MemoryBroker()
    s = settings(influx_url="http://127.0.0.1:1/metrics")  # nothing listens: the write fails, quietly
    runner = Runner(Forward(s), s, broker)
    with caplog.at_level(logging.WARNING, logger="framework.observability.throughput"):
        await run_until(runner, broker, 10, lambda: broker.depth("out") == 10 and caplog.records)
    assert "InfluxDB unavailable" in caplog.records[0].getMessage()


async def test_no_influx_url_no_report() -> None:
    broker, writer = MemoryBroker(), Recorder()
    s = settings(influx_url=None)
    runner = Runner(Forward(s), s, broker, services=Services(influx=writer))  # type: ignore[arg-type]
    await run_until(runner, broker, 5, lambda: broker.depth("out") == 5)
    await asyncio.sleep(0.15)
    assert writer.calls == 0


async def test_reporter_says_once_when_writes_pass_again(caplog: pytest.LogCaptureFixture) -> None:
    writer = Recorder(MetricsUnavailable("down"))
    reporter = ThroughputReporter(writer, settings(), Sample(0.0, 0, 0.0))
    with caplog.at_level(logging.INFO, logger="framework.observability.throughput"):
        await reporter.report(Sample(1.0, 1, 0.1), 1)
        await reporter.report(Sample(2.0, 2, 0.2), 2)
        writer.error = None
        await reporter.report(Sample(3.0, 3, 0.3), 3)
        await reporter.report(Sample(4.0, 4, 0.4), 4)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert reporter.reports == 2 and not reporter.failing
