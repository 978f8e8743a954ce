"""Rule collections (eventfilter, resolve_rule, flapping_rule): read whole, reloaded on the beat."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from framework import database_errors

__all__ = ["DocumentSource", "MongoDocuments", "MemoryDocuments"]


class DocumentSource(Protocol):
    async def all(self) -> list[dict[str, Any]]:
        """Every document of the collection; raises DatabaseUnavailable when it does not answer."""


class MongoDocuments:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str) -> None:
        self.collection = db[collection]

    def __repr__(self) -> str:
        return f"<MongoDocuments {self.collection.full_name}>"

    async def all(self) -> list[dict[str, Any]]:
        with database_errors():
            return await self.collection.find({}).to_list(None)


class MemoryDocuments:
    def __init__(self, documents: Sequence[dict[str, Any]] = ()) -> None:
        self.documents = list(documents)

    async def all(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.documents)
