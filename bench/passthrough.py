"""The passthrough workload: our engine against the naive aio-pika relay, interleaved, same bodies."""

from __future__ import annotations

import statistics
from typing import Final

from bench.events import check_bodies, paced_events
from bench.measure import Contender, Defaults, Scenario, Stage, Workload, count_label, module_argv

#: Latency at 500 events/s: under the baseline's ~0.8-1.1k/s here, or its latency is only backlog.
DEFAULTS: Final = Defaults(n=20_000, quick_n=3000, rate=500, seconds=5)


def relay_argv(consume: str, publish: str, prefetch: int) -> list[str]:
    """The naive aio-pika relay (bench/baseline_relay.py) as a process."""
    return module_argv("bench.baseline_relay", consume, publish, prefetch)


def _passthrough_argv(consume: str, publish: str, prefetch: int) -> list[str]:
    return module_argv("engines.passthrough", consume, publish, prefetch)


BASELINE: Final = Contender("baseline", (Stage("relay", relay_argv),))
OURS: Final = Contender(
    "passthrough", (Stage("passthrough", _passthrough_argv, own_queues=lambda consume: (f"{consume}.dead",)),)
)


def workload(n: int, prefetch: int, rate: float, seconds: float) -> Workload:
    """`passthrough_20k_300b_prefetch300`: n bodies of ~300 bytes, one process per contender."""
    bodies = check_bodies(n)
    size = int(round(statistics.median(map(len, bodies)), -2))
    scenario = Scenario(bodies=bodies, paced=paced_events(int(rate * seconds)), prefetch=prefetch, rate=rate)
    return Workload(f"passthrough_{count_label(n)}_{size}b_prefetch{prefetch}", scenario, (BASELINE, OURS))
