"""cps-dlq: look into dead-letter queues, replay their messages, or purge them.

    cps-dlq list che                 # Engine_che.dead: index, message id, reason, body
    cps-dlq show che 2               # one dead letter: headers and body
    cps-dlq replay che --all         # back to the queue it came from (x-cps-queue)
    cps-dlq replay che 1 3 --to Engine_che_fixed
    cps-dlq purge che --yes

`list` and `show` take the messages with basic.get without acking and put them back (nack,
requeue), so the queue is left as it was (RabbitMQ requeues to the original positions; the
messages are marked redelivered). `replay` publishes each message persistently with publisher
confirms and acks the dead letter only once the broker confirmed its copy: an interruption can
duplicate a message, never lose one. The broker is CPS_AMQP_URL (or --amqp-url).
Exit codes: 0 done, 1 RabbitMQ did not answer or refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import aio_pika
import aio_pika.abc

from engines.tools.console import (
    EXIT_OK,
    Parser,
    Unavailable,
    UsageError,
    broker_failure,
    connect_amqp,
    not_found,
    run,
    run_async,
    shorten,
    table,
)
from framework import (
    DEAD_ENGINE_HEADER,
    DEAD_QUEUE_HEADER,
    DEAD_REASON_HEADER,
    BrokerUnavailable,
    broker_errors,
    dead_letter_queue,
    engine_queue,
)

__all__ = ["DeadLetter", "candidate_queues", "main", "parse_indexes", "replay_headers"]

PROG: Final = "cps-dlq"
DEAD_SUFFIX: Final = ".dead"
#: Set on a replayed message: how many times it was replayed, so a loop shows in its headers.
REPLAYED_HEADER: Final = "x-cps-replayed"
#: Replayed messages whose confirms are awaited together before their dead letters are acked.
REPLAY_WINDOW: Final = 100
LIST_LIMIT: Final = 100
BODY_WIDTH: Final = 60
REASON_WIDTH: Final = 60


@dataclass
class DeadLetter:
    """One message taken (not yet settled) from a dead-letter queue; `index` counts from 1."""

    index: int
    body: bytes
    message_id: str | None
    headers: dict[str, Any]
    content_type: str | None
    redelivered: bool
    message: Any = field(repr=False, default=None)  # the aio-pika IncomingMessage, to ack or nack

    @property
    def reason(self) -> str:
        return _text(self.headers.get(DEAD_REASON_HEADER))

    @property
    def origin(self) -> str:
        """The queue the message was consumed from when it was dead-lettered ("" if unknown)."""
        return _text(self.headers.get(DEAD_QUEUE_HEADER))


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="List, show, replay and purge dead-letter queues (<queue>.dead).")
    parser.add_amqp_url()
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,show,replay,purge}")
    target_help = "an engine (che → Engine_che.dead), a queue (Engine_che, or a --consume-queue) or a .dead queue"
    listing = commands.add_parser("list", help="list the dead letters, leaving them in the queue")
    listing.add_argument("target", metavar="QUEUE_OR_ENGINE", help=target_help)
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"at most this many (default {LIST_LIMIT})")
    show = commands.add_parser("show", help="show one dead letter (headers and body), leaving it in the queue")
    show.add_argument("target", metavar="QUEUE_OR_ENGINE", help=target_help)
    show.add_argument("index", metavar="N", help="its number in `list`")
    replay = commands.add_parser("replay", help="publish dead letters again, then remove them from the DLQ")
    replay.add_argument("target", metavar="QUEUE_OR_ENGINE", help=target_help)
    replay.add_argument("indexes", metavar="N", nargs="*", help="numbers in `list` (or --all)")
    replay.add_argument("--all", action="store_true", help="every message in the queue now")
    replay.add_argument("--to", metavar="QUEUE", help="publish to this queue instead of the original (x-cps-queue)")
    purge = commands.add_parser("purge", help="delete every message of the DLQ")
    purge.add_argument("target", metavar="QUEUE_OR_ENGINE", help=target_help)
    purge.add_argument("--yes", action="store_true", help="really delete them")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; return the exit code. Errors are one line on stderr."""
    return run(PROG, lambda: _parse(argv), _run, stdout=stdout, stderr=stderr)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "replay":  # numbers after an option (`--to Q 1 3`) land here with argparse
        args.indexes += [e for e in extra if not e.startswith("-")]
        extra = [e for e in extra if e.startswith("-")]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    if args.command == "list" and args.limit < 1:
        raise UsageError(f"--limit: {args.limit} is not a positive number")
    if args.command == "show":
        args.index = parse_indexes([args.index])[0]
    if args.command == "replay":
        if args.all == bool(args.indexes):
            raise UsageError("replay: give message numbers or --all (one of the two)")
        args.indexes = parse_indexes(args.indexes)
    return run_async(_command(args, args.amqp_url, out))


# --- pure pieces -----------------------------------------------------------------------------------


def candidate_queues(target: str) -> list[str]:
    """The dead-letter queues `target` may mean, most likely first.

    >>> candidate_queues("che")
    ['Engine_che.dead', 'che.dead']
    """
    if not target:
        raise UsageError("empty queue or engine name")
    if target.endswith(DEAD_SUFFIX):
        return [target]
    if target.startswith("Engine_"):
        return [dead_letter_queue(target)]
    return [dead_letter_queue(engine_queue(target)), dead_letter_queue(target)]


def parse_indexes(items: Sequence[str]) -> list[int]:
    """Message numbers as given on the command line (1-based), duplicates removed, in order."""
    indexes: list[int] = []
    for item in items:
        try:
            index = int(item)
        except ValueError:
            raise UsageError(f"{item!r} is not a message number (see `{PROG} list`)") from None
        if index < 1:
            raise UsageError(f"{item!r}: message numbers start at 1")
        if index not in indexes:
            indexes.append(index)
    return indexes


def replay_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The headers of a replayed message: the dead-letter headers dropped, the replay counted."""
    kept = {k: v for k, v in headers.items() if k not in (DEAD_REASON_HEADER, DEAD_ENGINE_HEADER, DEAD_QUEUE_HEADER)}
    previous = kept.get(REPLAYED_HEADER)
    kept[REPLAYED_HEADER] = (previous if isinstance(previous, int) and not isinstance(previous, bool) else 0) + 1
    return kept


def list_lines(queue: str, total: int, letters: Sequence[DeadLetter]) -> list[str]:
    shown = f" (first {len(letters)})" if len(letters) < total else ""
    lines = [f"{queue}: {total} message{'s' if total != 1 else ''}{shown}"]
    if letters:
        rows = [
            (
                str(d.index),
                d.message_id or "-",
                shorten(d.reason or "-", REASON_WIDTH),
                shorten(d.body.decode("utf-8", "replace"), BODY_WIDTH),
            )
            for d in letters
        ]
        lines += table(("#", "message id", "reason", "body"), rows)
    return lines


def show_lines(queue: str, total: int, letter: DeadLetter) -> list[str]:
    others = {
        k: v for k, v in letter.headers.items() if k not in (DEAD_REASON_HEADER, DEAD_ENGINE_HEADER, DEAD_QUEUE_HEADER)
    }
    lines = [
        f"message {letter.index} of {total} in {queue}",
        f"message id:   {letter.message_id or '-'}",
        f"reason:       {letter.reason or '-'}",
        f"engine:       {_text(letter.headers.get(DEAD_ENGINE_HEADER)) or '-'}",
        f"from queue:   {letter.origin or '-'}",
        f"content type: {letter.content_type or '-'}",
    ]
    if others:
        lines.append(f"headers:      {json.dumps(others, default=str, sort_keys=True)}")
    lines.append(f"body ({len(letter.body)} bytes):")
    text = letter.body.decode("utf-8", "replace")
    try:
        lines.append(json.dumps(json.loads(letter.body), indent=2, ensure_ascii=False))
    except ValueError:
        lines.append(text)
    return lines


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


# --- broker ----------------------------------------------------------------------------------------


async def _command(args: Any, url: str, out: TextIO) -> int:
    connection = await connect_amqp(url, f"{PROG} {args.command}")
    try:
        with broker_errors("RabbitMQ refused"):
            return await _handle(connection, args, out)
    except BrokerUnavailable as exc:
        raise Unavailable(exc.detail) from None
    finally:
        await asyncio.shield(connection.close())


async def _handle(connection: aio_pika.abc.AbstractConnection, args: Any, out: TextIO) -> int:
    queue_name, total = await _resolve(connection, args.target)
    if args.command == "purge":
        return await _purge(connection, queue_name, total, args.yes, out)
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name, passive=True)
    if args.command == "list":
        letters = await _take(queue, min(args.limit, total))
        await _release(letters)
        print("\n".join(list_lines(queue_name, total, letters)), file=out)
        return EXIT_OK
    if args.command == "show":
        _check_indexes([args.index], total, queue_name)
        letters = await _take(queue, args.index)
        await _release(letters)
        if len(letters) < args.index:
            raise UsageError(f"{queue_name} holds {len(letters)} messages now, no message {args.index}")
        print("\n".join(show_lines(queue_name, total, letters[args.index - 1])), file=out)
        return EXIT_OK
    return await _replay(connection, queue, queue_name, total, args, out)


async def _resolve(connection: aio_pika.abc.AbstractConnection, target: str) -> tuple[str, int]:
    """The first candidate queue that exists, and how many messages it holds."""
    candidates = candidate_queues(target)
    for name in candidates:
        channel = await connection.channel()  # a failed passive declare closes its channel
        try:
            with broker_errors(f"looking for {name}"):
                queue = await channel.declare_queue(name, passive=True)
        except BrokerUnavailable as exc:
            if not_found(exc):
                continue
            raise
        count = int(queue.declaration_result.message_count or 0)
        await channel.close()
        return name, count
    raise UsageError(f"no dead-letter queue {' or '.join(candidates)} on the broker (see `rabbitmqctl list_queues`)")


def _check_indexes(indexes: Sequence[int], total: int, queue: str) -> None:
    missing = [i for i in indexes if i > total]
    if missing:
        raise UsageError(
            f"{queue} holds {total} message{'s' if total != 1 else ''}: no message "
            f"{', '.join(map(str, missing))} (see `{PROG} list`)"
        )


async def _take(queue: aio_pika.abc.AbstractQueue, limit: int) -> list[DeadLetter]:
    """Up to `limit` messages by basic.get, unacked: the caller acks or releases each."""
    letters: list[DeadLetter] = []
    while len(letters) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=10)
        if message is None:
            break
        letters.append(
            DeadLetter(
                index=len(letters) + 1,
                body=bytes(message.body),
                message_id=message.message_id,
                headers=dict(message.headers or {}),
                content_type=message.content_type,
                redelivered=bool(message.redelivered),
                message=message,
            )
        )
    return letters


async def _release(letters: Sequence[DeadLetter]) -> None:
    """Put the messages back where they were (nack with requeue), newest first."""
    for letter in reversed(letters):
        await letter.message.nack(requeue=True)


async def _replay(
    connection: aio_pika.abc.AbstractConnection,
    queue: aio_pika.abc.AbstractQueue,
    queue_name: str,
    total: int,
    args: Any,
    out: TextIO,
) -> int:
    if args.to == queue_name:
        raise UsageError(f"--to: {args.to} is the dead-letter queue itself")
    wanted = list(range(1, total + 1)) if args.all else args.indexes
    _check_indexes(wanted, total, queue_name)
    if not wanted:
        print(f"{queue_name}: empty, nothing to replay", file=out)
        return EXIT_OK
    # Only the messages there now: replayed ones that fail again come back behind them.
    letters = await _take(queue, max(wanted))
    chosen = [d for d in letters if d.index in set(wanted)]
    try:
        if len(chosen) < len(wanted):
            raise UsageError(f"{queue_name} holds fewer messages than when counted; nothing replayed, try again")
        homeless = [d.index for d in chosen if not (args.to or d.origin)]
        if homeless:
            raise UsageError(
                f"message {', '.join(map(str, homeless))} has no {DEAD_QUEUE_HEADER} header: give --to QUEUE"
            )
        replayed = await _publish_and_ack(connection, chosen, args.to)
    finally:
        await _release([d for d in letters if d.message is not None and not d.message.processed])
    destinations = sorted({args.to or d.origin for d in chosen})
    print(
        f"replayed {replayed} message{'s' if replayed != 1 else ''} from {queue_name} to {', '.join(destinations)}",
        file=out,
    )
    return EXIT_OK


async def _publish_and_ack(
    connection: aio_pika.abc.AbstractConnection, letters: Sequence[DeadLetter], to: str | None
) -> int:
    """Publish each letter persistently; ack it once its copy is confirmed. Returns how many."""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    for name in sorted({to or d.origin for d in letters}):
        await channel.declare_queue(name, durable=True)  # as the engines declare the queues they feed
    done = 0
    for start in range(0, len(letters), REPLAY_WINDOW):
        window = letters[start : start + REPLAY_WINDOW]
        confirms = [
            channel.default_exchange.publish(
                aio_pika.Message(
                    d.body,
                    content_type=d.content_type,
                    message_id=d.message_id,
                    headers=replay_headers(d.headers),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=to or d.origin,
                mandatory=True,
            )
            for d in window
        ]
        results = await asyncio.gather(*confirms, return_exceptions=True)
        failed: list[tuple[DeadLetter, BaseException]] = []
        for letter, result in zip(window, results):
            if isinstance(result, BaseException):
                failed.append((letter, result))
                continue
            await letter.message.ack()
            done += 1
        if failed:
            letter, exc = failed[0]
            failure = broker_failure(exc, f"replaying message {letter.index} was not confirmed")
            raise Unavailable(f"{failure.detail}; {done} replayed, {len(letters) - done} left in the dead-letter queue")
    await channel.close()
    return done


async def _purge(connection: aio_pika.abc.AbstractConnection, name: str, total: int, yes: bool, out: TextIO) -> int:
    if not yes:
        raise UsageError(f"purge would delete the {total} messages of {name}: add --yes")
    channel = await connection.channel()
    queue = await channel.declare_queue(name, passive=True)
    result = await queue.purge()
    count = int(getattr(result, "message_count", 0) or 0)
    print(f"purged {count} message{'s' if count != 1 else ''} from {name}", file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
