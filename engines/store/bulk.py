"""Bulk writes: what every MongoDB store uses to write a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.operations import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

__all__ = ["bulk_write"]

Operation = InsertOne[Any] | ReplaceOne[Any] | UpdateOne | UpdateMany | DeleteOne


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: Sequence[Operation]) -> None:
    """`operations` as one unordered command (the driver splits it at the server's size limits);
    nothing is sent for none. Every operation is tried even when one fails; their errors come as
    one BulkWriteError."""
    if operations:
        await collection.bulk_write(list(operations), ordered=False)
