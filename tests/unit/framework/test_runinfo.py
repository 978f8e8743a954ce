"""The run-info document and its writer: fields, and a database outage that never reaches the engine."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from framework import Engine, MemoryBroker, Message, Outcome, Runner, build_settings
from framework.observability.runinfo import RunInfoWriter


class Forward(Engine[Message]):
    name = "che"

    async def handle(self, event: Message) -> Outcome:
        return event


class Collection:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.docs: dict[str, dict[str, Any]] = {}

    async def replace_one(self, query: dict[str, Any], doc: dict[str, Any], upsert: bool) -> None:
        if self.fail:
            raise AutoReconnect("down")
        self.docs[query["_id"]] = doc


def settings() -> Any:
    return build_settings(
        name="che", flags={"instance": "che-2", "publish_queues": "Engine_axe,Engine_perfdata"}, environ={}
    )


def test_document_names_the_instance_and_its_routes() -> None:
    writer = RunInfoWriter(Collection(), settings())  # type: ignore[arg-type]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    doc = writer.document(12.34567, 5, now)
    assert doc["_id"] == f"che-2@{writer.host}" and doc["engine"] == "che" and doc["instance"] == "che-2"
    assert doc["consume_queue"] == "Engine_che" and doc["publish_queues"] == ["Engine_axe", "Engine_perfdata"]
    assert doc["pid"] == os.getpid() and doc["events_per_s"] == 12.346 and doc["queue_length"] == 5
    assert doc["updated"] == now and doc["version"]


async def test_refresh_writes_and_an_outage_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    collection = Collection()
    runner = Runner(Forward(settings()), settings(), MemoryBroker())
    writer = RunInfoWriter(collection, settings())  # type: ignore[arg-type]
    await writer.refresh(runner)
    assert writer.writes == 1 and list(collection.docs) == [writer.id]
    collection.fail = True
    with caplog.at_level(logging.WARNING):
        await writer.refresh(runner)
        await writer.refresh(runner)
    assert writer.failing and len([r for r in caplog.records if "run-info not written" in r.message]) == 1
    collection.fail = False
    await writer.refresh(runner)
    assert writer.writes == 2 and not writer.failing
