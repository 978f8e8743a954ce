"""The sustained workload's pure figures: slope, kept-up verdict, percentiles, CPU from /proc samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.uri_parser import parse_uri

from bench.sustained.settings import _IN_FLIGHT, _SENT_AT, KEPT_UP_SECONDS, KEPT_UP_SLOPE, LOCAL_HOSTS, STATE_DIR


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
