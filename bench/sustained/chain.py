"""che -> axe -> action as processes on one run's queues, their costs sampled from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from aiormq.abc import DeliveredMessage

from bench.broker import BenchBroker
from bench.measure import Process, RelayFailed, check_alive, peak_rss_mb, rss_mb
from bench.sustained.figures import (
    Database,
    ProcTimes,
    cpu_percent,
    database_members,
    in_flight,
    read_proc,
    scan_procs,
    sent_at_of,
)
from bench.sustained.settings import GROUPS, Names


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
            # A backend may end meanwhile (gone, or a zombie without VmRSS).
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, RelayFailed):
                total += rss_mb(p.pid)
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
