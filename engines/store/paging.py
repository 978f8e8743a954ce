"""Reading a whole collection (or much of it) a page at a time, for the beats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection

from framework import database_errors

__all__ = ["PAGE", "pages"]

#: Documents per page: what a beat holds in memory at once (1,000 entities: ~2 MB).
PAGE: Final = 1000


async def pages(
    collection: AsyncCollection[dict[str, Any]], query: dict[str, Any], size: int = PAGE
) -> AsyncIterator[list[dict[str, Any]]]:
    """The documents matching `query` (which must not filter on `_id`), by `_id`, `size` at a time.

    Each page is its own query, asked for when the previous one has been handled: no cursor stays
    open on the server while the beat publishes, and a document written meanwhile is seen or not,
    never twice.
    """
    last = None
    while True:
        page = query if last is None else {**query, "_id": {"$gt": last}}
        with database_errors():
            docs = await collection.find(page).sort("_id", 1).limit(size).to_list(None)
        if docs:
            yield docs
        if len(docs) < size:
            return
        last = docs[-1]["_id"]
