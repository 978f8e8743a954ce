"""Bulk writes in bounded commands: what every MongoDB store uses to write a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from pymongo.operations import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

__all__ = ["CHUNK", "bulk_write"]

Operation = InsertOne[Any] | ReplaceOne[Any] | UpdateOne | UpdateMany | DeleteOne

#: Operations per command. FerretDB 1.24 holds one SQLite connection per update of a command
#: until the command ends, from one pool of 100 for all its clients: a command of more than ~100
#: updates waits on itself, and concurrent commands of several engines wait on each other, until
#: the clients time out. 10 lets ten engines write at once; an update costs FerretDB ~10 ms, the
#: extra round trips ~1 %. MongoDB takes any size, and 10 costs it little.
CHUNK: Final = 10


async def bulk_write(collection: AsyncCollection[dict[str, Any]], operations: Sequence[Operation]) -> None:
    """`operations`, unordered, in commands of at most CHUNK, one after the other.

    Every chunk is sent even when one fails; the write errors of all chunks are then raised as one
    BulkWriteError, indexes counted from the start of `operations` as MongoDB does.
    """
    errors: list[dict[str, Any]] = []
    for start in range(0, len(operations), CHUNK):
        try:
            await collection.bulk_write(list(operations[start : start + CHUNK]), ordered=False)
        except BulkWriteError as exc:
            errors.extend({**e, "index": e["index"] + start} for e in exc.details.get("writeErrors", []))
    if errors:
        raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0,
                              "nMatched": 0, "nModified": 0, "nRemoved": 0, "upserted": []})
