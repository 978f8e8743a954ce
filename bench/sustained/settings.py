"""The sustained workload's settings: its rates, windows, thresholds and names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.baseline_relay import DEFAULT_URL
from bench.che_axe import DEFAULT_MONGO_URL

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
