"""An engine's own throughput, written to InfluxDB under the legacy engines' metric names.

The legacy Python engines sent, each minute, a check event whose perf data held
`cps_evt_per_sec` and `cps_sec_per_evt` (warn 0.6, crit 0.9 s), about resource `Engine_<name>`
of component <host FQDN>, connector `Engine`/`engine`; the metric engine stored them in InfluxDB
with those four tags. We write the same points directly, adding the tags `engine` and
`instance`, every REPORT_INTERVAL seconds, or every beat when the beat interval is shorter.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from framework.config.settings import Settings
from framework.errors import BadEvent, ServiceUnavailable
from framework.observability.view import EngineView
from framework.services.influx import InfluxWriter, Point, PointWriter

__all__ = [
    "EVENTS_PER_SECOND",
    "SECONDS_PER_EVENT",
    "Sample",
    "ThroughputReporter",
    "engine_tags",
    "report_interval",
    "report_throughput",
    "throughput_points",
]

logger = logging.getLogger(__name__)

EVENTS_PER_SECOND: Final = "cps_evt_per_sec"
SECONDS_PER_EVENT: Final = "cps_sec_per_evt"
#: The legacy thresholds (engines/core.py `thd_warn_sec_per_evt`, `thd_crit_sec_per_evt`).
WARN_SECONDS_PER_EVENT: Final = 0.6
CRIT_SECONDS_PER_EVENT: Final = 0.9
#: Seconds between reports (the legacy engines reported every 60 s, on their beat).
REPORT_INTERVAL: Final = 10.0


def report_interval(beat_interval: float) -> float:
    """REPORT_INTERVAL, or the beat interval when shorter (a fast beat wants fast figures)."""
    return min(REPORT_INTERVAL, beat_interval)


@dataclass(frozen=True, slots=True)
class Sample:
    """The runner's counters at one moment: `at` (monotonic s), events processed, seconds busy."""

    at: float
    processed: int
    busy: float


def throughput_points(before: Sample, after: Sample, tags: Mapping[str, str], now: int) -> list[Point]:
    """Events per second over the interval, and seconds of handling per event when there were any.

    `busy` counts decoding and handling, retries included, so an outage shows as slow events.
    Returns [] for an empty interval.
    """
    elapsed = after.at - before.at
    if elapsed <= 0:
        return []
    events = after.processed - before.processed
    points = [Point(EVENTS_PER_SECOND, {"value": events / elapsed}, tags, now)]
    if events > 0:
        per_event = max(0.0, after.busy - before.busy) / events
        fields = {"value": per_event, "warn": WARN_SECONDS_PER_EVENT, "crit": CRIT_SECONDS_PER_EVENT}
        points.append(Point(SECONDS_PER_EVENT, fields, tags, now))
    return points


def engine_tags(settings: Settings, host: str) -> dict[str, str]:
    """The legacy self-monitoring event's identity, plus the engine's name and instance."""
    return {
        "connector": "Engine",
        "connector_name": "engine",
        "component": host,
        "resource": settings.consume_queue,
        "engine": settings.name,
        "instance": settings.instance_name,
    }


class ThroughputReporter:
    """Writes the throughput since the previous report; never raises, never blocks events.

    A failed write is one WARNING line; later failures are quiet (DEBUG) until a write passes.
    """

    def __init__(self, writer: PointWriter, settings: Settings, first: Sample) -> None:
        self.writer = writer
        self.settings = settings
        self.last = first
        self.failing = False
        self.reports = 0
        self._tags: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"<ThroughputReporter {self.settings.instance_name} reports={self.reports} failing={self.failing}>"

    async def report(self, sample: Sample, now: int) -> None:
        before, self.last = self.last, sample
        try:
            if self._tags is None:
                # getfqdn may ask the DNS: off the loop, once.
                self._tags = engine_tags(self.settings, await asyncio.to_thread(socket.getfqdn))
            points = throughput_points(before, sample, self._tags, now)
            await self.writer.write(points)
        except (ServiceUnavailable, BadEvent) as exc:
            self._failed(str(exc), traceback=False)
            return
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {exc}", traceback=True)
            return
        self.reports += 1
        if self.failing:
            logger.info("engine metrics written to InfluxDB again")
            self.failing = False

    def _failed(self, reason: str, *, traceback: bool) -> None:
        if self.failing:
            logger.debug("engine metrics not written: %s", reason)
            return
        self.failing = True
        logger.warning(
            "engine metrics not written (%s); events are not affected; retrying every %.0f s, quietly",
            reason,
            report_interval(self.settings.beat_interval),
            exc_info=traceback,
        )


async def report_throughput(engine: EngineView, influx: InfluxWriter | None) -> None:
    """Report the engine's cps_evt_per_sec and cps_sec_per_evt to CPS_INFLUX_URL until cancelled,
    through `influx` (the engine's own writer) or a writer of its own."""
    settings = engine.settings
    assert settings.influx_url is not None
    loop = asyncio.get_running_loop()

    def sample() -> Sample:
        return Sample(at=loop.time(), processed=engine.stats.processed, busy=engine.stats.busy)

    own = None
    writer = influx
    if writer is None:  # an engine that does not write to InfluxDB itself
        writer = own = InfluxWriter(settings.influx_url)
    try:
        reporter = ThroughputReporter(writer, settings, sample())
        interval = report_interval(settings.beat_interval)
        while True:
            await asyncio.sleep(interval)
            await reporter.report(sample(), int(time.time()))
    finally:
        if own is not None:
            await own.close()
