"""The che_axe workload: che → axe on MongoDB against two chained naive relays, random-feeder events.

Both contenders get the same seeded stream (bench/feeder.py), prefetch and broker. Ours runs on a
fresh database per run, dropped afterwards; alarms and entities are counted after the throughput
phase and compared with what the stream implies.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError

from bench.events import stamp
from bench.feeder import Feeder, alarmed_entities
from bench.measure import Contender, Defaults, RelayFailed, Scenario, Stage, Workload, count_label, module_argv
from bench.passthrough import relay_argv
from engines.store.collections import ALARMS, ENTITIES

#: che → axe on FerretDB/SQLite: ~300 events/s over 1k events, ~60 over 5k, where alarms created
#: early start changing: each change is a replace that costs FerretDB 10-40 ms (about 0.4 per event
#: in this stream). 5k events keep a round near two minutes; latency is paced at one event a second
#: for 30 s.
DEFAULTS: Final = Defaults(n=5000, quick_n=1000, rate=1, seconds=30)
#: Slowest plausible events/s of ours on FerretDB, for the hung-run timeout.
FLOOR: Final = 5.0
DEFAULT_MONGO_URL: Final = "mongodb://127.0.0.1:27017"
T = TypeVar("T")
#: Beats resolve alarms and reload rules: none during a run, so the alarm count follows the stream.
NO_BEAT: Final = "3600"


def _dead(consume: str) -> tuple[str, ...]:
    return (f"{consume}.dead",)


def _events_exchange(consume: str) -> str:
    """che binds its queue to an exchange: one per run, so nothing else reaches it."""
    return f"{consume}.events"


def _engine_argv(engine: str, consume: str, publish: str, prefetch: int) -> list[str]:
    return module_argv(f"engines.{engine}", consume, publish, prefetch, "--beat-interval", NO_BEAT)


def _che_argv(consume: str, publish: str, prefetch: int) -> list[str]:
    return [*_engine_argv("che", consume, publish, prefetch), "--exchange", _events_exchange(consume)]


def _axe_argv(consume: str, publish: str, prefetch: int) -> list[str]:
    return _engine_argv("axe", consume, publish, prefetch)


@dataclass(frozen=True)
class MongoFixture:
    """The run's database; `server` identifies the database process, to tell a restart mid-run."""

    db: AsyncDatabase[dict[str, Any]]
    server: int
    env: dict[str, str] = field(default_factory=dict)

    async def counts(self) -> dict[str, int]:
        """Alarms and entities stored; raises RelayFailed if the database restarted during the run.

        Other sessions' fault tests stop the database; the engines wait it out, but the figures
        then time the outage, so the round is discarded and run again.
        """
        if await _retrying(lambda: _server(self.db.client)) != self.server:
            raise RelayFailed("the database restarted during the run (another session's fault test?)")
        return {
            "alarms": await _retrying(lambda: self.db[ALARMS].count_documents({})),
            "entities": await _retrying(lambda: self.db[ENTITIES].count_documents({})),
        }


def fresh_database(url: str) -> Callable[[str], AbstractAsyncContextManager[MongoFixture]]:
    """A fixture factory: database `bench_<tag>` on `url` (new: tags are unique), dropped at the end."""

    @asynccontextmanager
    async def fixture(tag: str) -> AsyncIterator[MongoFixture]:
        name = "bench_" + re.sub(r"[^A-Za-z0-9]", "_", tag)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=5000, socketTimeoutMS=60_000
        )
        try:
            server = await _retrying(lambda: _server(client))
            yield MongoFixture(client[name], server, {"CPS_MONGO_URL": f"{url.rstrip('/')}/{name}"})
        finally:
            await _drop(client, name)
            await client.close()

    return fixture


async def _server(client: AsyncMongoClient[dict[str, Any]]) -> int:
    """The database server's process id (FerretDB and MongoDB both report it)."""
    return int((await client.admin.command("serverStatus"))["pid"])


async def _retrying(call: Callable[[], Awaitable[T]], attempts: int = 20) -> T:
    """`call()`, waiting out a database restart; RelayFailed (the round is run again) if it lasts."""
    for _ in range(attempts):
        try:
            return await call()
        except ConnectionFailure as exc:
            error = exc
            await asyncio.sleep(2)
    raise RelayFailed(f"the database does not answer: {type(error).__name__}: {error}")


async def _drop(client: AsyncMongoClient[dict[str, Any]], name: str, attempts: int = 10) -> None:
    """Drop database `name`, waiting out a database restart (other sessions' fault tests stop it).

    Not checked with listDatabases: on FerretDB that waits on every database of the server, and
    one busy with another session's work stalls it for minutes.
    """
    for _ in range(attempts):
        try:
            await client.drop_database(name)
            return
        except PyMongoError:
            await asyncio.sleep(2)
    print(f"warning: database {name} left behind; drop it by hand", file=sys.stderr)


def contenders(mongo_url: str) -> tuple[Contender, Contender]:
    baseline = Contender("baseline", (Stage("relay1", relay_argv), Stage("relay2", relay_argv)))
    che = Stage(
        "che", _che_argv, own_queues=_dead, own_exchanges=lambda consume: (_events_exchange(consume),), mongo=True
    )
    axe = Stage("axe", _axe_argv, own_queues=_dead, mongo=True)
    ours = Contender("che_axe", (che, axe), fresh_database(mongo_url))
    return baseline, ours


def workload(n: int, prefetch: int, rate: float, seconds: float, mongo_url: str = DEFAULT_MONGO_URL) -> Workload:
    """`che_axe_20k_randomfeeder_prefetch300`: n feeder events preloaded, then more of the same stream paced."""
    feeder = Feeder()
    events = feeder.events(n)
    now = time.time()
    paced = feeder.events(int(rate * seconds))
    scenario = Scenario([stamp(e, now) for e in events], paced, prefetch, rate, floor=FLOOR)
    resources = {f"{e['resource']}/{e['component']}" for e in events}
    components = {e["component"] for e in events}
    connectors = {e["connector"] for e in events}
    expected = {"alarms": len(alarmed_entities(events)), "entities": len(resources | components | connectors)}
    return Workload(
        f"che_axe_{count_label(n)}_randomfeeder_prefetch{prefetch}", scenario, contenders(mongo_url), expected
    )
