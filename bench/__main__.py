"""`python -m bench [--n 20000] [--repeats 3] [--prefetch 300] [--quick]`: run, print, append results.csv."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
from pathlib import Path
from typing import Final

from bench.baseline_relay import DEFAULT_URL
from bench.broker import BROKER_LOST, BenchBroker
from bench.measure import RelayFailed, RunResult
from bench.passthrough import new_run_id, run_round, scenario, workload_name
from bench.report import RESULTS, append_round, table

#: A round interrupted by a broker restart is discarded and run again, at most this many times.
ROUND_ATTEMPTS: Final = 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--n", type=int, default=20_000, help="events preloaded for the throughput figure")
    p.add_argument("--repeats", type=int, default=3, help="rounds, each running every contender once")
    p.add_argument("--prefetch", type=int, default=300, help="the same for every contender (our default)")
    p.add_argument("--rate", type=float, default=500,
                   help="events/s published during the latency scenario; keep it under the baseline's capacity"
                   " (~0.8-1.1k/s here) or its latency is only backlog")
    p.add_argument("--seconds", type=float, default=5, help="length of the latency scenario")
    p.add_argument("--quick", action="store_true", help="smoke run: n=3000, one round")
    p.add_argument("--amqp-url", default=DEFAULT_URL)
    p.add_argument("--no-csv", action="store_true", help=f"do not append to {RESULTS.name}")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each relay's throughput phase into DIR")
    args = p.parse_args()
    if args.quick:
        args.n, args.repeats = 3000, 1
    return args


async def main() -> None:
    args = parse_args()
    # A broker restart (other sessions' fault tests) is reported in one line and the round re-run;
    # aiormq's own traceback for it would only bury the figures.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    work = scenario(args.n, args.prefetch, args.rate, args.seconds)
    name = workload_name(work.n, round(statistics.median(map(len, work.bodies))), args.prefetch)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    print(f"{name}: run {run_id}, {args.repeats} round(s), latency at {args.rate:.0f}/s for {args.seconds:g} s", flush=True)
    rounds = []
    async with BenchBroker(args.amqp_url) as broker:
        for round_no in range(1, args.repeats + 1):

            def progress(r: RunResult, round_no: int = round_no) -> None:
                print(
                    f"round {round_no}/{args.repeats} {r.contender:<12} {r.events_per_s:>8,.0f} events/s"
                    f"  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  peak RSS {r.peak_rss_mb:5.1f} MiB"
                    f"  (load average {os.getloadavg()[0]:.1f}: other work on the box skews figures)",
                    flush=True,
                )

            for attempt in range(1, ROUND_ATTEMPTS + 1):
                try:
                    results = await run_round(broker, work, f"{run_id}.{round_no}.{attempt}", progress, args.profile)
                    break
                except (*BROKER_LOST, RelayFailed) as exc:
                    if attempt == ROUND_ATTEMPTS:
                        raise
                    print(f"round {round_no} discarded, running it again: {type(exc).__name__}: {exc}", flush=True)
                    await broker.reconnect()
            rounds.append(results)
            if not args.no_csv:
                append_round(name, work.n, results)
    print()
    print(table(name, f"{args.rate:.0f}/s for {args.seconds:g} s", rounds))


if __name__ == "__main__":
    asyncio.run(main())
