"""The sustained workload's lines, table and CSV rows."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from bench.report import ensure_header, pairs, run_stamp
from bench.sustained.rates import RateResult
from bench.sustained.settings import COLUMNS, CSV, DRAIN_WAIT, GROUPS, KEPT_UP_SECONDS, KEPT_UP_SLOPE, WORKLOAD, Options


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def line(r: RateResult) -> str:
    """The line printed as soon as a rate is done."""
    verdict = "kept up" if r.kept_up else "FELL BEHIND"
    cpu = " ".join(f"{g} {_num(r.cpu[g], '.0f')}" for g in GROUPS)
    drained = f"drained in {r.drained_s:.1f} s" if r.drained_s is not None else f"NOT drained after {DRAIN_WAIT:.0f} s"
    missing = f" ({r.latencies:,} of {r.sent:,} arrived)" if r.latencies != r.sent else ""
    return (
        f"rate {r.rate:g}/s for {r.seconds:.0f} s: offered {r.offered:,.1f}/s, delivered {r.delivered:,.1f}/s,"
        f" backlog {r.backlog_end:,} at the end, {r.growth:+,.1f}/s over the second half: {verdict};"
        f" latency p50 {_num(r.p50_ms, ',.1f')} ms p99 {_num(r.p99_ms, ',.1f')} ms{missing};"
        f" CPU % {cpu}; db RSS {_num(r.db_rss_mb, ',.0f')} MiB; {drained}"
    )


def table(results: Sequence[RateResult], options: Options, run_id: str) -> str:
    """Every rate in one table, then the engines' peak RSS over the whole run."""
    head = (
        f"{'rate/s':>7} {'offered/s':>10} {'delivered/s':>11} {'backlog':>8} {'slope/s':>8} {'kept up':>7}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'drain s':>7}  CPU % {'che':>4} {'axe':>4} {'action':>6} {'db':>4}"
        f" {'broker':>6}  {'db RSS MiB':>10}"
    )
    title = (
        f"sustained che → axe → action, random-feeder stream, {options.seconds:g} s per rate (run {run_id});"
        f" preloaded: {options.preload_alarms:,} open alarms, {options.preload_entities:,} entities"
    )
    lines = [title, head, "-" * len(head)]
    for r in results:
        c = r.cpu
        lines.append(
            f"{r.rate:>7g} {r.offered:>10,.1f} {r.delivered:>11,.1f} {r.backlog_end:>8,} {r.growth:>+8,.1f}"
            f" {'yes' if r.kept_up else 'NO':>7} {_num(r.p50_ms, ',.1f'):>8} {_num(r.p99_ms, ',.1f'):>8}"
            f" {_num(r.drained_s, '.1f'):>7}        {_num(c['che'], '.0f'):>4} {_num(c['axe'], '.0f'):>4}"
            f" {_num(c['action'], '.0f'):>6} {_num(c['db'], '.0f'):>4} {_num(c['broker'], '.0f'):>6}"
            f"  {_num(r.db_rss_mb, ',.0f'):>10}"
        )
    if results:
        peak = results[-1].peak_rss_mb
        lines.append(
            f"peak RSS MiB (VmHWM) with {options.preload_alarms:,} open alarms and {options.preload_entities:,}"
            f" entities preloaded: " + ", ".join(f"{name} {mb:.1f}" for name, mb in peak.items())
        )
    lines.append(
        f"kept up: backlog at the end under {KEPT_UP_SECONDS:g} s of the rate and slope at most"
        f" {KEPT_UP_SLOPE:.0%} of it; CPU in % of one core; db = FerretDB + PostgreSQL, broker = beam.smp"
    )
    return "\n".join(lines)


def append_csv(results: Sequence[RateResult], options: Options, run_id: str, path: Path = CSV) -> None:
    ensure_header(path, COLUMNS)
    stamp_ = {
        **run_stamp(),
        "workload": WORKLOAD,
        "run": run_id,
        "preload_alarms": options.preload_alarms,
        "preload_entities": options.preload_entities,
    }
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        for r in results:
            writer.writerow(
                stamp_
                | {
                    "rate": f"{r.rate:g}",
                    "seconds": f"{r.seconds:.1f}",
                    "sent": r.sent,
                    "offered_per_s": f"{r.offered:.1f}",
                    "delivered_per_s": f"{r.delivered:.1f}",
                    "backlog_end": r.backlog_end,
                    "backlog_slope_per_s": f"{r.growth:.2f}",
                    "kept_up": "yes" if r.kept_up else "no",
                    "p50_ms": _num(r.p50_ms, ".2f"),
                    "p99_ms": _num(r.p99_ms, ".2f"),
                    "latencies": r.latencies,
                    "drained_s": _num(r.drained_s, ".1f"),
                    **{f"cpu_{g}": _num(r.cpu[g], ".1f") for g in GROUPS},
                    "db_rss_mb": _num(r.db_rss_mb, ".1f"),
                    "peak_rss_mb_each": pairs(r.peak_rss_mb, ".1f"),
                }
            )
