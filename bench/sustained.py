"""The sustained workload: che → axe → action on real services, fed at fixed rates, one after the other.

    python -m bench --workload sustained [--rates 250,500,1000,2000] [--seconds 60]
                                         [--preload-alarms N --preload-entities M] [--quick]

Not a throughput race against a baseline: the question is which offered rate the chain sustains,
with what latency and at what CPU and memory cost for the engines, the database and the broker.
A random-feeder stream (bench/feeder.py) goes to the run's events exchange in ticks of TICK s,
each event stamped with `sent_at` as it leaves; a consumer in the bench reads the last queue. Each
rate runs on the same chain, started once, and starts with an empty backlog (the previous rate's
is drained first), so one rate's figures never carry another's queue.

The backlog is what waits in the three engines' queues: ready messages (a passive declare) plus
those delivered and not acked, which AMQP does not report and each engine does (`cps_in_flight`
on `--metrics-port`). CPU comes from /proc (utime+stime) at both ends of each window.

`--preload-entities M --preload-alarms N` first inserts M entities and N open alarms on them that
the stream never touches, to see whether the engines' memory follows what the database holds.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import re
import signal
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from aiormq.abc import DeliveredMessage
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.uri_parser import parse_uri

from bench.baseline_relay import DEFAULT_URL
from bench.broker import BenchBroker
from bench.che_axe import DEFAULT_MONGO_URL, fresh_database
from bench.events import stamp
from bench.feeder import Feeder
from bench.measure import Process, RelayFailed, check_alive, peak_rss_mb, rss_mb, stop
from bench.report import commit, ensure_header, pairs, run_stamp
from engines.axe.lifecycle import apply_event
from engines.axe.replay import record_applied
from engines.axe.rules import Rules
from engines.che.context import apply_context
from engines.model.alarm import display_name
from engines.model.event import Event
from engines.store.collections import ALARMS, ENTITIES

RATES: Final = (250.0, 500.0, 1000.0, 2000.0)
SECONDS: Final = 60.0
QUICK_RATES: Final = (100.0, 200.0)
QUICK_SECONDS: Final = 10.0
#: Seconds between two sends: short enough that events leave close to when they are due, long
#: enough that a tick's publishes are awaited together, their confirms pipelined, not one by one.
TICK: Final = 0.02
#: Seconds between backlog samples (the slope is fitted on them).
SAMPLE_EVERY: Final = 1.0
#: Seconds to wait for the backlog to drain after a rate before giving up on it.
DRAIN_WAIT: Final = 120.0
DRAIN_POLL: Final = 0.5
#: Kept up: the backlog at the end is under this many seconds' worth of the rate…
KEPT_UP_SECONDS: Final = 2.0
#: …and grew, over the window's second half, by at most this fraction of the rate per second.
KEPT_UP_SLOPE: Final = 0.05
#: Seconds for the engines to register their consumers; more per 1,000 preloaded documents.
READY_WAIT: Final = 60.0
PRELOAD_CHUNK: Final = 5000
PRELOAD_CONNECTOR: Final = "preload"
#: Stands for the index in the preload templates, so that a clone is one string replace and a parse.
_INDEX: Final = "@i@"
ENGINES: Final = ("che", "axe", "action")
GROUPS: Final = (*ENGINES, "db", "broker")
STATE_DIR: Final = Path(os.environ.get("CPS_STATE_DIR", "/var/tmp/canopsis-engines"))
LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
CSV: Final = Path(__file__).resolve().parent / "sustained.csv"
#: results.csv's columns cannot hold a rate's figures (offered, backlog, CPU per process), hence a
#: file of its own; `peak_rss_mb_each` is VmHWM so far per engine (`che=71.2 axe=68.0 action=60.1`).
COLUMNS: Final = (
    "date",
    "commit",
    "python",
    "host",
    "workload",
    "run",
    "preload_alarms",
    "preload_entities",
    "rate",
    "seconds",
    "sent",
    "offered_per_s",
    "delivered_per_s",
    "backlog_end",
    "backlog_slope_per_s",
    "kept_up",
    "p50_ms",
    "p99_ms",
    "latencies",
    "drained_s",
    "cpu_che",
    "cpu_axe",
    "cpu_action",
    "cpu_db",
    "cpu_broker",
    "db_rss_mb",
    "peak_rss_mb_each",
)
WORKLOAD: Final = "sustained_randomfeeder"
_SENT_AT: Final = re.compile(rb'"sent_at":\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)')
_IN_FLIGHT: Final = re.compile(r"^cps_in_flight(?:\{[^}]*\})?\s+(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Options:
    rates: tuple[float, ...]
    seconds: float
    preload_alarms: int = 0
    preload_entities: int = 0
    amqp_url: str = DEFAULT_URL
    mongo_url: str = DEFAULT_MONGO_URL
    csv: bool = True


@dataclass(frozen=True)
class Names:
    """The run's queues and exchange, unique per run so leftovers of another run never mix in."""

    exchange: str
    queues: tuple[str, str, str]
    out: str

    @classmethod
    def of(cls, run_id: str) -> Names:
        base = f"bench.{run_id}"
        return cls(f"{base}.events", (f"{base}.che", f"{base}.axe", f"{base}.action"), f"{base}.out")

    @property
    def all_queues(self) -> tuple[str, ...]:
        """Every queue the run creates, the engines' dead-letter queues included."""
        return (*self.queues, self.out, *(f"{q}.dead" for q in self.queues))


# --- pure figures -------------------------------------------------------------------------------


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points: units of y per unit of x; 0 without two distinct x."""
    if len({x for x, _ in points}) < 2:
        return 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    return sxy / sxx


def second_half(samples: Sequence[tuple[float, float]], seconds: float) -> list[tuple[float, float]]:
    """The samples of a window's second half: the first half still shows the chain warming up."""
    return [(t, v) for t, v in samples if t >= seconds / 2]


def kept_up(backlog_end: float, growth: float, rate: float) -> bool:
    """The chain kept up with `rate`: little left waiting at the end, and not growing meanwhile.

    Both are needed: a backlog that is small only because the window was short still grows, and
    a flat backlog can be a large one carried from a hiccup the chain never caught up on.
    """
    return backlog_end < KEPT_UP_SECONDS * rate and growth <= KEPT_UP_SLOPE * rate


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The `pct`th percentile (0-100), linear between closest ranks as statistics' "inclusive"
    quantiles (what measure.py reports); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class ProcTimes:
    """What /proc/<pid>/stat says of one process: CPU in clock ticks, its own and its reaped children's.

    `start` (ticks after boot) tells a process from a later one that got the same pid.
    """

    pid: int
    comm: str
    ppid: int
    start: int
    own: int
    children: int

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.start


def parse_stat(text: str) -> ProcTimes:
    """Parse a /proc/<pid>/stat line; `comm` may hold spaces and parentheses, so split at the last ')'."""
    head, _, tail = text.rpartition(")")
    pid, _, comm = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 of proc(5): ppid is 4, utime 14, stime 15, cutime 16, cstime 17, starttime 22.
    return ProcTimes(
        pid=int(pid),
        comm=comm,
        ppid=int(fields[1]),
        start=int(fields[19]),
        own=int(fields[11]) + int(fields[12]),
        children=int(fields[13]) + int(fields[14]),
    )


def cpu_percent(before: Iterable[ProcTimes], after: Iterable[ProcTimes], seconds: float, hz: float) -> float:
    """CPU used by a group of processes between two samples, in % of one core.

    A process in `after` only started during the window: all its time counts. A process gone by
    `after` whose parent is in the group was reaped by it, and its whole life went into the
    parent's children time (PostgreSQL's backends, reaped by the postmaster): its time before the
    window is taken off. One gone without such a parent took its last moments with it: nothing
    is known of them, so nothing is counted.
    """
    old = {p.key: p for p in before}
    new = {p.key: p for p in after}
    ticks = 0
    for key, p in new.items():
        b = old.get(key)
        ticks += p.own + p.children - (b.own + b.children if b else 0)
    parents = {p.pid for p in new.values()}
    for key, b in old.items():
        if key not in new and b.ppid in parents:
            ticks -= b.own + b.children
    return max(ticks, 0) / hz / seconds * 100


def database_members(procs: Iterable[ProcTimes], ferretdb: int | None, postmaster: int | None) -> list[ProcTimes]:
    """The database's processes: FerretDB, and PostgreSQL's (by name, or as the postmaster's children)."""

    def postgres(p: ProcTimes) -> bool:
        return postmaster is not None and (postmaster in (p.pid, p.ppid) or p.comm.startswith("postgres"))

    return [p for p in procs if p.pid == ferretdb or postgres(p)]


def sent_at_of(body: bytes) -> float | None:
    """The `sent_at` stamp of an event the chain delivered, None for events the engines made (beats).

    A regex, not a JSON parse: bodies reach the bench carrying their entity and alarm (kilobytes),
    and at 2,000 events/s parsing them would take the bench's core from the chain it measures.
    """
    m = _SENT_AT.search(body)
    return float(m.group(1)) if m else None


def in_flight(metrics: str) -> int:
    """`cps_in_flight` of an engine's /metrics page: deliveries it holds unacked."""
    m = _IN_FLIGHT.search(metrics)
    if m is None:
        raise ValueError("no cps_in_flight in the metrics page")
    return int(float(m.group(1)))


def routing_key(event: Mapping[str, Any]) -> str:
    """Canopsis' routing key of an event (`connector.connector_name.event_type.source_type.component[.resource]`),
    as connectors publish with it: che binds `#`, so it only matters to whoever tails the exchange."""
    parts = [event["connector"], event["connector_name"], event["event_type"], event["source_type"], event["component"]]
    if event.get("resource"):
        parts.append(event["resource"])
    return ".".join(parts)


# --- preloaded documents -----------------------------------------------------------------------


def preload_templates(now: int) -> tuple[str, str]:
    """One resource entity and its open critical alarm, as che and axe write them, as JSON with
    `_INDEX` where a clone's index goes (component and resource names, hence ids).

    Built by the engines' own code from a critical check, so the documents have every field the
    engines write today, and change with them.
    """
    name = f"{PRELOAD_CONNECTOR}_{_INDEX}"
    check = {
        "connector": PRELOAD_CONNECTOR,
        "connector_name": PRELOAD_CONNECTOR,
        "event_type": "check",
        "source_type": "resource",
        "component": name,
        "resource": name,
        "state": 3,
        "output": "preloaded: CRITICAL - disk usage 97%",
    }
    event = Event.model_validate(check, context={"now": now})
    context = apply_context(event, {}, now)
    entity = context.entity
    assert entity is not None, context.error
    event = event.model_copy(update={"current_entity": entity.to_document()})
    event.received_as(_INDEX, redelivered=False)
    change = apply_event(None, event, entity, Rules(), now, new_id=_INDEX)
    assert change.alarm is not None
    alarm = record_applied(change.alarm, event)
    return json.dumps(entity.to_document()), json.dumps(alarm.to_document())


def clone_entity(template: str, i: int) -> dict[str, Any]:
    """Entity `preload_<i>/preload_<i>`."""
    return dict(json.loads(template.replace(_INDEX, str(i))))


def clone_alarm(template: str, i: int) -> dict[str, Any]:
    """The open alarm of entity `preload_<i>/preload_<i>`, with a fresh alarm id as axe gives one."""
    document = dict(json.loads(template.replace(_INDEX, str(i))))
    alarm_id = str(uuid.uuid4())
    document["_id"] = alarm_id
    document["v"]["display_name"] = display_name(alarm_id)
    document["cps_applied"] = [str(uuid.uuid4())]
    return document


async def preload(db: AsyncDatabase[dict[str, Any]], alarms: int, entities: int) -> None:
    """`entities` entities and open alarms on the first `alarms` of them, inserted in chunks."""
    entity_template, alarm_template = preload_templates(int(time.time()))
    await _insert(db, ENTITIES, entities, lambda i: clone_entity(entity_template, i))
    await _insert(db, ALARMS, alarms, lambda i: clone_alarm(alarm_template, i))


async def _insert(
    db: AsyncDatabase[dict[str, Any]], collection: str, n: int, make: Callable[[int], dict[str, Any]]
) -> None:
    if not n:
        return
    started = time.monotonic()
    step = max(n // 10, 1)  # about ten progress lines whatever n
    shown = 0
    for first in range(0, n, PRELOAD_CHUNK):
        last = min(first + PRELOAD_CHUNK, n)
        await db[collection].insert_many([make(i) for i in range(first, last)])
        if last - shown >= step or last == n:
            shown = last
            print(f"preload: {collection} {last:,}/{n:,} ({time.monotonic() - started:.1f} s)", flush=True)


# --- the processes and their cost -----------------------------------------------------------------


def read_proc(pid: int) -> ProcTimes | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def scan_procs() -> list[ProcTimes]:
    found = (read_proc(int(d.name)) for d in Path("/proc").iterdir() if d.name.isdigit())
    return [p for p in found if p is not None]


def _pid_file(path: Path, comm: Callable[[str], bool]) -> int | None:
    """The pid on the first line of `path`, if that process is alive and its name passes `comm`
    (a stale file may name a recycled pid)."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    proc = read_proc(pid)
    return pid if proc is not None and comm(proc.comm) else None


@dataclass(frozen=True)
class Database:
    """The local database's processes, as deploy/local/start runs them; None for an external one."""

    ferretdb: int | None
    postmaster: int | None

    @classmethod
    def local(cls, mongo_url: str, state_dir: Path = STATE_DIR) -> Database | None:
        hosts = {host.strip("[]") for host, _ in parse_uri(mongo_url)["nodelist"]}
        if not hosts <= LOCAL_HOSTS:
            return None
        found = cls(
            _pid_file(state_dir / "run" / "ferretdb.pid", lambda c: c == "ferretdb"),
            _pid_file(state_dir / "postgresql" / "postmaster.pid", lambda c: c.startswith("postgres")),
        )
        return found if found.ferretdb or found.postmaster else None


@dataclass
class Engine:
    process: Process
    metrics_port: int


def _free_port() -> int:
    """A TCP port free now, for an engine's /metrics (another process could take it first: the
    engine then exits 2 and the run fails saying so)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _engine_argv(engine: str, consume: str, publish: str, exchange: str, port: int) -> list[str]:
    """As in a Canopsis chain: every engine's beat sends to the head of the chain, the run's exchange
    (else the resolutions axe decides would go to the shared canopsis.events)."""
    argv = [sys.executable, "-m", f"engines.{engine}", "--consume-queue", consume, "--publish-queue", publish]
    argv += ["--exchange", exchange, "--metrics-port", str(port)]
    if engine == "action":
        argv += ["--beat-interval", "1"]  # it runs scenarios on its beat: README's advice
    return argv


@dataclass
class Out:
    """What reaches the chain's last queue: (sent_at, arrival) of the current window's stream events,
    and a count over the run of the others (events a beat made, without `sent_at`)."""

    arrivals: list[tuple[float, float]] = field(default_factory=list)
    others: int = 0

    async def on_message(self, message: DeliveredMessage) -> None:
        sent = sent_at_of(message.body)
        if sent is None:
            self.others += 1
        else:
            self.arrivals.append((sent, time.time()))

    def reset(self) -> None:
        self.arrivals = []


@dataclass
class Chain:
    """The three engine processes on the run's queues, and how to watch them."""

    broker: BenchBroker
    names: Names
    engines: dict[str, Engine]
    http: httpx.AsyncClient
    database: Database | None

    @property
    def processes(self) -> list[Process]:
        return [e.process for e in self.engines.values()]

    def check(self) -> None:
        check_alive(self.broker, self.processes)

    async def backlog(self) -> int:
        """Events waiting in the engines' queues: ready, or delivered and not yet acked."""
        ready = [await self.broker.depth(q) for q in self.names.queues]
        held = await asyncio.gather(*(self._in_flight(e) for e in self.engines.values()))
        return sum(ready) + sum(held)

    async def _in_flight(self, engine: Engine) -> int:
        try:
            response = await self.http.get(f"http://127.0.0.1:{engine.metrics_port}/metrics")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.check()  # an engine that exited says so with its log
            raise RelayFailed(
                f"/metrics of {engine.process.stage} did not answer: {type(exc).__name__}: {exc}"
            ) from exc
        return in_flight(response.text)

    async def until_ready(self, timeout: float) -> None:
        """Wait until every engine consumes (its /health/ready says so); fail early if one exits."""
        deadline = time.monotonic() + timeout
        waiting = dict(self.engines)
        while waiting:
            self.check()
            for name, engine in list(waiting.items()):
                try:
                    response = await self.http.get(f"http://127.0.0.1:{engine.metrics_port}/health/ready")
                    if response.status_code == 200:
                        del waiting[name]
                except httpx.TransportError:
                    pass  # not listening yet
            if waiting and time.monotonic() > deadline:
                raise RelayFailed(f"{', '.join(waiting)} not consuming after {timeout:.0f} s")
            if waiting:
                await asyncio.sleep(0.2)

    def cpu_sample(self) -> dict[str, list[ProcTimes] | None]:
        """Every group's processes now; None for a group whose processes cannot be seen."""
        procs = scan_procs()
        sample: dict[str, list[ProcTimes] | None] = {}
        for name, engine in self.engines.items():
            own = read_proc(engine.process.popen.pid)
            sample[name] = [own] if own else None
        db = self.database
        sample["db"] = database_members(procs, db.ferretdb, db.postmaster) if db else None
        sample["broker"] = [p for p in procs if p.comm == "beam.smp"] or None
        return sample

    def db_rss_mb(self) -> float | None:
        """VmRSS summed over the database's processes. Each PostgreSQL process counts the shared
        buffers it touched, so the sum overstates what the database holds: compare runs, not machines."""
        if self.database is None:
            return None
        total = 0.0
        for p in database_members(scan_procs(), self.database.ferretdb, self.database.postmaster):
            try:
                total += rss_mb(p.pid)
            except (FileNotFoundError, ProcessLookupError, RelayFailed):
                pass  # a backend that ended meanwhile (gone, or a zombie without VmRSS)
        return total

    def peak_rss(self) -> dict[str, float]:
        return {name: peak_rss_mb(e.process.popen.pid) for name, e in self.engines.items()}


def cpu_of(
    before: Mapping[str, list[ProcTimes] | None], after: Mapping[str, list[ProcTimes] | None], seconds: float
) -> dict[str, float | None]:
    hz = os.sysconf("SC_CLK_TCK")
    out: dict[str, float | None] = {}
    for group in GROUPS:
        b, a = before.get(group), after.get(group)
        out[group] = None if b is None or a is None else cpu_percent(b, a, seconds, hz)
    return out


# --- one rate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateResult:
    rate: float
    seconds: float
    sent: int
    offered: float
    delivered: float
    backlog_end: int
    growth: float
    kept_up: bool
    p50_ms: float | None
    p99_ms: float | None
    latencies: int
    #: Seconds the backlog took to drain after the window; None if it did not within DRAIN_WAIT.
    drained_s: float | None
    cpu: Mapping[str, float | None]
    db_rss_mb: float | None
    peak_rss_mb: Mapping[str, float]


async def offer(
    broker: BenchBroker, exchange: str, feeder: Feeder, rate: float, seconds: float, abort: Callable[[], bool]
) -> int:
    """Publish `rate`·`seconds` events over `seconds`, those due in each tick together; returns the count.

    Publishes are persistent and confirmed, as a connector's. Event k is due at k/rate from the
    start; a tick that ran late sends what fell due meanwhile, so the rate holds over the window
    unless the broker itself holds the publisher back (the offered rate then says so).
    """
    loop = asyncio.get_running_loop()
    total = round(rate * seconds)
    start, sent = loop.time(), 0
    while sent < total and not abort():
        elapsed = loop.time() - start
        due = min(total, math.floor(elapsed * rate) + 1)
        if due > sent:
            now = time.time()
            events = [feeder.event() for _ in range(due - sent)]
            await broker.publish(exchange, [(routing_key(e), stamp(e, now)) for e in events])
            sent = due
        next_tick = start + (math.floor((loop.time() - start) / TICK) + 1) * TICK
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
    await asyncio.sleep(max(0.0, start + seconds - loop.time()))
    return sent


async def sample_backlog(chain: Chain, start: float, done: asyncio.Event) -> list[tuple[float, float]]:
    """(seconds since `start`, backlog) every SAMPLE_EVERY s until `done`; checks the processes too."""
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []
    k = 0
    while not done.is_set():
        chain.check()
        samples.append((loop.time() - start, await chain.backlog()))
        k += 1
        try:
            await asyncio.wait_for(done.wait(), max(0.0, start + k * SAMPLE_EVERY - loop.time()))
        except TimeoutError:
            pass
    return samples


async def drain(chain: Chain, limit: float) -> float | None:
    """Seconds until the backlog is zero twice in a row (a beat may add events between two polls), or None."""
    started = time.monotonic()
    zeros = 0
    while time.monotonic() - started < limit:
        chain.check()
        zeros = zeros + 1 if await chain.backlog() == 0 else 0
        if zeros == 2:
            return time.monotonic() - started
        await asyncio.sleep(DRAIN_POLL)
    return None


async def run_rate(chain: Chain, out: Out, feeder: Feeder, rate: float, seconds: float) -> RateResult:
    """One window at `rate` on the running chain, then the drain that lets latecomers arrive."""
    loop = asyncio.get_running_loop()
    out.reset()
    cpu_before = chain.cpu_sample()
    started, wall_started = loop.time(), time.time()
    done = asyncio.Event()
    sampler = asyncio.create_task(sample_backlog(chain, started, done))
    try:
        sent = await offer(chain.broker, chain.names.exchange, feeder, rate, seconds, sampler.done)
    except BaseException:
        sampler.cancel()
        raise
    # The window ends with the pacing, not with the sampler's last scrape.
    elapsed, wall_ended = loop.time() - started, time.time()
    cpu = cpu_of(cpu_before, chain.cpu_sample(), elapsed)
    done.set()
    samples = await sampler  # raises what stopped it: an engine that exited, a lost broker
    backlog_end = await chain.backlog()
    samples.append((elapsed, backlog_end))
    db_rss = chain.db_rss_mb()
    offered = sent / elapsed
    delivered = sum(1 for _, at in out.arrivals if wall_started <= at <= wall_ended) / elapsed
    growth = slope(second_half(samples, elapsed))

    drained = await drain(chain, DRAIN_WAIT)
    # Latency of the events sent in this window, wherever they arrived: an event still queued at
    # the window's end is the one whose latency matters most when the chain falls behind.
    latencies = [(at - sent_at) * 1000 for sent_at, at in out.arrivals if wall_started <= sent_at <= wall_ended]
    return RateResult(
        rate=rate,
        seconds=elapsed,
        sent=sent,
        offered=offered,
        delivered=delivered,
        backlog_end=backlog_end,
        growth=growth,
        kept_up=kept_up(backlog_end, growth, offered),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        latencies=len(latencies),
        drained_s=drained,
        cpu=cpu,
        db_rss_mb=db_rss,
        peak_rss_mb=chain.peak_rss(),
    )


# --- output ----------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def line(r: RateResult) -> str:
    """The line printed as soon as a rate is done."""
    verdict = "kept up" if r.kept_up else "FELL BEHIND"
    cpu = " ".join(f"{g} {_num(r.cpu[g], '.0f')}" for g in GROUPS)
    drained = f"drained in {r.drained_s:.1f} s" if r.drained_s is not None else f"NOT drained after {DRAIN_WAIT:.0f} s"
    missing = f" ({r.latencies:,} of {r.sent:,} arrived)" if r.latencies != r.sent else ""
    return (
        f"rate {r.rate:g}/s for {r.seconds:.0f} s: offered {r.offered:,.1f}/s, delivered {r.delivered:,.1f}/s,"
        f" backlog {r.backlog_end:,} at the end, {r.growth:+,.1f}/s over the second half: {verdict};"
        f" latency p50 {_num(r.p50_ms, ',.1f')} ms p99 {_num(r.p99_ms, ',.1f')} ms{missing};"
        f" CPU % {cpu}; db RSS {_num(r.db_rss_mb, ',.0f')} MiB; {drained}"
    )


def table(results: Sequence[RateResult], options: Options, run_id: str) -> str:
    """Every rate in one table, then the engines' peak RSS over the whole run."""
    head = (
        f"{'rate/s':>7} {'offered/s':>10} {'delivered/s':>11} {'backlog':>8} {'slope/s':>8} {'kept up':>7}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'drain s':>7}  CPU % {'che':>4} {'axe':>4} {'action':>6} {'db':>4}"
        f" {'broker':>6}  {'db RSS MiB':>10}"
    )
    title = (
        f"sustained che → axe → action, random-feeder stream, {options.seconds:g} s per rate (run {run_id});"
        f" preloaded: {options.preload_alarms:,} open alarms, {options.preload_entities:,} entities"
    )
    lines = [title, head, "-" * len(head)]
    for r in results:
        c = r.cpu
        lines.append(
            f"{r.rate:>7g} {r.offered:>10,.1f} {r.delivered:>11,.1f} {r.backlog_end:>8,} {r.growth:>+8,.1f}"
            f" {'yes' if r.kept_up else 'NO':>7} {_num(r.p50_ms, ',.1f'):>8} {_num(r.p99_ms, ',.1f'):>8}"
            f" {_num(r.drained_s, '.1f'):>7}        {_num(c['che'], '.0f'):>4} {_num(c['axe'], '.0f'):>4}"
            f" {_num(c['action'], '.0f'):>6} {_num(c['db'], '.0f'):>4} {_num(c['broker'], '.0f'):>6}"
            f"  {_num(r.db_rss_mb, ',.0f'):>10}"
        )
    if results:
        peak = results[-1].peak_rss_mb
        lines.append(
            f"peak RSS MiB (VmHWM) with {options.preload_alarms:,} open alarms and {options.preload_entities:,}"
            f" entities preloaded: " + ", ".join(f"{name} {mb:.1f}" for name, mb in peak.items())
        )
    lines.append(
        f"kept up: backlog at the end under {KEPT_UP_SECONDS:g} s of the rate and slope at most"
        f" {KEPT_UP_SLOPE:.0%} of it; CPU in % of one core; db = FerretDB + PostgreSQL, broker = beam.smp"
    )
    return "\n".join(lines)


def append_csv(results: Sequence[RateResult], options: Options, run_id: str, path: Path = CSV) -> None:
    ensure_header(path, COLUMNS)
    stamp_ = {
        **run_stamp(),
        "workload": WORKLOAD,
        "run": run_id,
        "preload_alarms": options.preload_alarms,
        "preload_entities": options.preload_entities,
    }
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        for r in results:
            writer.writerow(
                stamp_
                | {
                    "rate": f"{r.rate:g}",
                    "seconds": f"{r.seconds:.1f}",
                    "sent": r.sent,
                    "offered_per_s": f"{r.offered:.1f}",
                    "delivered_per_s": f"{r.delivered:.1f}",
                    "backlog_end": r.backlog_end,
                    "backlog_slope_per_s": f"{r.growth:.2f}",
                    "kept_up": "yes" if r.kept_up else "no",
                    "p50_ms": _num(r.p50_ms, ".2f"),
                    "p99_ms": _num(r.p99_ms, ".2f"),
                    "latencies": r.latencies,
                    "drained_s": _num(r.drained_s, ".1f"),
                    **{f"cpu_{g}": _num(r.cpu[g], ".1f") for g in GROUPS},
                    "db_rss_mb": _num(r.db_rss_mb, ".1f"),
                    "peak_rss_mb_each": pairs(r.peak_rss_mb, ".1f"),
                }
            )


# --- the run ---------------------------------------------------------------------------------------


async def run(options: Options) -> list[RateResult]:
    """Start the chain on fresh queues and a fresh database, run every rate, clean up whatever happens."""
    run_id = uuid.uuid4().hex[:8]
    names = Names.of(run_id)
    rates = ", ".join(f"{r:g}" for r in options.rates)
    print(
        f"sustained: run {run_id}, rates {rates} events/s, {options.seconds:g} s each; commit {commit()};"
        f" preload {options.preload_alarms:,} open alarms, {options.preload_entities:,} entities",
        flush=True,
    )
    results: list[RateResult] = []
    async with (
        BenchBroker(options.amqp_url) as broker,
        fresh_database(options.mongo_url)(f"{run_id}.sustained") as fixture,
        httpx.AsyncClient(timeout=10) as http,
    ):
        engines: dict[str, Engine] = {}
        keep_logs = True
        try:
            await broker.fresh_queues(*names.queues, names.out)
            await broker.topic_exchange(names.exchange, names.queues[0])
            await preload(fixture.db, options.preload_alarms, options.preload_entities)

            env = {**os.environ, **fixture.env, "CPS_AMQP_URL": options.amqp_url}
            hops = zip(ENGINES, names.queues, (*names.queues[1:], names.out))
            for engine, consume, publish in hops:
                port = _free_port()
                argv = _engine_argv(engine, consume, publish, names.exchange, port)
                process = Process.start(engine, argv, env, f"{run_id}.sustained", own_session=True)
                engines[engine] = Engine(process, port)
            chain = Chain(broker, names, engines, http, Database.local(options.mongo_url))
            await chain.until_ready(READY_WAIT + (options.preload_alarms + options.preload_entities) / 1000)

            out = Out()
            await broker.consume(names.out, out.on_message)
            feeder = Feeder()
            for rate in options.rates:
                result = await run_rate(chain, out, feeder, rate, options.seconds)
                print(line(result), flush=True)
                results.append(result)
            if out.others:
                print(f"({out.others:,} events made by the engines' beats also reached the end of the chain)")
            print()
            print(table(results, options, run_id))
            print(flush=True)
            if options.csv:
                append_csv(results, options, run_id)
            keep_logs = False
        except asyncio.CancelledError:  # Ctrl-C: stopped on purpose, nothing to look into
            keep_logs = False
            raise
        finally:
            for e in engines.values():
                stop(e.process.popen, signal.SIGTERM)
                e.process.log.close()
                if not keep_logs:
                    Path(e.process.log.name).unlink()  # kept only when the run failed
            await broker.delete_queues(*names.all_queues)
            await broker.delete_exchanges(names.exchange)
    return results
