"""cps-alarms: list and show alarms, and act on them as an operator, by sending events.

    cps-alarms list --open --state 3 --connector nagios
    cps-alarms show 'disk/web01'                 # an alarm id, or an entity id (its open alarm)
    cps-alarms ack 'disk/web01' --author alice --output 'on it'
    cps-alarms snooze 5b1c… --duration 600
    cps-alarms changestate 'disk/web01' --state 1

Alarms are read from `periodical_alarm` in CPS_MONGO_URL (or --mongo-url). Actions (ack,
ackremove, snooze, cancel, comment, changestate) are never written to the alarm: each is an
event with the alarm's identity (connector, connector_name, component, resource, source_type),
published persistently with a confirm to canopsis.events (--exchange) on CPS_AMQP_URL, where
engine-axe applies it as it applies the UI's. Exit codes: 0 done, 1 a service did not answer
or refused, 2 bad usage, or no such (open) alarm.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TextIO

import aio_pika
from pydantic import ValidationError
from pymongo import DESCENDING
from pymongo.database import Database

from engines.model.address import SYSTEM_CONNECTOR, event_address
from engines.model.alarm import AlarmValue
from engines.model.entity import Entity
from engines.model.event import Event, Initiator
from engines.store.collections import ALARMS
from engines.store.documents import problem_of
from engines.tools.console import (
    EXIT_OK,
    Document,
    Parser,
    Unavailable,
    UsageError,
    connect_amqp,
    connect_mongo,
    mongo_errors,
    run,
    run_async,
    shorten,
    table,
    unroutable,
)
from engines.tools.feeder import routing_key
from framework import EVENTS_EXCHANGE, BrokerUnavailable, broker_errors

__all__ = ["alarm_rows", "list_filter", "main", "operator_event", "show_lines"]

PROG: Final = "cps-alarms"
ACTIONS: Final = ("ack", "ackremove", "snooze", "cancel", "comment", "changestate")
STATE_NAMES: Final = {0: "ok", 1: "minor", 2: "major", 3: "critical"}
STATUS_NAMES: Final = {0: "off", 1: "ongoing", 2: "stealthy", 3: "flapping", 4: "cancelled", 5: "noevents"}
LIST_LIMIT: Final = 50
OUTPUT_WIDTH: Final = 50


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, description="List and show Canopsis alarms; ack, snooze, cancel… them by sending events."
    )
    parser.add_mongo_url()
    parser.add_amqp_url("; for actions")
    parser.add_argument(
        "--exchange", default=EVENTS_EXCHANGE, help=f"where actions are sent (default {EVENTS_EXCHANGE})"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,show," + ",".join(ACTIONS) + "}")
    listing = commands.add_parser("list", help="a table of alarms, the last updated first")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_const", dest="which", const="open", help="open alarms only (default)")
    which.add_argument("--resolved", action="store_const", dest="which", const="resolved", help="resolved alarms only")
    which.add_argument("--all", action="store_const", dest="which", const="all", help="both")
    listing.add_argument("--state", type=int, choices=range(4), metavar="N", help="only this state (0-3)")
    listing.add_argument("--entity", metavar="ID", help="only this entity id")
    listing.add_argument("--connector", metavar="C", help="only this connector")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"at most this many (default {LIST_LIMIT})")
    show = commands.add_parser("show", help="one alarm: its fields and steps")
    show.add_argument("target", metavar="ALARM_ID_OR_ENTITY")
    show.add_argument("--json", action="store_true", help="the whole document as JSON")
    for action in ACTIONS:
        sub = commands.add_parser(action, help=f"send a {action} event for an open alarm")
        sub.add_argument("target", metavar="ALARM_ID_OR_ENTITY")
        sub.add_argument("--author", help="who acts (default: $USER)")
        sub.add_argument("--output", default="", help="the comment shown on the step")
        if action == "snooze":
            sub.add_argument("--duration", type=int, required=True, metavar="S", help="seconds")
        if action == "changestate":
            sub.add_argument("--state", type=int, required=True, choices=range(4), metavar="N", help="0-3")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; return the exit code. Errors are one line on stderr."""
    return run(PROG, lambda: build_parser().parse_args(argv), _run, stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    if args.command == "list" and args.limit < 1:
        raise UsageError(f"--limit: {args.limit} is not a positive number")
    if getattr(args, "duration", None) is not None and args.duration < 1:
        raise UsageError(f"--duration: {args.duration} must be at least 1 second")
    client, database = connect_mongo(args.mongo_url, PROG)
    with client, mongo_errors(args.mongo_url):
        return _command(client[database], args, out)


def _command(db: Database[Document], args: Any, out: TextIO) -> int:
    if args.command == "list":
        documents = list(
            db[ALARMS]
            .find(list_filter(args.which or "open", args.state, args.entity, args.connector))
            .sort("v.last_update_date", DESCENDING)
            .limit(args.limit)
        )
        print("\n".join(table(COLUMNS, alarm_rows(documents))), file=out)
        return EXIT_OK
    alarm = find_alarm(db, args.target, open_only=args.command != "show")
    if args.command == "show":
        text = (
            json.dumps(alarm, indent=2, default=str, ensure_ascii=False) if args.json else "\n".join(show_lines(alarm))
        )
        print(text, file=out)
        return EXIT_OK
    author = args.author or os.environ.get("USER") or PROG
    event = operator_event(
        alarm,
        args.command,
        author,
        args.output,
        int(time.time()),
        duration=getattr(args, "duration", None),
        state=getattr(args, "state", None),
    )
    run_async(_send(args.amqp_url, args.exchange, event))
    print(f"sent {args.command} for alarm {alarm['_id']} ({alarm['d']}) to {args.exchange}", file=out)
    return EXIT_OK


# --- pure pieces -----------------------------------------------------------------------------------

COLUMNS: Final = ("id", "entity", "state", "status", "ack", "steps", "updated", "output")


def list_filter(which: str, state: int | None, entity: str | None, connector: str | None) -> Document:
    """The `periodical_alarm` query of `list`."""
    query: Document = {}
    if which == "open":
        query["v.resolved"] = None
    elif which == "resolved":
        query["v.resolved"] = {"$ne": None}
    if state is not None:
        query["v.state.val"] = state
    if entity is not None:
        query["d"] = entity
    if connector is not None:
        query["v.connector"] = connector
    return query


def alarm_rows(documents: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for doc in documents:
        v = doc.get("v") or {}
        state = (v.get("state") or {}).get("val", 0)
        status = (v.get("status") or {}).get("val", 0)
        ack = (v.get("ack") or {}).get("a", "-") if v.get("ack") else "-"
        rows.append(
            (
                str(doc.get("_id")),
                str(doc.get("d")),
                f"{STATE_NAMES.get(state, state)} ({state})",
                "resolved" if v.get("resolved") else str(STATUS_NAMES.get(status, status)),
                str(ack),
                str(len(v.get("steps") or [])),
                _when(v.get("last_update_date")),
                shorten(str(v.get("output", "")), OUTPUT_WIDTH),
            )
        )
    return rows


def show_lines(doc: Mapping[str, Any]) -> list[str]:
    v = doc.get("v") or {}
    state = (v.get("state") or {}).get("val", 0)
    status = (v.get("status") or {}).get("val", 0)
    lines = [
        f"alarm      {doc.get('_id')}",
        f"entity     {doc.get('d')}",
        f"connector  {v.get('connector', '')}/{v.get('connector_name', '')}",
        f"state      {STATE_NAMES.get(state, state)} ({state})",
        f"status     {STATUS_NAMES.get(status, status)} ({status})",
        f"created    {_when(v.get('creation_date'))}",
        f"updated    {_when(v.get('last_update_date'))}",
        f"resolved   {_when(v.get('resolved')) if v.get('resolved') else '-'}",
    ]
    for name in ("ack", "snooze", "canceled", "change_state", "ticket"):
        step = v.get(name)
        if step:
            lines.append(f"{name:<10} by {step.get('a', '?')} at {_when(step.get('t'))} {step.get('m', '')}".rstrip())
    lines.append(f"output     {v.get('output', '')}")
    steps = v.get("steps") or []
    rows = [
        (
            _when(s.get("t")),
            str(s.get("_t", "")),
            str(s.get("a", "")),
            str(s.get("val", "")),
            shorten(str(s.get("m", "")), 60),
        )
        for s in steps
    ]
    lines += [
        "",
        f"steps ({len(steps)}):",
        *("  " + line for line in table(("time", "type", "author", "val", "message"), rows)),
    ]
    return lines


def operator_event(
    alarm: Mapping[str, Any],
    action: str,
    author: str,
    output: str,
    now: int,
    *,
    duration: int | None = None,
    state: int | None = None,
) -> Document:
    """The event that asks engine-axe to apply `action` to `alarm`, as Canopsis' UI sends it.

    It goes where the alarm's own events went (engines.model.address: what the alarm recorded of
    them, else its embedded entity); initiator user. Raises UsageError if the alarm lacks what the
    event needs.
    """
    try:
        value = AlarmValue.model_validate(alarm.get("v") or {})
    except ValidationError as exc:
        raise UsageError(f"alarm {alarm.get('_id')}: cannot build its {action} event: {problem_of(exc, 1)}") from None
    try:
        entity = Entity.model_validate(alarm["e"]) if alarm.get("e") else None
    except ValidationError:
        entity = None  # what the alarm recorded is enough
    event: Document = {
        **event_address(entity, SYSTEM_CONNECTOR, recorded=value).fields(),
        "event_type": action,
        "author": author,
        "initiator": Initiator.USER.value,
        "output": output,
        "timestamp": now,
    }
    if action == "snooze":
        event["duration"] = duration
    if action == "changestate":
        event["state"] = state
    try:
        Event.model_validate(event, context={"now": now})
    except ValidationError as exc:
        raise UsageError(f"alarm {alarm.get('_id')}: cannot build its {action} event: {problem_of(exc, 1)}") from None
    return event


def _when(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return "-"
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


# --- I/O -------------------------------------------------------------------------------------------


def find_alarm(db: Database[Document], target: str, *, open_only: bool) -> Document:
    """The alarm of id `target`, else the open (or, for `show`, the latest) alarm of entity `target`."""
    alarms = db[ALARMS]
    alarm = alarms.find_one({"_id": target})
    if alarm is None:
        alarm = alarms.find_one({"d": target, "v.resolved": None})
    if alarm is None and not open_only:
        alarm = next(iter(alarms.find({"d": target}).sort("t", DESCENDING).limit(1)), None)
    if alarm is None:
        raise UsageError(f"no {'open ' if open_only else ''}alarm with id or entity {target!r} (see `{PROG} list`)")
    if open_only and (alarm.get("v") or {}).get("resolved"):
        raise UsageError(f"alarm {target!r} is resolved; actions apply to open alarms")
    return alarm


async def _send(url: str, exchange_name: str, event: Document) -> None:
    connection = await connect_amqp(url, PROG)
    try:
        with broker_errors("RabbitMQ refused the event"):
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            await exchange.publish(
                aio_pika.Message(
                    json.dumps(event).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=routing_key(event),
                mandatory=True,
            )
    except BrokerUnavailable as exc:
        if unroutable(exc):
            raise Unavailable(
                f"the event was returned unroutable: no queue is bound to {exchange_name} (is engine-che running?)"
            ) from None
        raise Unavailable(exc.detail) from None
    finally:
        await asyncio.shield(connection.close())


if __name__ == "__main__":
    sys.exit(main())
