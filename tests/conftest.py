"""Fixtures of the integration and fault tiers: a real RabbitMQ, engines as processes, an AMQP client.

Unit tests request none of these, so they run without services. A test of the other tiers asks
for `engines` (engine processes), `amqp` (a client that publishes and collects), `names`
(queue and engine names unique to the test, deleted at the end) and `events` (its events).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import aio_pika.abc
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from framework.urls import mask_url
from framework.transport.names import EVENTS_EXCHANGE, dead_letter_queue, engine_queue

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: Publishes in flight at once: enough to keep the broker busy, few enough not to flood it.
PUBLISH_WINDOW = 200
#: Process and broker waits are bounded by these; the machine is slow and shared.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

Body = bytes | Mapping[str, Any]


def amqp_url() -> str:
    return os.environ.get("CPS_AMQP_URL") or DEFAULT_AMQP_URL


# ---- reports: fixtures print engine logs only when the test failed ---------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = (getattr(request.node, f"report_{when}", None) for when in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


# ---- the broker ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    """The AMQP URL of a broker that answered a real AMQP handshake; fails (never skips) otherwise."""
    url = amqp_url()

    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=5)
        await connection.close()

    # In a thread of its own: asyncio.run must not touch the loop pytest-asyncio gives tests.
    problem = None
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, probe()).result(timeout=20)
        except Exception as exc:  # noqa: BLE001 - any failure means "no usable broker"
            problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        pytest.fail(
            f"RabbitMQ does not answer at {mask_url(url)} (CPS_AMQP_URL): {problem}; start it with deploy/local/start",
            pytrace=False,
        )
    return url


# ---- names -----------------------------------------------------------------------------------


@dataclass
class Names:
    """Queue, engine and routing-key names unique to one test; every queue made here is deleted after it."""

    prefix: str
    queues: set[str] = field(default_factory=set)

    @property
    def routing_key(self) -> str:
        """A routing key only this test binds, so events of other tests never reach its queues."""
        return f"{self.prefix}events"

    def queue(self, role: str) -> str:
        """A plain queue name (passthrough `--consume-queue`/`--publish-queue`)."""
        name = f"{self.prefix}{role}"
        self.queues.update((name, dead_letter_queue(name)))
        return name

    def engine(self, role: str) -> str:
        """An engine name (chain-file section, `--name`); its queue is Engine_<name>."""
        name = f"{self.prefix}{role}"
        self.queue_of(name)
        return name

    def queue_of(self, engine_name: str) -> str:
        queue = engine_queue(engine_name)
        self.queues.update((queue, dead_letter_queue(queue)))
        return queue


@pytest.fixture
async def names(request: pytest.FixtureRequest, rabbitmq: str) -> AsyncIterator[Names]:
    test = re.sub(r"[^A-Za-z0-9]+", "", request.node.name.removeprefix("test_"))[:20]
    created = Names(prefix=f"t{uuid.uuid4().hex[:8]}_{test}_")
    yield created
    await _delete_queues(rabbitmq, sorted(created.queues))


async def _delete_queues(url: str, queues: Sequence[str]) -> None:
    if not queues:
        return
    connection = await aio_pika.connect(url, timeout=10)
    try:
        for queue in queues:
            # A delete of a missing queue closes the channel on some brokers: one channel each.
            channel = await connection.channel()
            try:
                await channel.queue_delete(queue)
            except aio_pika.exceptions.AMQPError:
                pass
            finally:
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()


async def consumer_count(url: str, queue: str) -> int | None:
    """Consumers of `queue` by a passive declare; None when the queue does not exist."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        result = declared.declaration_result
        return int(result.consumer_count or 0)
    finally:
        await connection.close()


# ---- engine processes ------------------------------------------------------------------------


@dataclass
class EngineProcess:
    """One `python -m engines.<module> …` process, its log in a file."""

    module: str
    args: tuple[str, ...]
    consume_queue: str
    log_path: Path
    popen: subprocess.Popen[bytes]
    url: str

    def __repr__(self) -> str:
        return f"<EngineProcess {self.module} pid={self.pid} queue={self.consume_queue} rc={self.returncode}>"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log(self, tail: int = 6000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:]

    def describe(self) -> str:
        """For assertion messages: who it is, how it ended, and the end of its log."""
        return f"{self!r}\n--- {self.log_path.name} ---\n{self.log()}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    async def wait(self, timeout: float) -> int | None:
        """The exit code once the process ended, or None if it still runs after `timeout` s."""
        deadline = time.monotonic() + timeout
        while (code := self.popen.poll()) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return code

    async def wait_consuming(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the broker lists a consumer on our queue; fail if the process died first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.returncode is not None:
                pytest.fail(f"engine exited with {self.returncode} before consuming\n{self.describe()}")
            count = await consumer_count(self.url, self.consume_queue)
            if count:
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"no consumer on {self.consume_queue} after {timeout:.0f} s\n{self.describe()}")


class Engines:
    """Starts engine processes for one test and ends every leftover at teardown."""

    def __init__(self, url: str, log_dir: Path, names: Names) -> None:
        self.url = url
        self.log_dir = log_dir
        self.names = names
        self.started: list[EngineProcess] = []

    def __repr__(self) -> str:
        running = sum(p.returncode is None for p in self.started)
        return f"<Engines started={len(self.started)} running={running} logs={self.log_dir}>"

    async def start(
        self,
        module: str,
        *args: str,
        consume_queue: str,
        env: Mapping[str, str] | None = None,
        stall_timeout: float | None = 30.0,
        drain_timeout: float | None = 5.0,
        wait: bool = True,
    ) -> EngineProcess:
        """Start `python -m engines.<module> *args`; by default wait until it consumes `consume_queue`.

        `consume_queue` is the queue the flags make it consume (checked on the broker, and
        deleted after the test). `--stall-timeout` and `--drain-timeout` are added unless None.
        """
        self.names.queues.update((consume_queue, dead_letter_queue(consume_queue)))
        argv = list(args)
        if stall_timeout is not None:
            argv += ["--stall-timeout", str(stall_timeout)]
        if drain_timeout is not None:
            argv += ["--drain-timeout", str(drain_timeout)]
        proc_env = dict(os.environ)
        proc_env.update(
            {
                "CPS_AMQP_URL": self.url,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, (str(ROOT), str(ROOT / "tests" / "integration"), os.environ.get("PYTHONPATH")))
                ),
            }
        )
        proc_env.update(env or {})
        log_path = self.log_dir / f"{len(self.started):02d}-{module}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", f"engines.{module}", *argv],
                cwd=ROOT,
                env=proc_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = EngineProcess(module, tuple(args), consume_queue, log_path, popen, self.url)
        self.started.append(proc)
        if wait:
            await proc.wait_consuming()
        return proc

    async def restart(self, proc: EngineProcess, **kwargs: Any) -> EngineProcess:
        """Start `proc` again with the same arguments, once it has exited and its consumer is gone."""
        code = await proc.wait(STOP_TIMEOUT)
        assert code is not None, f"cannot restart a running engine\n{proc.describe()}"
        deadline = time.monotonic() + START_TIMEOUT
        while await consumer_count(self.url, proc.consume_queue) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return await self.start(proc.module, *proc.args, consume_queue=proc.consume_queue, **kwargs)

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.started)

    async def stop_all(self) -> None:
        for proc in self.started:
            proc.kill(signal.SIGTERM)
        for proc in self.started:
            if await proc.wait(STOP_TIMEOUT) is None:
                proc.kill(signal.SIGKILL)
                proc.popen.wait(STOP_TIMEOUT)


@pytest.fixture
async def engines(request: pytest.FixtureRequest, rabbitmq: str, names: Names, tmp_path: Path) -> AsyncIterator[Engines]:
    factory = Engines(rabbitmq, tmp_path, names)
    yield factory
    await factory.stop_all()
    if _failed(request):
        print(f"\n=== engine logs of {request.node.nodeid} ===\n{factory.describe()}")


# ---- the AMQP client -------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, Any]
    redelivered: bool

    def json(self) -> Any:
        return json.loads(self.body)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Collector:
    """Everything a queue delivers from `start()` on, optionally filtered by `match`."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, queue: str, match: Callable[[Received], bool] | None):
        self.channel = channel
        self.queue_name = queue
        self.match = match
        self.messages: list[Received] = []
        self._arrived = asyncio.Event()
        self._tag: str | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None

    def __repr__(self) -> str:
        state = "collecting" if self._tag else "stopped"
        return f"<Collector {self.queue_name} {state} messages={len(self.messages)}>"

    async def start(self) -> Collector:
        self._queue = await self.channel.declare_queue(self.queue_name, durable=True)
        self._tag = await self._queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received = Received(bytes(message.body), dict(message.headers or {}), bool(message.redelivered))
        if self.match is None or self.match(received):
            self.messages.append(received)
            self._arrived.set()

    async def wait_until(self, done: Callable[[list[Received]], bool], timeout: float) -> bool:
        """Wait until `done(messages)` holds; False if it still does not after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not done(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                pass
        return True

    async def wait_count(self, count: int, timeout: float) -> bool:
        return await self.wait_until(lambda messages: len(messages) >= count, timeout)

    async def linger(self, seconds: float) -> None:
        """Keep collecting a little longer, to see duplicates or strays."""
        await asyncio.sleep(seconds)

    async def stop(self) -> list[Received]:
        if self._tag is not None and self._queue is not None and not self.channel.is_closed:
            try:
                await self._queue.cancel(self._tag)
            except aio_pika.exceptions.AMQPError:
                pass
        self._tag = None
        if not self.channel.is_closed:
            await self.channel.close()
        return self.messages


class AmqpClient:
    """Publishes with confirms and collects what engines forward; reconnects on demand."""

    def __init__(self, url: str, connection_name: str) -> None:
        self.url = url
        self.connection_name = connection_name
        self.connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._collectors: list[Collector] = []

    def __repr__(self) -> str:
        state = "open" if self.connection is not None and not self.connection.is_closed else "closed"
        return f"<AmqpClient {mask_url(self.url)} {state} collectors={len(self._collectors)}>"

    async def connect(self) -> None:
        await self.close()
        self.connection = await aio_pika.connect(
            self.url, timeout=10, client_properties={"connection_name": self.connection_name}
        )
        self._channel = None

    async def _publish_channel(self) -> aio_pika.abc.AbstractChannel:
        if self.connection is None or self.connection.is_closed:
            await self.connect()
        assert self.connection is not None
        if self._channel is None or self._channel.is_closed:
            # on_return_raises: an event no queue takes is a broken test setup, not a silent loss.
            self._channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        return self._channel

    async def publish(
        self,
        bodies: Iterable[Body],
        *,
        queue: str | None = None,
        exchange: str = EVENTS_EXCHANGE,
        routing_key: str = "",
        headers: Sequence[Mapping[str, Any] | None] | None = None,
        window: int = PUBLISH_WINDOW,
    ) -> int:
        """Publish persistent messages, `window` confirms in flight at a time; return how many.

        To `queue` through the default exchange, or else to `exchange` (the topic exchange
        canopsis.events, declared here as the engines declare it) with `routing_key`. A dict
        body is sent as JSON. Raises if the broker refuses or cannot route one.
        """
        channel = await self._publish_channel()
        if queue is not None:
            await channel.declare_queue(queue, durable=True)
            target: aio_pika.abc.AbstractExchange = channel.default_exchange
            key = queue
        else:
            target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            key = routing_key
        messages = [
            aio_pika.Message(
                body if isinstance(body, bytes) else json.dumps(body).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers=dict(headers[i]) if headers is not None and headers[i] is not None else None,
            )
            for i, body in enumerate(bodies)
        ]
        for start in range(0, len(messages), window):
            await asyncio.gather(*(target.publish(m, routing_key=key) for m in messages[start : start + window]))
        return len(messages)

    async def consume(self, queue: str, match: Callable[[Received], bool] | None = None) -> Collector:
        """Start collecting `queue` (declared durable if missing); stop it with `Collector.stop()`."""
        if self.connection is None or self.connection.is_closed:
            await self.connect()
        assert self.connection is not None
        collector = await Collector(await self.connection.channel(), queue, match).start()
        self._collectors.append(collector)
        return collector

    async def collect(
        self,
        queue: str,
        until_count: int,
        timeout: float,
        *,
        match: Callable[[Received], bool] | None = None,
        linger: float = 0.0,
    ) -> list[Received]:
        """Consume `queue` until `until_count` messages (matching `match`) or `timeout` s; return them.

        `linger` keeps collecting that long after the count is reached, to catch duplicates.
        """
        collector = await self.consume(queue, match)
        if await collector.wait_count(until_count, timeout) and linger:
            await collector.linger(linger)
        return await collector.stop()

    async def delete_queue(self, queue: str) -> None:
        """Delete `queue` now, with its messages and consumers (the broker cancels them)."""
        channel = await self._publish_channel()
        await channel.queue_delete(queue)

    async def close(self) -> None:
        for collector in self._collectors:
            try:
                await collector.stop()
            except aio_pika.exceptions.AMQPError:
                pass
        self._collectors.clear()
        if self.connection is not None and not self.connection.is_closed:
            await self.connection.close()
        self.connection = None


@pytest.fixture
async def amqp(request: pytest.FixtureRequest, rabbitmq: str) -> AsyncIterator[AmqpClient]:
    client = AmqpClient(rabbitmq, f"pytest:{request.node.nodeid}")
    await client.connect()
    yield client
    await client.close()


# ---- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFactory:
    """Canopsis check events tagged with the test's `run` id, so a test tells its events from others'."""

    run: str

    def make(self, seq: int, **extra: Any) -> dict[str, Any]:
        """A check event about one of 50 hosts x 7 disks, numbered by `seq`."""
        return {
            "connector": "pytest",
            "connector_name": self.run,
            "event_type": "check",
            "source_type": "resource",
            "component": f"host{seq % 50:02d}",
            "resource": f"disk{seq % 7}",
            "state": seq % 4,
            "output": f"disk usage check #{seq}",
            "timestamp": int(time.time()),
            "seq": seq,
            "run": self.run,
            **extra,
        }

    def many(self, count: int, start: int = 0) -> list[dict[str, Any]]:
        return [self.make(seq) for seq in range(start, start + count)]

    def mine(self, received: Received) -> bool:
        """Collector filter: queues bound with '#' also see other tests' events."""
        event = _json_object(received.body)
        return event is not None and event.get("run") == self.run

    @staticmethod
    def seqs(messages: Iterable[Received]) -> list[int]:
        return [m.json()["seq"] for m in messages]


@pytest.fixture
def events(names: Names) -> EventFactory:
    return EventFactory(run=names.prefix)


# ---- MongoDB ---------------------------------------------------------------------------------

MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")


@pytest.fixture
async def mongo_db(request: pytest.FixtureRequest) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A fresh database on the MongoDB-compatible server, dropped after the test; fails (never skips)
    when the server does not answer."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URL, serverSelectionTimeoutMS=5000)
    try:
        await client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - any failure to answer means the same thing here
        await client.close()
        pytest.fail(f"MongoDB-compatible server not reachable at {mask_url(MONGO_URL)} ({exc}); "
                    "run deploy/local/start")
    test = re.sub(r"[^A-Za-z0-9]+", "", request.node.name.removeprefix("test_"))[:30]
    db = client[f"t{uuid.uuid4().hex[:8]}_{test}"]
    yield db
    if "engines" in request.fixturenames:
        # Torn down before the engines (set up after them): stop them first, or their beats and
        # run-info writes would create the database again once dropped.
        await request.getfixturevalue("engines").stop_all()
    await client.drop_database(db.name)
    await client.close()


# ---- che + axe on MongoDB ----------------------------------------------------------------------

TIMEOUT = 30.0  # for a document to reach the expected state
SHORT_RESOLVE_RULE = {"_id": "default-rule", "name": "Default rule", "priority": 0,
                      "duration": {"value": 2, "unit": "s"}}

Doc = dict[str, Any]


@dataclass
class AlarmChain:
    db: AsyncDatabase[Doc]
    exchange: str
    out_queue: str
    amqp: Any
    che: Any
    axe: Any

    async def send(self, resource: str, event_type: str = "check", component: str = "web01", **fields: Any) -> None:
        event = {"connector": "nagios", "connector_name": "paris", "event_type": event_type,
                 "source_type": "resource", "component": component, "resource": resource, **fields}
        if event_type != "check":
            event.setdefault("initiator", "user")
            event.setdefault("author", "alice")
        await self.amqp.publish([event], exchange=self.exchange)

    async def alarms(self, entity_id: str) -> list[Doc]:
        return await self.db.periodical_alarm.find({"d": entity_id}).sort("t", 1).to_list(None)

    async def until(self, entity_id: str, check: Callable[[list[Doc]], bool], what: str) -> list[Doc]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            alarms = await self.alarms(entity_id)
            if check(alarms):
                return alarms
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached in {TIMEOUT:.0f} s; alarms: {alarms}\n"
                                     f"{self.che.describe()}\n{self.axe.describe()}")
            await asyncio.sleep(0.2)

    async def until_count(self, count: int) -> list[Doc]:
        """Wait until `count` alarms exist (any entity); return them."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            alarms = await self.db.periodical_alarm.find({}).to_list(None)
            if len(alarms) >= count:
                return alarms
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(alarms)} of {count} alarms after {TIMEOUT:.0f} s\n"
                                     f"{self.che.describe()}\n{self.axe.describe()}")
            await asyncio.sleep(0.2)

    async def open_alarm(self, entity_id: str, check: Callable[[Doc], bool], what: str) -> Doc:
        alarms = await self.until(entity_id, lambda a: any(not x["v"].get("resolved") and check(x) for x in a), what)
        return next(x for x in alarms if not x["v"].get("resolved") and check(x))


@pytest.fixture
async def chain_factory(names: Any, engines: Any, amqp: Any, mongo_db: AsyncDatabase[Doc]) -> AsyncIterator[Callable[..., Any]]:
    db, db_name, client = mongo_db, mongo_db.name, mongo_db.client
    exchange = f"{names.prefix}events"

    async def start(seed: dict[str, list[Doc]] | None = None, axe_flags: tuple[str, ...] = ()) -> AlarmChain:
        for collection, documents in {"resolve_rule": [SHORT_RESOLVE_RULE], **(seed or {})}.items():
            if documents:
                await db[collection].insert_many(documents)
        che_q, axe_q, out_q = names.queue("che"), names.queue("axe"), names.queue("out")
        env = {"CPS_MONGO_URL": f"{MONGO_URL.rstrip('/')}/{db_name}"}
        common = ("--exchange", exchange, "--beat-interval", "1")
        che = await engines.start("che", "--consume-queue", che_q, "--publish-queue", axe_q, *common,
                                  consume_queue=che_q, env=env)
        axe = await engines.start("axe", "--consume-queue", axe_q, "--publish-queue", out_q, *common,
                                  "--cancel-autosolve-delay", "2", *axe_flags, consume_queue=axe_q, env=env)
        return AlarmChain(db, exchange, out_q, amqp, che, axe)

    yield start
    channel = await amqp.connection.channel()
    await channel.exchange_delete(exchange)
    await channel.close()





# ---- InfluxDB ------------------------------------------------------------------------------------

INFLUX = os.environ.get("CPS_TEST_INFLUX", "http://127.0.0.1:8086")
#: For points to reach InfluxDB through RabbitMQ and engines on two slow shared cores.
INFLUX_TIMEOUT = 60.0


@dataclass
class InfluxDb:
    """A database of its own on the test server; `url` is what CPS_INFLUX_URL gets."""

    client: httpx.AsyncClient
    name: str

    @property
    def url(self) -> str:
        return f"{INFLUX}/{self.name}"

    async def query(self, q: str) -> list[dict[str, Any]]:
        """The series of an InfluxQL statement, times in seconds; [] when nothing matches."""
        response = await self.client.get("/query", params={"db": self.name, "q": q, "epoch": "s"})
        response.raise_for_status()
        result = response.json()["results"][0]
        assert "error" not in result, f"{q}: {result['error']}"
        return list(result.get("series", []))

    async def rows(self, measurement: str) -> list[dict[str, Any]]:
        """`SELECT *` as one dict per row (tags and fields by column name)."""
        name = measurement.replace("\\", "\\\\").replace('"', '\\"')
        return [dict(zip(s["columns"], v)) for s in await self.query(f'SELECT * FROM "{name}"') for v in s["values"]]

    async def until(self, measurement: str, count: int, what: str = "") -> list[dict[str, Any]]:
        """The rows of `measurement` once there are `count` and two reads agree: a query may see a
        point being written with some of its fields only (each field is a series of its own)."""
        deadline = time.monotonic() + INFLUX_TIMEOUT
        previous = None
        while True:
            rows = await self.rows(measurement)
            if len(rows) >= count and rows == previous:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(rows)} of {count} points in {measurement!r} after {INFLUX_TIMEOUT:.0f} s\n{what}")
            previous = rows
            await asyncio.sleep(0.2)


@pytest.fixture
async def influx(request: pytest.FixtureRequest) -> AsyncIterator[InfluxDb]:
    """A fresh database, dropped after the test; fails (never skips) when InfluxDB does not answer."""
    client = httpx.AsyncClient(base_url=INFLUX, timeout=10)
    try:
        (await client.get("/ping")).raise_for_status()
    except httpx.HTTPError as exc:
        await client.aclose()
        pytest.fail(f"InfluxDB does not answer at {INFLUX} ({exc!r}); start it with deploy/local/start", pytrace=False)
    test = re.sub(r"[^A-Za-z0-9]+", "", request.node.name.removeprefix("test_"))[:30]
    db = InfluxDb(client, f"t{uuid.uuid4().hex[:8]}_{test}")
    yield db
    await client.post("/query", data={"q": f'DROP DATABASE "{db.name}"'})
    await client.aclose()
