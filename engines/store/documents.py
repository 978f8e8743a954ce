"""Rule and document collections (eventfilter, resolve_rule, action_scenario, pbehavior…): read
whole, reloaded on the beat, and validated document by document."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from framework import database_errors

__all__ = ["DocumentSource", "MemoryDocuments", "MongoDocuments", "problem_of", "valid_documents"]

M = TypeVar("M", bound=BaseModel)


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


def valid_documents(
    model: type[M],
    documents: Iterable[Mapping[str, Any]],
    collection: str,
    logger: logging.Logger,
    reported: set[tuple[str, str]] | None = None,
) -> list[M]:
    """The `documents` that validate as `model`, in order; a broken one is skipped, never fatal.

    Each skipped document is one WARNING on the caller's `logger`:
    "<collection> '<_id>' skipped: <field>: <problem>" (see `problem_of`). With `reported`, a set
    the caller keeps across reloads, each (_id, problem) is logged once only.
    """
    valid = []
    for document in documents:
        try:
            valid.append(model.model_validate(document))
        except ValidationError as exc:
            problem = problem_of(exc)
            key = (str(document.get("_id")), problem)
            if reported is None or key not in reported:
                if reported is not None:
                    reported.add(key)
                logger.warning("%s %r skipped: %s", collection, document.get("_id"), problem)
    return valid


def problem_of(exc: ValidationError, limit: int = 3) -> str:
    """The first `limit` errors of `exc` as "<field path>: <message>", joined by "; "."""
    return "; ".join(_describe(error) for error in exc.errors()[:limit])


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
