"""`python -m bench [--workload passthrough|che_axe|all] [--n N] [--repeats 3] [--quick]`: run, print, append results.csv."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import uuid
from pathlib import Path
from typing import Final

from bench import che_axe, passthrough
from bench.baseline_relay import DEFAULT_URL
from bench.broker import BROKER_LOST, BenchBroker
from bench.measure import RelayFailed, RunResult, Workload, run_round
from bench.report import RESULTS, append_round, table

#: A round interrupted by a broker restart is discarded and run again, at most this many times.
ROUND_ATTEMPTS: Final = 3
WORKLOADS: Final = ("passthrough", "che_axe")
DEFAULTS: Final = {"passthrough": passthrough.DEFAULTS, "che_axe": che_axe.DEFAULTS}


def _per_workload(field: str) -> str:
    return "default: " + ", ".join(f"{w} {getattr(d, field):g}" for w, d in DEFAULTS.items())


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all")
    p.add_argument("--n", type=int, help=f"events preloaded for the throughput figure ({_per_workload('n')})")
    p.add_argument("--repeats", type=int, default=3, help="rounds, each running every contender once")
    p.add_argument("--prefetch", type=int, default=300, help="the same for every contender (our default)")
    p.add_argument("--rate", type=float,
                   help="events/s published during the latency scenario; keep it under every contender's capacity"
                   f" or its latency is only backlog ({_per_workload('rate')})")
    p.add_argument("--seconds", type=float, help=f"length of the latency scenario ({_per_workload('seconds')})")
    p.add_argument("--quick", action="store_true", help=f"smoke run: one round, fewer events ({_per_workload('quick_n')})")
    p.add_argument("--amqp-url", default=DEFAULT_URL)
    p.add_argument("--mongo-url", default=che_axe.DEFAULT_MONGO_URL, help="che_axe: a fresh database per run here")
    p.add_argument("--no-csv", action="store_true", help=f"do not append to {RESULTS.name}")
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each process's throughput phase into DIR")
    args = p.parse_args()
    if args.quick:
        args.repeats = 1
    return args


def workload(name: str, args: argparse.Namespace) -> Workload:
    d = DEFAULTS[name]
    n = args.n or (d.quick_n if args.quick else d.n)
    rate, seconds = args.rate or d.rate, args.seconds or d.seconds
    if name == "che_axe":
        return che_axe.workload(n, args.prefetch, rate, seconds, args.mongo_url)
    return passthrough.workload(n, args.prefetch, rate, seconds)


async def run(broker: BenchBroker, work: Workload, args: argparse.Namespace) -> None:
    """`args.repeats` rounds of every contender, interleaved; rows appended as each round ends."""
    run_id = uuid.uuid4().hex[:8]  # unique per run, so concurrent or leftover queues never collide
    s = work.scenario
    print(f"{work.name}: run {run_id}, {args.repeats} round(s), latency at {s.rate:g}/s for {s.seconds:g} s", flush=True)
    rounds = []
    for round_no in range(1, args.repeats + 1):

        def progress(r: RunResult, round_no: int = round_no) -> None:
            rss = " ".join(f"{stage} {mb:.1f}" for stage, mb in r.peak_rss_mb.items())
            counts = "".join(f"  {k} {v}" for k, v in r.counts.items())
            print(
                f"round {round_no}/{args.repeats} {r.contender:<12} {r.events_per_s:>8,.0f} events/s"
                f"  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  peak RSS MiB {rss}{counts}"
                f"  (load average {os.getloadavg()[0]:.1f}: other work on the box skews figures)",
                flush=True,
            )

        for attempt in range(1, ROUND_ATTEMPTS + 1):
            try:
                tag = f"{run_id}.{round_no}.{attempt}"
                results = await run_round(broker, work.contenders, s, tag, progress, args.profile)
                break
            except (*BROKER_LOST, RelayFailed) as exc:
                if attempt == ROUND_ATTEMPTS:
                    raise
                print(f"round {round_no} discarded, running it again: {type(exc).__name__}: {exc}", flush=True)
                await broker.reconnect()
        rounds.append(results)
        if not args.no_csv:
            append_round(work.name, s.n, results)
    print()
    print(table(work.name, s.rate, s.seconds, rounds, work.expected))
    print(flush=True)


async def main() -> None:
    args = parse_args()
    # A broker restart (other sessions' fault tests) is reported in one line and the round re-run;
    # aiormq's own traceback for it would only bury the figures.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    names = WORKLOADS if args.workload == "all" else (args.workload,)
    async with BenchBroker(args.amqp_url) as broker:
        for name in names:
            await run(broker, workload(name, args), args)


if __name__ == "__main__":
    asyncio.run(main())
