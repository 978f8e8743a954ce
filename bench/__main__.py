"""`python -m bench [--workload passthrough|che_axe|all] [--n N] [--repeats 3] [--quick]`: run,
print, append results.csv.

`--workload sustained [--rates 250,500] [--seconds 60] [--preload-alarms N --preload-entities M]`: the
chain che → axe → action at fixed offered rates (bench/sustained/); not part of `all`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Final

from bench import che_axe, passthrough, sustained
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


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of events/s: {text!r}") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"rates must be positive: {text!r}")
    return rates


def _count(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return n


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--workload",
        choices=(*WORKLOADS, "all", "sustained"),
        default="all",
        help="all: the throughput workloads; sustained runs alone",
    )
    p.add_argument("--n", type=int, help=f"events preloaded for the throughput figure ({_per_workload('n')})")
    p.add_argument("--repeats", type=int, default=3, help="rounds, each running every contender once")
    p.add_argument("--prefetch", type=int, default=300, help="the same for every contender (our default)")
    p.add_argument(
        "--rate",
        type=float,
        help="events/s published during the latency scenario; keep it under every contender's capacity"
        f" or its latency is only backlog ({_per_workload('rate')})",
    )
    p.add_argument(
        "--seconds",
        type=float,
        help=f"length of the latency scenario ({_per_workload('seconds')});"
        f" sustained: of each rate (default {sustained.SECONDS:g}, --quick {sustained.QUICK_SECONDS:g})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: one round, fewer events ({_per_workload('quick_n')});"
        f" sustained: rates {_listed(sustained.QUICK_RATES)} for {sustained.QUICK_SECONDS:g} s each",
    )
    p.add_argument(
        "--rates",
        type=_rates,
        metavar="R1,R2,…",
        help=f"sustained: offered events/s, one after the other (default {_listed(sustained.RATES)})",
    )
    p.add_argument(
        "--preload-alarms",
        type=_count,
        default=0,
        metavar="N",
        help="sustained: open alarms inserted before the engines start, on N of the preloaded entities",
    )
    p.add_argument(
        "--preload-entities",
        type=_count,
        default=0,
        metavar="M",
        help="sustained: entities inserted before the engines start",
    )
    p.add_argument("--amqp-url", default=DEFAULT_URL)
    p.add_argument(
        "--mongo-url", default=che_axe.DEFAULT_MONGO_URL, help="che_axe, sustained: a fresh database per run here"
    )
    p.add_argument(
        "--no-csv", action="store_true", help=f"do not append to {RESULTS.name} (sustained: {sustained.CSV.name})"
    )
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each process's throughput phase into DIR")
    args = p.parse_args()
    if args.preload_alarms > args.preload_entities:
        p.error("--preload-alarms N puts alarms on N preloaded entities: give --preload-entities N or more")
    if args.quick:
        args.repeats = 1
    return args


def _listed(rates: tuple[float, ...]) -> str:
    return ",".join(f"{r:g}" for r in rates)


def sustained_options(args: argparse.Namespace) -> sustained.Options:
    """--quick picks the short rates and windows; --rates and --seconds, when given, still win."""
    return sustained.Options(
        rates=args.rates or (sustained.QUICK_RATES if args.quick else sustained.RATES),
        seconds=args.seconds or (sustained.QUICK_SECONDS if args.quick else sustained.SECONDS),
        preload_alarms=args.preload_alarms,
        preload_entities=args.preload_entities,
        amqp_url=args.amqp_url,
        mongo_url=args.mongo_url,
        csv=not args.no_csv,
    )


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
    print(
        f"{work.name}: run {run_id}, {args.repeats} round(s), latency at {s.rate:g}/s for {s.seconds:g} s", flush=True
    )
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
    if args.workload == "sustained":
        try:
            await sustained.run(sustained_options(args))
        except (*BROKER_LOST, RelayFailed) as exc:
            # Everything is stopped and deleted by now; one line says why, not aiormq's traceback.
            print(f"sustained: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        return
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    names = WORKLOADS if args.workload == "all" else (args.workload,)
    async with BenchBroker(args.amqp_url) as broker:
        for name in names:
            await run(broker, workload(name, args), args)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        # asyncio.run cancelled the run first, so its cleanup (processes, queues, database) is done.
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
