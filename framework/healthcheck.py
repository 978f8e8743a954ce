"""`cps-healthcheck`: are the engines of a chain alive and wired in order? Read from `engine_run_info`.

One line per engine of `--order`; exit 0 when every engine has a fresh document and publishes
to the next engine's queue, 1 when one is missing, stalled or misrouted (or the database does not
answer), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, NoReturn

from pymongo import AsyncMongoClient
from pymongo.uri_parser import parse_uri

from framework.urls import mask_url
from framework.transport.names import engine_queue
from framework.observability.runinfo import RUN_INFO_COLLECTION
from framework.services.mongo import DEFAULT_DATABASE, MONGO_OUTAGES

__all__ = ["main", "check_chain", "EXIT_HEALTHY", "EXIT_PROBLEMS", "EXIT_USAGE"]

EXIT_HEALTHY: Final = 0
EXIT_PROBLEMS: Final = 1
EXIT_USAGE: Final = 2
#: A document is stale after this many beats without a refresh (unless --max-age is given).
STALE_BEATS: Final = 3
DEFAULT_ORDER: Final = "che,axe,action"

Doc = Mapping[str, Any]


def _age(doc: Doc, now: datetime) -> float:
    updated = doc.get("updated")
    if not isinstance(updated, datetime):
        return float("inf")
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    return (now - updated).total_seconds()


def check_chain(
    order: Sequence[str], docs: Sequence[Doc], now: datetime, max_age: float | None = None
) -> list[tuple[str, bool]]:
    """One (line, healthy) per engine of `order`, from the run-info documents; pure.

    An engine is healthy when it has at least one document, every one of them was refreshed
    within `max_age` s (default: 3 of its beats) and lists the next engine's consume queue among
    its publish queues (the next engine's queue is read from its documents, else Engine_<name>).
    """
    by_engine: dict[str, list[Doc]] = {}
    for doc in docs:
        by_engine.setdefault(str(doc.get("engine")), []).append(doc)
    results = []
    for position, name in enumerate(order):
        instances = sorted(by_engine.get(name, []), key=lambda d: str(d.get("_id")))
        if not instances:
            results.append((f"{name}: MISSING: no {RUN_INFO_COLLECTION} document (not running, or not on this database)", False))
            continue
        problems = []
        for doc in instances:
            age, limit = _age(doc, now), max_age if max_age is not None else STALE_BEATS * float(doc.get("beat_interval") or 60)
            if age > limit:
                problems.append(f"STALLED {doc.get('_id')} (pid {doc.get('pid')}): updated {age:.0f} s ago, limit {limit:.0f} s")
        if position + 1 < len(order):
            following = order[position + 1]
            targets = {str(d.get("consume_queue")) for d in by_engine.get(following, [])} or {engine_queue(following)}
            for doc in instances:
                publishes = [str(q) for q in doc.get("publish_queues") or ()]
                if not targets & set(publishes):
                    problems.append(
                        f"MISROUTED {doc.get('_id')}: publishes to {','.join(publishes) or 'nothing'},"
                        f" not to {following}'s {'/'.join(sorted(targets))}"
                    )
        if problems:
            results.append((f"{name}: " + "; ".join(problems), False))
            continue
        rate = sum(float(d.get("events_per_s") or 0) for d in instances)
        queues = [d.get("queue_length") for d in instances]
        queue = max((q for q in queues if isinstance(q, int)), default=None)
        youngest = min(_age(d, now) for d in instances)
        results.append((
            f"{name}: OK {len(instances)} instance{'s' if len(instances) > 1 else ''}"
            f" ({', '.join(str(d.get('_id')) for d in instances)}), {rate:.1f} ev/s,"
            f" queue {'?' if queue is None else queue}, updated {youngest:.0f} s ago",
            True,
        ))
    return results


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"cps-healthcheck: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cps-healthcheck", description=__doc__.splitlines()[0] if __doc__ else None,
                epilog="Exit codes: 0 healthy, 1 problems (or no answer from the database), 2 usage error.")
    p.add_argument("--order", default=DEFAULT_ORDER,
                   help=f"engines of the chain, in order, comma-separated (default: {DEFAULT_ORDER})")
    p.add_argument("--max-age", type=float, metavar="S",
                   help=f"stalled when not refreshed for S seconds (default: {STALE_BEATS} beats of each engine)")
    p.add_argument("--mongo-url", default=os.environ.get("CPS_MONGO_URL") or "mongodb://127.0.0.1:27017/canopsis",
                   help="MongoDB URL (default: $CPS_MONGO_URL)")
    return p


async def _read(url: str, database: str) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, serverSelectionTimeoutMS=3000, tz_aware=True)
    try:
        return await client[database][RUN_INFO_COLLECTION].find({}).to_list(None)
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    order = [name.strip() for name in args.order.split(",")]
    if not all(order) or len(set(order)) != len(order):
        print(f"cps-healthcheck: --order {args.order!r}: give distinct engine names, comma-separated", file=sys.stderr)
        return EXIT_USAGE
    if args.max_age is not None and args.max_age <= 0:
        print(f"cps-healthcheck: --max-age {args.max_age:g}: must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        database = parse_uri(args.mongo_url).get("database") or DEFAULT_DATABASE
    except Exception as exc:  # noqa: BLE001 - pymongo raises several types for a malformed URI
        print(f"cps-healthcheck: --mongo-url {mask_url(args.mongo_url)!r} is not a MongoDB URL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        docs = asyncio.run(_read(args.mongo_url, database))
    except MONGO_OUTAGES as exc:
        print(f"cps-healthcheck: no answer from {mask_url(args.mongo_url)} ({type(exc).__name__});"
              " is the database running?", file=sys.stderr)
        return EXIT_PROBLEMS
    results = check_chain(order, docs, datetime.now(timezone.utc), args.max_age)
    for line, _ in results:
        print(line)
    return EXIT_HEALTHY if all(ok for _, ok in results) else EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
