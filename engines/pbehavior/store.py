"""MongoDB I/O of engine-pbehavior beyond plain reads: installing the default types and reason."""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from engines.pbehavior.documents import DEFAULT_REASON, DEFAULT_TYPES
from engines.store.collections import PBEHAVIOR_REASONS, PBEHAVIOR_TYPES
from framework import DUPLICATE_KEY, database_errors

__all__ = ["default_upserts", "install_defaults"]


def default_upserts(now: int) -> dict[str, list[UpdateOne]]:
    """collection → upserts installing Canopsis' default types and reason where missing.

    Each is matched by name, as Canopsis' fixtures name them, and only inserted
    (`$setOnInsert`, with our fixed `_id`): an existing type or reason of that name, Canopsis'
    own included, is never touched, and two instances racing insert one document.
    """

    def upsert(document: dict[str, Any]) -> UpdateOne:
        return UpdateOne({"name": document["name"]}, {"$setOnInsert": document}, upsert=True)

    reason = {**DEFAULT_REASON.to_document(), "created": now}
    return {
        PBEHAVIOR_TYPES: [upsert(kind.to_document()) for kind in DEFAULT_TYPES],
        PBEHAVIOR_REASONS: [upsert(reason)],
    }


async def install_defaults(db: AsyncDatabase[dict[str, Any]], now: int) -> int:
    """Run `default_upserts`; return how many documents were inserted."""
    inserted = 0
    for collection, operations in default_upserts(now).items():
        try:
            with database_errors():
                result = await db[collection].bulk_write(operations, ordered=False)
        except BulkWriteError as exc:  # another instance inserted the same default first
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            inserted += int(exc.details.get("nUpserted", 0))
        else:
            inserted += result.upserted_count
    return inserted
