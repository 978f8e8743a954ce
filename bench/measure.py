"""One measured run of one contender: preload, start the relay process, time it, pace it, stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiormq.exceptions import AMQPConnectionError

from bench.broker import BenchBroker
from bench.events import sent_at

ROOT: Final = Path(__file__).resolve().parent.parent
DEPTH_POLL: Final = 0.01  # seconds between depth polls: ±0.2 % on a 5 s throughput window
STOP_GRACE: Final = 15.0  # seconds; our engine drains for up to 10 s on SIGTERM


@dataclass(frozen=True)
class Contender:
    """A relay started as a process: `argv(consume_queue, publish_queue, prefetch)`."""

    name: str
    argv: Callable[[str, str, int], list[str]]
    #: Queues the contender declares on its own (dead-letter queues), deleted after the run.
    own_queues: Callable[[str], tuple[str, ...]] = lambda consume_queue: ()


@dataclass(frozen=True)
class Scenario:
    """Throughput over `n` preloaded bodies, then latency at `rate`/s for `seconds`."""

    bodies: Sequence[bytes]
    prefetch: int
    rate: float
    seconds: float

    @property
    def n(self) -> int:
        return len(self.bodies)

    @property
    def timeout(self) -> float:
        return 60.0 + self.n / 100  # far above any plausible run, below "hung forever"


@dataclass(frozen=True)
class RunResult:
    contender: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float


class RelayFailed(RuntimeError):
    """The relay process died or did not deliver everything in time."""


async def measure(
    broker: BenchBroker, contender: Contender, scenario: Scenario, tag: str, profile_dir: Path | None = None
) -> RunResult:
    """Run `contender` once on fresh queues named after `tag`; the queues are deleted afterwards."""
    consume, publish = f"bench.{tag}.in", f"bench.{tag}.out"
    queues = (consume, publish, *contender.own_queues(consume))
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{tag}-", suffix=".log", delete=False)
    process: subprocess.Popen[bytes] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        await broker.fresh_queues(consume, publish)
        await broker.preload(consume, scenario.bodies)

        process = subprocess.Popen(
            contender.argv(consume, publish, scenario.prefetch), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        if profile_dir is not None:
            profiler = _profile(process.pid, profile_dir / f"{tag}.txt")
        events_per_s = await _throughput(broker, publish, scenario.n, process, scenario.timeout, log.name)
        if profiler is not None:
            _stop(profiler, signal.SIGINT)
        await broker.fresh_queues(publish)

        expected = int(scenario.rate * scenario.seconds)
        paced, watcher = await broker.watch(publish, expected)
        await broker.pace(consume, scenario.rate, scenario.seconds)
        await _until(paced.complete, broker, process, scenario.timeout, log.name)
        await broker.unwatch(watcher)
        latencies = [(t - sent_at(b)) * 1000 for t, b in zip(paced.times, paced.bodies)]
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")

        result = RunResult(contender.name, events_per_s, cuts[49], cuts[98], _peak_rss_mb(process.pid))
        Path(log.name).unlink()  # kept only when the run failed
        return result
    finally:
        if profiler is not None:
            _stop(profiler, signal.SIGINT)
        if process is not None:
            _stop(process, signal.SIGTERM)
        await broker.delete_queues(*queues)
        log.close()


async def _throughput(
    broker: BenchBroker, queue: str, n: int, process: subprocess.Popen[bytes], timeout: float, log: str
) -> float:
    """Events/s into `queue`, from the first poll that sees it non-empty to the one that sees all `n`.

    Timed by polling the queue's depth, not by consuming it: a consumer in the bench took about
    half a core from the relay and the broker on this 2-core box, the faster contender paying most.
    """
    loop = asyncio.get_running_loop()
    first: tuple[float, int] | None = None
    async with asyncio.timeout(timeout):
        while True:
            depth = await broker.depth(queue)
            now = loop.time()
            if first is None and depth:
                first = (now, depth)
            if depth >= n:
                break
            _check(broker, process, log)
            await asyncio.sleep(DEPTH_POLL)
    assert first is not None
    started, depth_then = first
    return (n - depth_then) / max(now - started, DEPTH_POLL)


def _check(broker: BenchBroker, process: subprocess.Popen[bytes], log: str) -> None:
    if broker.connection.is_closed:
        raise AMQPConnectionError("the bench lost its broker connection (broker restarted?)")
    if process.poll() is not None:
        raise RelayFailed(f"relay exited with {process.returncode}; its output:\n{_tail(log)}")


async def _until(
    done: asyncio.Event, broker: BenchBroker, process: subprocess.Popen[bytes], timeout: float, log: str
) -> None:
    """Wait for `done`, failing early if the relay process exits or the bench lost the broker."""
    async with asyncio.timeout(timeout):
        while not done.is_set():
            _check(broker, process, log)
            try:
                await asyncio.wait_for(done.wait(), 0.2)
            except TimeoutError:
                pass


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process: its peak resident set, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RelayFailed(f"no VmHWM in /proc/{pid}/status")


def _profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` into collapsed stacks at `out` until it gets SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    argv = [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _tail(path: str, lines: int = 20) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
