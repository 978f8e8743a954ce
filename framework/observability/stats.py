"""What a running engine counts: events, batches and beats, read by every observer (STATUS=,
/metrics, run-info, throughput metrics) and written by the runtime alone."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = ["LATENCY_BUCKETS", "Histogram", "Rate", "Stats"]

#: Upper bounds (s) of the batch latency buckets.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    """Cumulative-bucket histogram, as Prometheus wants it; `observe` is O(log buckets)."""

    bounds: Sequence[float] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count of observations <= le) for each bound, then ("+Inf", count)."""
        out, running = [], 0
        for bound, n in zip([*(repr(float(b)) for b in self.bounds), "+Inf"], self.counts):
            running += n
            out.append((bound, running))
        return out


@dataclass
class Stats:
    """Counters of one process, for logs, repr, STATUS= and metrics."""

    received: int = 0
    processed: int = 0
    forwarded: int = 0
    dropped: int = 0
    dead: int = 0
    retried: int = 0
    acked: int = 0
    beats: int = 0
    reconnects: int = 0
    last_delivery: float = field(default=0.0)
    #: Seconds spent decoding and handling batches, retries included (for cps_sec_per_evt).
    busy: float = 0.0
    #: Seconds to decode and handle each batch (one observation per batch, not per event).
    batch_seconds: Histogram = field(default_factory=Histogram)
    #: Duration (s) and end (unix time) of the last beat; 0 before the first.
    beat_seconds: float = 0.0
    last_beat: float = 0.0

    @property
    def in_flight(self) -> int:
        return self.received - self.acked


@dataclass
class Rate:
    """Events per second between two readings of a counter (monotonic seconds)."""

    at: float
    count: int

    def update(self, at: float, count: int) -> float:
        elapsed = at - self.at
        rate = (count - self.count) / elapsed if elapsed > 0 else 0.0
        self.at, self.count = at, count
        return max(0.0, rate)
