"""A beat lease in MongoDB: with N instances of an engine, one beat runs per tick.

Like Canopsis' periodical locks, a lease is taken for slightly less than the beat interval and
never released: the holder's next tick renews it, and if the holder dies another instance takes
over one interval later. No clock is read here; `now` is the caller's.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from framework.services.mongo import database_errors

__all__ = ["LEASE_COLLECTION", "Lease", "holder_id"]

LEASE_COLLECTION: Final = "engine_lease"

#: Taken for the interval minus this margin, so the holder's next tick always finds it expired.
RENEW_MARGIN: Final = 0.1


def holder_id(instance: str) -> str:
    """Unique per process: two instances on one host, or one restarted, are different holders."""
    return f"{instance}@{socket.gethostname()}:{os.getpid()}"


class Lease:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], name: str, holder: str) -> None:
        self.collection = collection
        self.name = name
        self.holder = holder

    def __repr__(self) -> str:
        return f"<Lease {self.name} holder={self.holder}>"

    async def acquire(self, interval: float, now: float) -> bool:
        """Take or renew the lease until `now + interval - margin`; False if another holder has it.

        Raises DatabaseUnavailable when MongoDB does not answer.
        """
        until = now + max(interval - RENEW_MARGIN, RENEW_MARGIN)
        mine = {"$or": [{"until": {"$lte": now}}, {"holder": self.holder}]}
        try:
            with database_errors():
                doc = await self.collection.find_one_and_update(
                    {"_id": self.name, **mine},
                    {"$set": {"holder": self.holder, "until": until}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
        except DuplicateKeyError:
            return False  # the document exists and is held by someone else: the upsert collided
        return doc is not None and doc.get("holder") == self.holder
