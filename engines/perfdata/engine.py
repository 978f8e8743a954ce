"""engine-perfdata: writes the perf data of check events to InfluxDB, one write per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from engines.model import Event
from engines.perfdata.points import event_points
from engines.store.factory import StoreFactory
from framework import BatchOutcome, Engine, Point, PointWriter, Services, Settings

__all__ = ["PerfdataEngine"]

logger = logging.getLogger(__name__)


class PerfdataEngine(Engine[Event]):
    """Perf data to InfluxDB: one point per metric of each check event, written before the batch is acked.

    A batch is `--batch-size` events, gathered for up to `--batch-wait` seconds: its points go in
    one write, and handle_batch returns only once InfluxDB stored them. An unreachable InfluxDB
    raises MetricsUnavailable, so the runtime retries the batch with nothing acked; a point
    InfluxDB refuses (PointsRefused) makes the runtime replay the batch one event at a time and
    dead-letter the culprit (points of the same series and second overwrite: replays are
    harmless). Events are forwarded unchanged to `--publish-queue`, if any (none by default).
    """

    name = "perfdata"
    message_model = Event
    publish_to = ()
    uses = frozenset({"influx"})
    #: Opened by `setup`: the writer given to the constructor, else CPS_INFLUX_URL's (see StoreFactory).
    writer: PointWriter

    def __init__(self, settings: Settings, *, writer: PointWriter | None = None) -> None:
        super().__init__(settings)
        self._given_writer = writer

    async def setup(self, services: Services) -> None:
        self.writer = StoreFactory(services).points(self._given_writer)

    async def handle_batch(self, events: Sequence[Event]) -> list[BatchOutcome]:
        points: list[Point] = []
        for event in events:
            found = event_points(event)
            for problem in found.problems:
                logger.warning("perf data of %s not written: %s", event.entity_id, problem)
            points.extend(found.points)
        if points:
            await self.writer.write(points)
        return list(events)
