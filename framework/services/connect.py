"""Connections to the databases an engine declares it uses, opened and checked before it starts.

MongoDB errors become ours here and only here: `database_errors()` turns an outage into
DatabaseUnavailable (retried by the runtime), while anything else stays a bug. InfluxDB's are
mapped in framework/services/influx.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    CursorNotFound,
    DuplicateKeyError,
    OperationFailure,
    WaitQueueTimeoutError,
    WTimeoutError,
)
from pymongo.uri_parser import parse_uri

from framework.urls import mask_url
from framework.errors import ConfigError, DatabaseUnavailable, MetricsUnavailable
from framework.services.influx import InfluxWriter
from framework.config.settings import Settings

__all__ = ["Services", "open_services", "database_errors", "backoff_delays", "MONGO_OUTAGES", "DUPLICATE_KEY"]

logger = logging.getLogger(__name__)

#: What a down, unreachable or failing-over MongoDB raises: retry later. (ConnectionFailure covers
#: AutoReconnect, NetworkTimeout, NotPrimaryError and ServerSelectionTimeoutError.) A cursor the
#: server dropped under a long read (FerretDB loses them when the read moves to another pooled
#: connection) is the same kind of thing: reading again succeeds.
MONGO_OUTAGES: Final = (ConnectionFailure, WaitQueueTimeoutError, WTimeoutError, CursorNotFound)

DEFAULT_DATABASE: Final = "canopsis"

#: MongoDB's duplicate key error, the one code callers test after `database_errors()`.
DUPLICATE_KEY: Final = 11000
_DUPLICATE_CODES: Final = frozenset({11000, 11001, 12582})
#: FerretDB 2 answers InternalError (1) for whatever PostgreSQL said without a MongoDB code: a
#: unique-index collision (with this message), and every failure to reach PostgreSQL (refused,
#: reset, shutting down, restarting), which is an outage like a MongoDB that does not answer.
_INTERNAL_ERROR: Final = 1
_PG_UNIQUE_VIOLATION: Final = "duplicate key value violates unique constraint"


def backoff_delays(first: float = 0.5, cap: float = 30.0) -> itertools.chain[float]:
    """0.5, 1, 2, 4 … capped: retries never spin, and never wait longer than `cap`."""
    return itertools.chain((min(cap, first * 2**n) for n in range(16)), itertools.repeat(cap))


@contextmanager
def database_errors() -> Iterator[None]:
    """Wrap MongoDB calls: an outage raises DatabaseUnavailable, so the event is retried, not lost.

    Duplicates come out as MongoDB reports them whatever the server: DuplicateKeyError, and in a
    BulkWriteError write errors of code DUPLICATE_KEY. Catch them outside this block.
    """
    try:
        yield
    except MONGO_OUTAGES as exc:
        raise DatabaseUnavailable(f"{type(exc).__name__}: {_brief(exc)}") from exc
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if outage := next((e for e in errors if _outage(e.get("code"), e.get("errmsg", ""))), None):
            raise DatabaseUnavailable(f"write error {outage.get('code')}: {outage.get('errmsg', '')}") from exc
        for error in errors:
            if _duplicate(error.get("code"), error.get("errmsg", "")):
                error["code"] = DUPLICATE_KEY
        raise
    except OperationFailure as exc:
        if _outage(exc.code, str(exc)):
            raise DatabaseUnavailable(f"{type(exc).__name__}: {_brief(exc)}") from exc
        if _duplicate(exc.code, str(exc)) and not isinstance(exc, DuplicateKeyError):
            raise DuplicateKeyError(str(exc), DUPLICATE_KEY, exc.details) from exc
        raise


def _duplicate(code: int | None, message: str) -> bool:
    return code in _DUPLICATE_CODES or (code == _INTERNAL_ERROR and _PG_UNIQUE_VIOLATION in message)


def _outage(code: int | None, message: str) -> bool:
    return code == _INTERNAL_ERROR and _PG_UNIQUE_VIOLATION not in message


def _brief(exc: Exception) -> str:
    """pymongo appends timeouts, a topology dump or the whole reply to its messages, and FerretDB's
    span lines: keep the part that says what failed, on one line."""
    text = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0].split(", full error:")[0]
    return " ".join(text.split())


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


async def _open_mongo(settings: Settings) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    url = settings.mongo_url
    try:
        name = parse_uri(url).get("database") or DEFAULT_DATABASE
    except Exception as exc:  # pymongo raises several types for a malformed URI
        raise ConfigError(f"CPS_MONGO_URL: {mask_url(url)!r} is not a MongoDB URL: {exc}") from None
    # socketTimeoutMS: a command the server never answers fails (and is retried) instead of
    # stalling the engine; the longest legitimate one, a whole-collection read, takes seconds.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=3000, socketTimeoutMS=60_000, appname=settings.instance_name, tz_aware=True
    )

    async def ping() -> None:
        with database_errors():
            await client.admin.command("ping")

    try:
        await _until_answered(ping, settings, url, "the database", DatabaseUnavailable)
    except BaseException:
        await client.close()
        raise
    return client, client[name]


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
