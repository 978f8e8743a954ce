"""The databases an engine declares it uses (`Engine.uses`), opened and checked before it starts.

Each answers within --connect-attempts tries with back-off, or the engine exits naming the masked
URL and what to do. Their errors are mapped where they are used: MongoDB's in
framework/services/mongo.py, InfluxDB's in framework/services/influx.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from framework.backoff import backoff_delays
from framework.config.settings import Settings
from framework.errors import ConfigError, DatabaseUnavailable, MetricsUnavailable
from framework.services.influx import InfluxWriter
from framework.services.mongo import mongo_client, ping
from framework.urls import mask_url

__all__ = ["Services", "open_services"]

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What `Engine.setup` receives; a field is None unless the engine declared it in `uses`."""

    mongo: AsyncDatabase[dict[str, Any]] | None = None
    #: CPS_INFLUX_URL's database ("influx"); the runtime also reports the engine's throughput there.
    influx: InfluxWriter | None = None
    _mongo_client: AsyncMongoClient[dict[str, Any]] | None = None

    async def close(self) -> None:
        if self._mongo_client is not None:
            await self._mongo_client.close()
        if self.influx is not None:
            await self.influx.close()


async def open_services(uses: frozenset[str], settings: Settings) -> Services:
    """Open and ping each declared service ("mongo", "influx"), with the same bounded attempts as
    the broker; raises ConfigError or ServiceUnavailable, having closed what it opened."""
    services = Services()
    try:
        if "mongo" in uses:
            services._mongo_client, services.mongo = await _open_mongo(settings)
        if "influx" in uses:
            services.influx = await _open_influx(settings)
    except BaseException:
        await services.close()
        raise
    return services


async def _open_mongo(settings: Settings) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    client, db = mongo_client(settings)
    try:
        await _until_answered(partial(ping, client), settings, settings.mongo_url, "the database", DatabaseUnavailable)
    except BaseException:
        await client.close()
        raise
    return client, db


async def _open_influx(settings: Settings) -> InfluxWriter:
    """Ping InfluxDB and create the database of CPS_INFLUX_URL (required by an engine using it)."""
    url = settings.influx_url
    if not url:
        raise ConfigError(
            f"CPS_INFLUX_URL: not set; {settings.name} writes to InfluxDB (e.g. http://127.0.0.1:8086/canopsis)"
        )
    writer = InfluxWriter(url)

    async def ready() -> None:
        await writer.ping()
        await writer.create_database()

    try:
        await _until_answered(ready, settings, url, "InfluxDB", MetricsUnavailable)
    except BaseException:
        await writer.close()
        raise
    return writer


async def _until_answered(
    check: Callable[[], Awaitable[None]],
    settings: Settings,
    url: str,
    what: str,
    unavailable: type[DatabaseUnavailable] | type[MetricsUnavailable],
) -> None:
    """Run `check` until it passes, at most --connect-attempts times with back-off.

    Raises `unavailable` naming the masked URL, the attempts and what to do.
    """
    started = time.monotonic()
    delays = backoff_delays(cap=settings.retry_max_delay)
    for attempt in itertools.count(1):
        try:
            await check()
            return
        except unavailable as exc:
            if attempt >= settings.connect_attempts:
                raise unavailable(
                    f"{mask_url(url)}: no answer after {attempt} attempts in {time.monotonic() - started:.0f} s"
                    f" ({exc.detail}); is {what} running? (deploy/local/start)"
                ) from None
            delay = next(delays)
            logger.warning("cannot reach %s (%s); retrying in %.1f s", exc.service, exc.detail, delay)
            await asyncio.sleep(delay)
