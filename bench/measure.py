"""One measured run of one contender: preload, start its relay processes, time them, pace them, stop them."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Protocol

from aiormq.exceptions import AMQPConnectionError

from bench.broker import BenchBroker
from bench.events import sent_at

ROOT: Final = Path(__file__).resolve().parent.parent
DEPTH_POLL: Final = 0.01  # seconds between depth polls: ±0.2 % on a 5 s throughput window
STOP_GRACE: Final = 15.0  # seconds; our engine drains for up to 10 s on SIGTERM


#: `argv(consume_queue, publish_queue, prefetch)` of one process.
Argv = Callable[[str, str, int], list[str]]


def module_argv(module: str, consume: str, publish: str, prefetch: int, *extra: str) -> list[str]:
    """`python -m <module>` relaying `consume` to `publish`: the command line every contender shares."""
    flags = ("--consume-queue", consume, "--publish-queue", publish, "--prefetch", str(prefetch), *extra)
    return [sys.executable, "-m", module, *flags]


@dataclass(frozen=True)
class Stage:
    """One process of a contender; `own_queues`/`own_exchanges` of its consume queue are deleted after the run.

    A `mongo` stage is profiled under bench.dbtime too, so its `argv` must start `python -m <module>`.
    """

    name: str
    argv: Argv
    own_queues: Callable[[str], tuple[str, ...]] = lambda consume_queue: ()
    own_exchanges: Callable[[str], tuple[str, ...]] = lambda consume_queue: ()
    mongo: bool = False


class Fixture(Protocol):
    """What a contender needs around one run (a fresh database), and what it counts after throughput."""

    @property
    def env(self) -> Mapping[str, str]: ...

    async def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class NoFixture:
    env: Mapping[str, str] = field(default_factory=dict)

    async def counts(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True)
class Contender:
    """Processes chained by queues in `stages` order: input → stage 1 → … → stage k → output.

    `fixture(tag)` is entered around each run; its `env` is added to every process's environment.
    """

    name: str
    stages: tuple[Stage, ...]
    fixture: Callable[[str], AbstractAsyncContextManager[Fixture]] = lambda tag: nullcontext(NoFixture())


@dataclass(frozen=True)
class Scenario:
    """Throughput over `bodies` preloaded, then latency over `paced` events sent at `rate`/s."""

    bodies: Sequence[bytes]
    paced: Sequence[dict[str, Any]]
    prefetch: int
    rate: float
    #: Events/s below which a contender is declared hung (the run fails instead of waiting forever).
    floor: float = 50.0

    @property
    def n(self) -> int:
        return len(self.bodies)

    @property
    def seconds(self) -> float:
        return len(self.paced) / self.rate

    @property
    def timeout(self) -> float:
        return 60.0 + max(self.n, len(self.paced)) / self.floor


@dataclass(frozen=True)
class RunResult:
    contender: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    #: VmHWM of each process, by stage name, in MiB.
    peak_rss_mb: Mapping[str, float]
    #: What the fixture counted right after the throughput phase (e.g. alarms in MongoDB).
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """What `python -m bench` runs: a named scenario and its contenders, the baseline first.

    `expected` holds what the stream implies for the fixture's counts (e.g. alarms created).
    """

    name: str
    scenario: Scenario
    contenders: tuple[Contender, ...]
    expected: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Defaults:
    """A workload's command-line defaults: events preloaded (normal and `--quick`), latency pacing."""

    n: int
    quick_n: int
    rate: float
    seconds: float


def count_label(n: int) -> str:
    """20000 → `20k`, for workload names."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


class RelayFailed(RuntimeError):
    """A relay process died or the contender did not deliver everything in time."""


async def run_round(
    broker: BenchBroker,
    contenders: Sequence[Contender],
    work: Scenario,
    tag: str,
    on_result: Callable[[RunResult], None],
    profile_dir: Path | None = None,
) -> list[RunResult]:
    """Every contender once, in order (the baseline first), on queues `bench.<tag>.<contender>.*`."""
    results = []
    for contender in contenders:
        result = await measure(broker, contender, work, f"{tag}.{contender.name}", profile_dir)
        on_result(result)
        results.append(result)
    return results


async def measure(
    broker: BenchBroker, contender: Contender, scenario: Scenario, tag: str, profile_dir: Path | None = None
) -> RunResult:
    """Run `contender` once on fresh queues named after `tag`; the queues are deleted afterwards."""
    k = len(contender.stages)
    chain = [f"bench.{tag}.in", *(f"bench.{tag}.mid{i}" for i in range(1, k)), f"bench.{tag}.out"]
    consume, publish = chain[0], chain[-1]
    queues = [*chain, *(q for stage, q in zip(contender.stages, chain) for q in stage.own_queues(q))]
    exchanges = [x for stage, q in zip(contender.stages, chain) for x in stage.own_exchanges(q)]
    processes: list[Process] = []
    profilers: list[subprocess.Popen[bytes]] = []
    async with contender.fixture(tag) as fixture:
        try:
            await broker.fresh_queues(*chain)
            await broker.preload(consume, scenario.bodies)

            env = {**os.environ, **fixture.env}
            for stage, (stage_in, stage_out) in zip(contender.stages, itertools.pairwise(chain)):
                argv = stage.argv(stage_in, stage_out, scenario.prefetch)
                if profile_dir is not None and stage.mongo:
                    out = profile_dir / f"{tag}.{stage.name}.mongo.txt"
                    argv = [argv[0], "-m", "bench.dbtime", str(out), *argv[2:]]
                processes.append(Process.start(stage.name, argv, env, tag))
            if profile_dir is not None:
                profilers = [_profile(p.popen.pid, profile_dir / f"{tag}.{p.stage}.txt") for p in processes]
            events_per_s = await _throughput(broker, publish, scenario.n, processes, scenario.timeout)
            for profiler in profilers:
                stop(profiler, signal.SIGINT)
            if profile_dir is not None:
                for p, stage in zip(processes, contender.stages):
                    if stage.mongo:
                        p.popen.send_signal(signal.SIGUSR1)  # bench.dbtime: write the throughput phase's times
            counts = await fixture.counts()
            await broker.fresh_queues(publish)

            paced, watcher = await broker.watch(publish, len(scenario.paced))
            await broker.pace(consume, scenario.paced, scenario.rate)
            await _until(paced.complete, broker, processes, scenario.timeout)
            await broker.unwatch(watcher)
            latencies = [(t - sent_at(b)) * 1000 for t, b in zip(paced.times, paced.bodies)]
            cuts = statistics.quantiles(latencies, n=100, method="inclusive")

            rss = {p.stage: peak_rss_mb(p.popen.pid) for p in processes}
            for p in processes:
                Path(p.log.name).unlink()  # kept only when the run failed
            return RunResult(contender.name, events_per_s, cuts[49], cuts[98], rss, counts)
        finally:
            for profiler in profilers:
                stop(profiler, signal.SIGINT)
            for p in processes:
                stop(p.popen, signal.SIGTERM)
                p.log.close()
            await broker.delete_queues(*queues)
            await broker.delete_exchanges(*exchanges)


@dataclass(frozen=True)
class Process:
    """A running stage, its output going to a log file kept if the run fails."""

    stage: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]

    @classmethod
    def start(cls, stage: str, argv: list[str], env: Mapping[str, str], tag: str, own_session: bool = False) -> Process:
        """`own_session`: out of the terminal's process group, so that Ctrl-C reaches the bench alone,
        which then stops the process itself (else it may see the process exit first and call it a failure)."""
        # Closed by whoever stops the process (its log outlives this call).
        log = tempfile.NamedTemporaryFile(prefix=f"bench-{tag}.{stage}-", suffix=".log", delete=False)  # noqa: SIM115
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=own_session
        )
        return cls(stage, popen, log)


async def _throughput(broker: BenchBroker, queue: str, n: int, processes: Sequence[Process], timeout: float) -> float:
    """Events/s into `queue`, from the first poll that sees it non-empty to the one that sees all `n`.

    Timed by polling the queue's depth, not by consuming it: a consumer in the bench took about
    half a core from the relay and the broker on this 2-core box, the faster contender paying most.
    """
    loop = asyncio.get_running_loop()
    first: tuple[float, int] | None = None
    depth, deadline = 0, loop.time() + timeout
    while True:
        depth = await broker.depth(queue)
        now = loop.time()
        if first is None and depth:
            first = (now, depth)
        if depth >= n:
            break
        if now > deadline:
            raise RelayFailed(f"only {depth} of {n} events out after {timeout:.0f} s")
        check_alive(broker, processes)
        await asyncio.sleep(DEPTH_POLL)
    assert first is not None
    started, depth_then = first
    return (n - depth_then) / max(now - started, DEPTH_POLL)


def check_alive(broker: BenchBroker, processes: Sequence[Process]) -> None:
    """Raise if the bench lost the broker or a process exited: RelayFailed carries the tail of its log."""
    if broker.connection.is_closed:
        raise AMQPConnectionError("the bench lost its broker connection (broker restarted?)")
    for p in processes:
        if p.popen.poll() is not None:
            raise RelayFailed(
                f"{p.stage} exited with {p.popen.returncode}; its output ({p.log.name}):\n{_tail(p.log.name)}"
            )


async def _until(done: asyncio.Event, broker: BenchBroker, processes: Sequence[Process], timeout: float) -> None:
    """Wait for `done`, failing early if a relay process exits or the bench lost the broker."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done.is_set():
        check_alive(broker, processes)
        if asyncio.get_running_loop().time() > deadline:
            raise RelayFailed(f"paced events not all out after {timeout:.0f} s")
        with suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.2)


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process: its peak resident set, in MiB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """VmRSS of a live process: its resident set now, in MiB."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RelayFailed(f"no {key} in /proc/{pid}/status")


def _profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` into collapsed stacks at `out` until it gets SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    argv = [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--idle", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal `process` and wait for it; SIGKILL after STOP_GRACE so a hung one never blocks cleanup."""
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
