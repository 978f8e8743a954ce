"""engines.store.factory: a given store is used as it is, else MongoDB's, else one in memory."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import pytest
from pydantic import BaseModel, Field

from engines.che.engine import CheOptions
from engines.store.alarm_cache import CachedAlarmStore
from engines.store.alarms import MemoryAlarmStore, MongoAlarmStore
from engines.store.documents import MemoryDocuments, MongoDocuments, valid_documents
from engines.store.entities import MemoryEntityStore, MongoEntityStore
from engines.store.entity_cache import CachedEntityStore
from engines.store.factory import StoreFactory, options_of
from engines.store.points import MemoryPoints
from framework import Services, build_settings


class FakeDatabase(defaultdict[str, Any]):
    """Enough of an AsyncDatabase for stores that only pick their collections when built."""

    def __init__(self) -> None:
        super().__init__(lambda: object())


def with_mongo() -> StoreFactory:
    return StoreFactory(Services(mongo=FakeDatabase()))  # type: ignore[arg-type]


WITHOUT = StoreFactory(Services())


def test_a_given_store_wins_over_mongodb_and_memory() -> None:
    given = MemoryEntityStore()
    assert with_mongo().entities(given, cache_mb=32, cache_seconds=60) is given
    assert WITHOUT.entities(given) is given


def test_mongodb_when_the_engine_has_it_else_memory() -> None:
    assert isinstance(with_mongo().entities(None), MongoEntityStore)
    assert isinstance(with_mongo().alarms(None), MongoAlarmStore)
    assert isinstance(with_mongo().documents(None, "eventfilter"), MongoDocuments)
    assert isinstance(WITHOUT.entities(None), MemoryEntityStore)
    assert isinstance(WITHOUT.alarms(None), MemoryAlarmStore)
    assert isinstance(WITHOUT.documents(None, "eventfilter"), MemoryDocuments)


@pytest.mark.parametrize(("mb", "seconds", "cached"), [(32, 60, True), (0, 60, False), (32, 0, False)])
def test_a_cache_goes_in_front_of_mongodb_only_when_both_settings_ask(mb: float, seconds: float, cached: bool) -> None:
    assert isinstance(with_mongo().entities(None, cache_mb=mb, cache_seconds=seconds), CachedEntityStore) is cached
    assert isinstance(with_mongo().alarms(None, cache_mb=mb, cache_seconds=seconds), CachedAlarmStore) is cached
    assert isinstance(WITHOUT.entities(None, cache_mb=mb, cache_seconds=seconds), MemoryEntityStore)


async def test_memory_documents_start_with_the_defaults() -> None:
    source = WITHOUT.documents(None, "resolve_rule", [{"_id": "default-rule"}])
    assert await source.all() == [{"_id": "default-rule"}]


def test_points_go_to_the_given_writer_else_influxdb_else_memory() -> None:
    given = MemoryPoints()
    assert WITHOUT.points(given) is given
    assert isinstance(WITHOUT.points(None), MemoryPoints)


def test_options_are_the_validated_ones_else_the_defaults() -> None:
    assert options_of(build_settings(name="che", flags={}, environ={}), CheOptions) == CheOptions()
    settings = build_settings(name="che", flags={"output_length": 10}, environ={}, options_model=CheOptions)
    assert options_of(settings, CheOptions).output_length == 10


class Rule(BaseModel):
    name: str
    priority: int = Field(default=0, ge=0)


def test_broken_documents_are_skipped_and_logged_with_the_field(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.valid")
    documents = [{"_id": "a", "name": "ok"}, {"_id": "b", "priority": -1}]
    assert valid_documents(Rule, documents, "rules", log) == [Rule(name="ok")]
    assert [r.getMessage() for r in caplog.records] == [
        "rules 'b' skipped: name: Field required; priority: Input should be greater than or equal to 0"
    ]


def test_a_reported_set_logs_each_problem_once(caplog: pytest.LogCaptureFixture) -> None:
    log, reported = logging.getLogger("test.valid"), set[tuple[str, str]]()
    for _ in range(3):
        valid_documents(Rule, [{"_id": "b"}], "rules", log, reported)
    assert len(caplog.records) == 1
