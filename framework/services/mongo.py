"""MongoDB: where its errors become ours, and how a database is opened and checked.

`database_errors()` turns an outage into DatabaseUnavailable (retried by the runtime) and reports
duplicates as MongoDB does whatever the server (FerretDB 2 says code 1); anything else stays a bug.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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

from framework.config.settings import Settings
from framework.errors import ConfigError, DatabaseUnavailable
from framework.urls import mask_url

__all__ = ["DEFAULT_DATABASE", "DUPLICATE_KEY", "MONGO_OUTAGES", "database_errors", "mongo_client", "ping"]

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


def mongo_client(settings: Settings) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    """The client of CPS_MONGO_URL and its database (the URL's, else "canopsis"); nothing is sent
    yet. Raises ConfigError for a URL that is not a MongoDB one."""
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
    return client, client[name]


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> None:
    """Raises DatabaseUnavailable unless the server answers (and, on FerretDB, its PostgreSQL)."""
    with database_errors():
        await client.admin.command("ping")
