"""How an engine gets its options and stores: the ones its constructor was given (tests, the
embedded chain), else over MongoDB (or InfluxDB) when the runtime opened it, else in memory.

Every engine's `setup` builds its stores once through a StoreFactory, into a frozen dataclass
whose fields are never None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from engines.store.alarm_cache import CachedAlarmStore
from engines.store.alarms import AlarmStore, MemoryAlarmStore, MongoAlarmStore
from engines.store.documents import DocumentSource, MemoryDocuments, MongoDocuments
from engines.store.entities import EntityStore, MemoryEntityStore, MongoEntityStore
from engines.store.entity_cache import CachedEntityStore
from engines.store.points import MemoryPoints
from framework import PointWriter, Services, Settings

__all__ = ["StoreFactory", "options_of"]

OptionsT = TypeVar("OptionsT", bound=BaseModel)
T = TypeVar("T")
Database = AsyncDatabase[dict[str, Any]]


def options_of(settings: Settings, model: type[OptionsT]) -> OptionsT:
    """The engine's own options as the runtime validated them (`Settings.options`), or `model`'s
    defaults when the settings were built without them (a test's `build_settings`)."""
    return settings.options if isinstance(settings.options, model) else model()


class StoreFactory:
    """Opens each store: `given` when not None, else over MongoDB if the engine has it, else in memory.

    A cache (`cache_mb` and `cache_seconds` both non-zero) is put in front of the MongoDB entity
    and alarm stores only: a given store is used as it is, and a memory store needs none.
    """

    def __init__(self, services: Services) -> None:
        self.mongo: Database | None = services.mongo
        self.influx: PointWriter | None = services.influx

    def __repr__(self) -> str:
        return f"<StoreFactory mongo={self.mongo is not None} influx={self.influx is not None}>"

    def open(self, given: T | None, in_mongo: Callable[[Database], T], in_memory: Callable[[], T]) -> T:
        """`given`, else `in_mongo(database)`, else `in_memory()`."""
        if given is not None:
            return given
        if self.mongo is not None:
            return in_mongo(self.mongo)
        return in_memory()

    def documents(
        self, given: DocumentSource | None, collection: str, defaults: Sequence[dict[str, Any]] = ()
    ) -> DocumentSource:
        """A rule or document collection read whole; in memory it starts with `defaults` (the
        fixtures Canopsis installs, which setup writes into MongoDB itself)."""
        return self.open(given, lambda db: MongoDocuments(db, collection), lambda: MemoryDocuments(defaults))

    def entities(
        self,
        given: EntityStore | None,
        *,
        last_event_date_resolution: int = 0,
        cache_mb: float = 0,
        cache_seconds: float = 0,
    ) -> EntityStore:
        """`default_entities` (see MongoEntityStore and CachedEntityStore for the arguments)."""
        resolution = last_event_date_resolution

        def in_mongo(db: Database) -> EntityStore:
            store = MongoEntityStore(db, last_event_date_resolution=resolution)
            if not (cache_mb and cache_seconds):
                return store
            return CachedEntityStore(store, int(cache_mb * 2**20), cache_seconds)

        return self.open(given, in_mongo, lambda: MemoryEntityStore(last_event_date_resolution=resolution))

    def alarms(self, given: AlarmStore | None, *, cache_mb: float = 0, cache_seconds: float = 0) -> AlarmStore:
        """`periodical_alarm` (and `resolved_alarms`), behind a CachedAlarmStore when asked."""

        def in_mongo(db: Database) -> AlarmStore:
            store = MongoAlarmStore(db)
            if not (cache_mb and cache_seconds):
                return store
            return CachedAlarmStore(store, int(cache_mb * 2**20), cache_seconds)

        return self.open(given, in_mongo, MemoryAlarmStore)

    def points(self, given: PointWriter | None) -> PointWriter:
        """Where perf data goes: `given`, else CPS_INFLUX_URL's database, else a list in memory."""
        if given is not None:
            return given
        return self.influx if self.influx is not None else MemoryPoints()
