"""`cps-healthcheck`: are the engines of a chain alive and wired in order? Read from `engine_run_info`.

One line per engine of `--order`; exit 0 when every engine has a fresh document and publishes
to the next engine's queue, 1 when one is missing, stalled or misrouted (or the database does not
answer), 2 on a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from engines.tools.console import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Parser,
    UsageError,
    connect_mongo,
    mongo_errors,
    run,
)
from framework import RUN_INFO_COLLECTION, engine_queue

__all__ = ["EXIT_HEALTHY", "EXIT_PROBLEMS", "check_chain", "main"]

PROG: Final = "cps-healthcheck"
EXIT_HEALTHY: Final = EXIT_OK
#: An engine missing, stalled or misrouted, or the database did not answer: not healthy either way.
EXIT_PROBLEMS: Final = EXIT_UNAVAILABLE
#: Seconds to find the database server (unless the URL says otherwise): a probe answers quickly.
FIND_SERVER_TIMEOUT: Final = 3.0
#: A document is stale after this many beats without a refresh (unless --max-age is given).
STALE_BEATS: Final = 3
DEFAULT_ORDER: Final = "che,axe,action"

Doc = Mapping[str, Any]


def _age(doc: Doc, now: datetime) -> float:
    updated = doc.get("updated")
    if not isinstance(updated, datetime):
        return float("inf")
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
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
            results.append(
                (f"{name}: MISSING: no {RUN_INFO_COLLECTION} document (not running, or not on this database)", False)
            )
            continue
        problems = []
        for doc in instances:
            age, limit = (
                _age(doc, now),
                max_age if max_age is not None else STALE_BEATS * float(doc.get("beat_interval") or 60),
            )
            if age > limit:
                problems.append(
                    f"STALLED {doc.get('_id')} (pid {doc.get('pid')}): updated {age:.0f} s ago, limit {limit:.0f} s"
                )
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
        results.append(
            (
                f"{name}: OK {len(instances)} instance{'s' if len(instances) > 1 else ''}"
                f" ({', '.join(str(d.get('_id')) for d in instances)}), {rate:.1f} ev/s,"
                f" queue {'?' if queue is None else queue}, updated {youngest:.0f} s ago",
                True,
            )
        )
    return results


def _parser() -> Parser:
    p = Parser(
        prog=PROG,
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Exit codes: 0 healthy, 1 problems (or no answer from the database), 2 usage error.",
    )
    p.add_argument(
        "--order",
        default=DEFAULT_ORDER,
        help=f"engines of the chain, in order, comma-separated (default: {DEFAULT_ORDER})",
    )
    p.add_argument(
        "--max-age",
        type=float,
        metavar="S",
        help=f"stalled when not refreshed for S seconds (default: {STALE_BEATS} beats of each engine)",
    )
    p.add_mongo_url()
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Print one line per engine of --order; return the exit code. Errors are one line on stderr."""
    return run(PROG, lambda: _parser().parse_args(argv), _run, stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    order = [name.strip() for name in args.order.split(",")]
    if not all(order) or len(set(order)) != len(order):
        raise UsageError(f"--order {args.order!r}: give distinct engine names, comma-separated")
    if args.max_age is not None and args.max_age <= 0:
        raise UsageError(f"--max-age {args.max_age:g}: must be positive")
    client, database = connect_mongo(args.mongo_url, PROG, named="--mongo-url", timeout=FIND_SERVER_TIMEOUT)
    with client, mongo_errors(args.mongo_url):
        docs = list(client[database][RUN_INFO_COLLECTION].find({}))
    results = check_chain(order, docs, datetime.now(UTC), args.max_age)
    for line, _ in results:
        print(line, file=out)
    return EXIT_HEALTHY if all(ok for _, ok in results) else EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
