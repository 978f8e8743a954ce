"""Figures out: the table printed after a run, and one results.csv row per contender per round."""

from __future__ import annotations

import csv
import datetime
import platform
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from bench.measure import RunResult

#: A p50 above this (or above the gap between paced events, if longer) means the contender could
#: not keep up with the paced rate: its latency is then mostly queueing.
SATURATED_MS: Final = 500
RESULTS: Final = Path(__file__).resolve().parent / "results.csv"
#: `peak_rss_mb` is the contender's total over its processes; `peak_rss_mb_each` splits it per process
#: (`che=71.2 axe=68.0`); `counts` is what was counted after the throughput phase (`alarms=1234`).
COLUMNS: Final = (
    "date",
    "commit",
    "python",
    "host",
    "workload",
    "contender",
    "n",
    "events_per_s",
    "p50_ms",
    "p99_ms",
    "peak_rss_mb",
    "ratio",
    "peak_rss_mb_each",
    "counts",
)


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS.parent)
    return out.stdout.strip() or "unknown"


def run_stamp() -> dict[str, str]:
    """The columns that say when, on what code and where a row was measured."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "python": platform.python_version(),
        "host": platform.node(),
    }


def pairs(values: Mapping[str, float], fmt: str) -> str:
    return " ".join(f"{k}={v:{fmt}}" for k, v in values.items())


def ensure_header(path: Path, columns: Sequence[str] = COLUMNS) -> None:
    """Write the header of a new file, or bring an older file's header up to `columns` (rows keep theirs)."""
    text = path.read_text() if path.exists() else ""
    first, _, rest = text.partition("\n")
    header = ",".join(columns)
    if first != header:
        path.write_text(header + "\n" + (rest if first.startswith("date,") else text))


def append_round(workload: str, n: int, results: Sequence[RunResult], path: Path = RESULTS) -> None:
    """One row per contender; `ratio` is its events/s over the baseline's (results[0]) in this round."""
    ensure_header(path)
    stamp = {**run_stamp(), "workload": workload, "n": n}
    baseline = results[0].events_per_s
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        for r in results:
            writer.writerow(
                stamp
                | {
                    "contender": r.contender,
                    "events_per_s": f"{r.events_per_s:.0f}",
                    "p50_ms": f"{r.p50_ms:.2f}",
                    "p99_ms": f"{r.p99_ms:.2f}",
                    "peak_rss_mb": f"{sum(r.peak_rss_mb.values()):.1f}",
                    "ratio": f"{r.events_per_s / baseline:.2f}",
                    "peak_rss_mb_each": pairs(r.peak_rss_mb, ".1f"),
                    "counts": pairs(r.counts, "d"),
                }
            )


def table(
    workload: str, rate: float, seconds: float, rounds: Sequence[Sequence[RunResult]], expected: Mapping[str, int]
) -> str:
    """Medians over rounds per contender, each with the ratio to the baseline (the first contender)."""
    saturated = max(SATURATED_MS, 1000 / rate)
    names = [r.contender for r in rounds[0]]
    per = {name: [rnd[i] for rnd in rounds] for i, name in enumerate(names)}
    base = statistics.median(r.events_per_s for r in per[names[0]])
    head = (
        f"{'contender':<12} {'events/s median':>15} {'(min–max)':>13} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}"
        "  peak RSS MiB per process"
    )
    lines = [
        f"{workload}  ({len(rounds)} rounds, interleaved; latency at {rate:g}/s for {seconds:g} s)",
        head,
        "-" * len(head),
    ]
    for name, runs in per.items():
        rates = [r.events_per_s for r in runs]
        median = statistics.median(rates)
        rss = {stage: statistics.median(r.peak_rss_mb[stage] for r in runs) for stage in runs[0].peak_rss_mb}
        lines.append(
            f"{name:<12} {median:>15,.0f} {f'{min(rates):,.0f}–{max(rates):,.0f}':>13} {median / base:>5.2f}x"
            f" {statistics.median(r.p50_ms for r in runs):>7.1f} {statistics.median(r.p99_ms for r in runs):>7.1f}"
            f"  {', '.join(f'{stage} {mb:.1f}' for stage, mb in rss.items())}"
        )
    for name, runs in per.items():
        if statistics.median(r.p50_ms for r in runs) > saturated:
            lines.append(
                f"note: {name} fell behind the paced rate (p50 over {saturated:.0f} ms): its latency is queueing"
            )
        for key in runs[0].counts:
            seen = sorted({r.counts[key] for r in runs})
            want = expected.get(key)
            verdict = (
                ""
                if want is None
                else " (as the stream implies)"
                if seen == [want]
                else f" (the stream implies {want})"
            )
            lines.append(f"{name}: {key} in the database after throughput: {', '.join(map(str, seen))}{verdict}")
    ratios = [rnd[-1].events_per_s / rnd[0].events_per_s for rnd in rounds]
    lines.append(f"per-round ratio {names[-1]}/{names[0]}: " + ", ".join(f"{x:.2f}" for x in ratios))
    return "\n".join(lines)
