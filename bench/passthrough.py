"""The passthrough workload: our engine against the naive aio-pika relay, interleaved, same bodies."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Final

from bench.broker import BenchBroker
from bench.events import check_bodies
from bench.measure import Contender, RunResult, Scenario, measure

BASELINE: Final = Contender(
    "baseline",
    lambda consume, publish, prefetch: [
        sys.executable, "-m", "bench.baseline_relay",
        "--consume-queue", consume, "--publish-queue", publish, "--prefetch", str(prefetch),
    ],
)
OURS: Final = Contender(
    "passthrough",
    lambda consume, publish, prefetch: [
        sys.executable, "-m", "engines.passthrough",
        "--consume-queue", consume, "--publish-queue", publish, "--prefetch", str(prefetch),
    ],
    own_queues=lambda consume: (f"{consume}.dead",),
)
CONTENDERS: Final = (BASELINE, OURS)


def workload_name(n: int, body_bytes: int, prefetch: int) -> str:
    """`passthrough_20k_300b_prefetch300`: what was measured, readable in results.csv."""
    count = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return f"passthrough_{count}_{round(body_bytes, -2)}b_prefetch{prefetch}"


def scenario(n: int, prefetch: int, rate: float, seconds: float) -> Scenario:
    return Scenario(bodies=check_bodies(n), prefetch=prefetch, rate=rate, seconds=seconds)


def new_run_id() -> str:
    """Unique per `python -m bench` invocation, so concurrent or leftover queues never collide."""
    return uuid.uuid4().hex[:8]


async def run_round(
    broker: BenchBroker,
    work: Scenario,
    tag: str,
    on_result: Callable[[RunResult], None],
    profile_dir: Path | None = None,
) -> list[RunResult]:
    """Every contender once, baseline first, on queues `bench.<tag>.<contender>.*`."""
    results = []
    for contender in CONTENDERS:
        result = await measure(broker, contender, work, f"{tag}.{contender.name}", profile_dir)
        on_result(result)
        results.append(result)
    return results
