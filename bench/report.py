"""Figures out: the table printed after a run, and one results.csv row per contender per round."""

from __future__ import annotations

import csv
import datetime
import platform
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bench.measure import RunResult

#: A p50 above this under a paced rate means the relay could not keep up with that rate.
SATURATED_MS: Final = 500
RESULTS: Final = Path(__file__).resolve().parent / "results.csv"
COLUMNS: Final = (
    "date", "commit", "python", "host", "workload", "contender",
    "n", "events_per_s", "p50_ms", "p99_ms", "peak_rss_mb", "ratio",
)


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS.parent)
    return out.stdout.strip() or "unknown"


def append_round(workload: str, n: int, results: Sequence[RunResult], path: Path = RESULTS) -> None:
    """One row per contender; `ratio` is its events/s over the baseline's (results[0]) in this round."""
    new = not path.exists() or path.stat().st_size == 0
    stamp = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "python": platform.python_version(),
        "host": platform.node(),
        "workload": workload,
        "n": n,
    }
    baseline = results[0].events_per_s
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for r in results:
            writer.writerow(
                stamp | {
                    "contender": r.contender,
                    "events_per_s": f"{r.events_per_s:.0f}",
                    "p50_ms": f"{r.p50_ms:.2f}",
                    "p99_ms": f"{r.p99_ms:.2f}",
                    "peak_rss_mb": f"{r.peak_rss_mb:.1f}",
                    "ratio": f"{r.events_per_s / baseline:.2f}",
                }
            )


def table(workload: str, latency: str, rounds: Sequence[Sequence[RunResult]]) -> str:
    """Medians over rounds per contender, each with the ratio to the baseline (the first contender)."""
    names = [r.contender for r in rounds[0]]
    per = {name: [rnd[i] for rnd in rounds] for i, name in enumerate(names)}
    base = statistics.median(r.events_per_s for r in per[names[0]])
    head = f"{'contender':<12} {'events/s median':>15} {'(min–max)':>13} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'peak RSS MiB':>12}"
    lines = [f"{workload}  ({len(rounds)} rounds, interleaved; latency {latency})", head, "-" * len(head)]
    for name, runs in per.items():
        rates = [r.events_per_s for r in runs]
        median = statistics.median(rates)
        lines.append(
            f"{name:<12} {median:>15,.0f} {f'{min(rates):,.0f}–{max(rates):,.0f}':>13} {median / base:>5.2f}x"
            f" {statistics.median(r.p50_ms for r in runs):>7.1f} {statistics.median(r.p99_ms for r in runs):>7.1f}"
            f" {statistics.median(r.peak_rss_mb for r in runs):>12.1f}"
        )
    for name, runs in per.items():
        if statistics.median(r.p50_ms for r in runs) > SATURATED_MS:
            lines.append(f"note: {name} fell behind the paced rate (p50 over {SATURATED_MS} ms): its latency is queueing")
    ratios = [rnd[-1].events_per_s / rnd[0].events_per_s for rnd in rounds]
    lines.append(f"per-round ratio {names[-1]}/{names[0]}: " + ", ".join(f"{x:.2f}" for x in ratios))
    return "\n".join(lines)
