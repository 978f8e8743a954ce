"""cps-tail: print the events flowing on an exchange, like Canopsis' amqp2tty.

    cps-tail                         # every event on canopsis.events, one compact line each
    cps-tail --json --count 10       # the first 10 bodies, raw, one per line
    cps-tail --key 'nagios.#'        # only these routing keys

It declares an exclusive, auto-delete queue bound to the exchange (with `#`, or each --key) and
prints what arrives: a copy, so nothing is taken from the engines. A queue cannot be watched
without consuming from it (AMQP has no peek), so there is no --queue: to see what flows into a
queue, tail the exchange that feeds it (canopsis.events for Engine_che; the engines after che
are fed through the default exchange, which cannot be bound to).
Compact lines: time (the event's timestamp, else arrival), event_type, entity id, state, output.
Exit codes: 0 done (--count reached, --duration over, or Ctrl-C), 1 RabbitMQ did not answer or
the exchange does not exist, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Final, TextIO

import aio_pika
import aio_pika.abc

from engines.tools.console import (
    EXIT_OK,
    Parser,
    Unavailable,
    UsageError,
    connect_amqp,
    not_found,
    run,
    run_async,
    shorten,
)
from framework import ALL_EVENTS, EVENTS_EXCHANGE, BrokerUnavailable, broker_errors

__all__ = ["compact_line", "entity_id", "main"]

PROG: Final = "cps-tail"
STATE_NAMES: Final = {0: "ok", 1: "minor", 2: "major", 3: "critical"}
OUTPUT_WIDTH: Final = 80


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Print the events flowing on an exchange (a copy: the engines lose nothing).",
        epilog="A queue cannot be peeked in AMQP: to see what reaches a queue, tail its source exchange.",
    )
    parser.add_amqp_url()
    parser.add_argument("--exchange", default=EVENTS_EXCHANGE, help=f"exchange to watch (default {EVENTS_EXCHANGE})")
    parser.add_argument("--key", action="append", help="binding key, repeatable (default '#': everything)")
    parser.add_argument("--count", type=int, help="stop after this many messages")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--json", action="store_true", help="print each body as it came, one per line")
    return parser


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None, ready: Any = None
) -> int:
    """Print until --count, --duration or Ctrl-C; return the exit code. `ready` (a threading.Event)
    is set once the queue is bound, for tests."""
    return run(PROG, lambda: build_parser().parse_args(argv), partial(_run, ready=ready), stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO, *, ready: Any) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count: {args.count} must be at least 1")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration: {args.duration:g} must be positive")
    if args.exchange == "":
        raise UsageError('--exchange: the default exchange ("") cannot be bound to; name a topic exchange')
    with contextlib.suppress(KeyboardInterrupt):
        run_async(_tail(args.amqp_url, args, out, ready))
    return EXIT_OK


# --- formatting ------------------------------------------------------------------------------------


def entity_id(event: Mapping[str, Any]) -> str:
    """Canopsis' eid: resource/component, component, or connector/connector_name."""
    if event.get("resource"):
        return f"{event['resource']}/{event.get('component') or ''}"
    if event.get("component"):
        return str(event["component"])
    return f"{event.get('connector', '?')}/{event.get('connector_name', '?')}"


def compact_line(body: bytes, arrived: float) -> str:
    """`HH:MM:SS event_type entity state output`, or the start of a body that is not an event."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return f"{_clock(arrived)} (not a JSON object) {shorten(body.decode('utf-8', 'replace'), OUTPUT_WIDTH)}"
    stamp = event.get("timestamp")
    when = stamp if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > 0 else arrived
    state = event.get("state")
    shown_state = STATE_NAMES.get(state, str(state)) if isinstance(state, int) else "-"
    output = shorten(str(event.get("output") or ""), OUTPUT_WIDTH)
    return f"{_clock(when)} {event.get('event_type', '?')} {entity_id(event)} {shown_state} {output}".rstrip()


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


# --- broker ----------------------------------------------------------------------------------------


async def _tail(url: str, args: Any, out: TextIO, ready: Any) -> None:
    connection = await connect_amqp(url, PROG)
    try:
        with broker_errors("RabbitMQ refused"):
            await _print_messages(connection, args, out, ready)
    except BrokerUnavailable as exc:
        if not_found(exc):
            raise Unavailable(
                f"exchange {args.exchange!r} does not exist (engine-che declares canopsis.events)"
            ) from None
        raise Unavailable(exc.detail) from None
    finally:
        with contextlib.suppress(BrokerUnavailable), broker_errors("closing"):
            await asyncio.shield(connection.close())


async def _print_messages(connection: aio_pika.abc.AbstractConnection, args: Any, out: TextIO, ready: Any) -> None:
    channel = await connection.channel()
    exchange = await channel.declare_exchange(args.exchange, passive=True)
    queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
    for key in args.key or [ALL_EVENTS]:
        await queue.bind(exchange, routing_key=key)
    if ready is not None:
        ready.set()
    seen = 0
    deadline = None if args.duration is None else time.monotonic() + args.duration
    async with queue.iterator(no_ack=True) as messages:
        while args.count is None or seen < args.count:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(anext(messages), timeout=remaining)
            except TimeoutError:
                break
            body = bytes(message.body)
            line = body.decode("utf-8", "replace").replace("\n", " ") if args.json else compact_line(body, time.time())
            print(line, file=out, flush=True)
            seen += 1


if __name__ == "__main__":
    sys.exit(main())
