"""One document per engine instance in `engine_run_info`, refreshed each beat, read by `cps-healthcheck`.

Only engines that use MongoDB write it. `_id` is `<instance>@<host>`, so a restarted process
replaces its own document; `updated` older than a few beats means the instance is gone or stuck.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection

from framework.config.settings import Settings
from framework.errors import ServiceUnavailable
from framework.observability.stats import Rate
from framework.observability.view import EngineView
from framework.services.mongo import database_errors

__all__ = ["RUN_INFO_COLLECTION", "RunInfoWriter", "project_version", "run_info_id"]

logger = logging.getLogger(__name__)

RUN_INFO_COLLECTION: Final = "engine_run_info"
#: A write slower than this is given up (the next beat tries again).
WRITE_TIMEOUT: Final = 5.0


def project_version() -> str:
    try:
        return version("canopsis-engines")
    except PackageNotFoundError:
        return "unknown"


def run_info_id(settings: Settings, host: str) -> str:
    return f"{settings.instance_name}@{host}"


class RunInfoWriter:
    """Upserts this instance's document; never raises (a failed write is one WARNING, then quiet)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], settings: Settings) -> None:
        self.collection = collection
        self.settings = settings
        self.host = socket.gethostname()
        self.id = run_info_id(settings, self.host)
        self.writes = 0
        self.failing = False
        self._rate: Rate | None = None

    def __repr__(self) -> str:
        return f"<RunInfoWriter {self.id} writes={self.writes} failing={self.failing}>"

    def document(self, events_per_s: float, queue_length: int | None, now: datetime) -> dict[str, Any]:
        s = self.settings
        return {
            "_id": self.id,
            "engine": s.name,
            "instance": s.instance_name,
            "host": self.host,
            "pid": os.getpid(),
            "consume_queue": s.consume_queue,
            "publish_queues": list(s.publish_queues),
            "version": project_version(),
            "events_per_s": round(events_per_s, 3),
            "queue_length": queue_length,
            "beat_interval": s.beat_interval,
            "updated": now,
        }

    async def refresh(self, engine: EngineView) -> None:
        loop = asyncio.get_running_loop()
        processed = engine.stats.processed
        if self._rate is None:
            self._rate = Rate(loop.time(), processed)
            rate = 0.0
        else:
            rate = self._rate.update(loop.time(), processed)
        doc = self.document(rate, await engine.queue_length(), datetime.now(UTC))
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                with database_errors():
                    await self.collection.replace_one({"_id": self.id}, doc, upsert=True)
        except (ServiceUnavailable, TimeoutError) as exc:
            if not self.failing:
                logger.warning("run-info not written (%s); retrying each beat, quietly", exc or "timeout")
            self.failing = True
            return
        except Exception:
            if not self.failing:
                logger.exception("run-info not written")
            self.failing = True
            return
        if self.failing:
            logger.info("run-info written again")
        self.failing = False
        self.writes += 1
