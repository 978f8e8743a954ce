"""cps-feeder: publish events to canopsis.events, random ones (like Canopsis' random-feeder) or a file's.

    cps-feeder --rate 500 --duration 60 --alarms 20 --seed 1     # random checks, 500/s for 60 s
    cps-feeder --count 10000 --rate 0                            # 10 000 as fast as confirms allow
    cps-feeder --file events.json                                # one object, a JSON array or JSON lines
    some-tool | cps-feeder --file -

Random mode (domain reference §8.1): connector i (1..--connectors) named feeder<i>, instance
feeder<i>_inst0, --components components feeder<i>_<c>, and initially i × --resources resources
feeder<i>_<r>; each event picks a random connector, component and existing resource. A check
is critical (3) or ok (0) in turn when (connector × component × resource) is a multiple of
100 / --alarms, else ok; --new-per-second brand-new resources per second arrive in state 1.
Like random-feeder, events carry no timestamp (che stamps them).

Every publish is persistent, with publisher confirms kept --window at a time in flight, and
mandatory: an event no queue takes (nothing bound to the exchange) stops the run with exit 1.
The routing key is Canopsis' `connector.connector_name.event_type.source_type.component[.resource]`.
Exit codes: 0 done, 1 RabbitMQ did not answer or refused, 2 bad usage or input.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import aio_pika
import aio_pika.abc

from engines.tools.console import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    Unavailable,
    UsageError,
    broker_failure,
    connect_amqp,
    run,
    run_async,
    unroutable,
)
from framework import EVENTS_EXCHANGE, BrokerUnavailable, broker_errors

__all__ = ["Pacer", "RandomEvents", "is_new_slot", "load_events", "main", "routing_key"]

PROG: Final = "cps-feeder"
DEFAULT_RATE: Final = 500.0
DEFAULT_WINDOW: Final = 500

Event = dict[str, Any]


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, description="Publish random Canopsis check events, or a file's events, to canopsis.events."
    )
    parser.add_amqp_url()
    parser.add_argument(
        "--exchange",
        default=EVENTS_EXCHANGE,
        help=f'exchange to publish to (default {EVENTS_EXCHANGE}; "" is the default exchange, '
        "with --routing-key naming a queue)",
    )
    parser.add_argument("--routing-key", help="the same routing key for every event (default: Canopsis' per event)")
    parser.add_argument("--file", help='publish the events of this file ("-": stdin) instead of random ones')
    parser.add_argument(
        "--rate", type=float, help=f"events per second, 0 = unlimited (default {DEFAULT_RATE:g}; unlimited with --file)"
    )
    parser.add_argument("--duration", type=float, help="seconds to run (random mode; default 60 unless --count)")
    parser.add_argument("--count", type=int, help="events to send (random mode), or the first N of --file")
    parser.add_argument("--new-per-second", type=float, default=5.0, help="new resources per second (default 5)")
    parser.add_argument(
        "--alarms", type=float, default=20.0, help="percent knob of random-feeder's alarm rule (default 20)"
    )
    parser.add_argument("--connectors", type=int, default=10, help="default 10")
    parser.add_argument("--components", type=int, default=1000, help="per connector (default 1000)")
    parser.add_argument(
        "--resources", type=int, default=10, help="connector i starts with i × this many resources (default 10)"
    )
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable stream")
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help=f"publisher confirms in flight at most (default {DEFAULT_WINDOW})",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Publish, then print one summary line; return the exit code. Errors are one line on stderr."""
    return run(PROG, lambda: build_parser().parse_args(argv), _run, stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    events, total, duration = _plan(args)
    rate = args.rate if args.rate is not None else (0.0 if args.file else DEFAULT_RATE)
    if args.exchange == "" and not args.routing_key:
        raise UsageError('--exchange "": give --routing-key QUEUE (the default exchange routes by queue name)')
    progress = Summary()
    shown = args.exchange or "(default exchange)"
    try:
        run_async(
            _publish(
                args.amqp_url,
                args.exchange,
                args.routing_key,
                events,
                total,
                duration,
                Pacer(rate),
                args.window,
                progress,
            )
        )
    except KeyboardInterrupt:  # Ctrl-C: say how far it got
        print(progress.line(shown), file=out)
        return EXIT_INTERRUPTED
    print(progress.line(shown), file=out)
    return EXIT_OK


def _plan(args: Any) -> tuple[Iterator[Event], int | None, float | None]:
    """The events to send, how many at most, and for how long at most."""
    for name in ("rate", "duration", "new_per_second", "alarms"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')}: {value:g} is negative")
    for name in ("count", "connectors", "components", "resources", "window"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name}: {value} must be at least 1")
    if args.alarms > 100:
        raise UsageError(f"--alarms: {args.alarms:g} is a percentage (0..100)")
    if args.file is not None:
        events = load_events(args.file)
        if args.count is not None:
            events = events[: args.count]
        return iter(events), len(events), None
    rate = args.rate if args.rate is not None else DEFAULT_RATE
    duration = args.duration if args.duration is not None else (None if args.count else 60.0)
    if rate == 0 and args.count is None:
        raise UsageError("--rate 0 (unlimited) needs --count")
    generator = RandomEvents(args.connectors, args.components, args.resources, args.alarms, args.seed)
    new_rate = args.new_per_second
    if rate and new_rate > rate:
        raise UsageError(f"--new-per-second: {new_rate:g} is more than --rate {rate:g}")
    return generator.stream(new_rate / rate if rate else 0.0), args.count, duration


# --- pure pieces -----------------------------------------------------------------------------------


@dataclass
class RandomEvents:
    """random-feeder's stream: checks on random existing resources, plus brand-new resources."""

    connectors: int
    components: int
    resources: int
    alarms: float
    seed: int | None = None
    counts: list[int] = field(init=False)  # resources of each connector, growing with new ones
    _states: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.counts = [i * self.resources for i in range(1, self.connectors + 1)]
        # Canopsis: toggle when (conn × comp × res) mod (100 / alarms) == 0.
        self.modulo = max(1, round(100 / self.alarms)) if self.alarms > 0 else 0

    def check(self) -> Event:
        """A check on a random existing resource."""
        connector = self.random.randint(1, self.connectors)
        component = self.random.randint(1, self.components)
        resource = self.random.randint(1, self.counts[connector - 1])
        key = f"{connector}/{component}/{resource}"
        state = 0
        if self.modulo and (connector * component * resource) % self.modulo == 0:
            state = 3 if self._states.get(key, 0) == 0 else 0
            self._states[key] = state
        return _event(connector, component, resource, state)

    def new_resource(self) -> Event:
        """A check in state 1 (minor) on a resource never seen before."""
        connector = self.random.randint(1, self.connectors)
        self.counts[connector - 1] += 1
        component = self.random.randint(1, self.components)
        return _event(connector, component, self.counts[connector - 1], 1)

    def stream(self, new_share: float) -> Iterator[Event]:
        """Endless events, `new_share` of them (0..1) new resources, evenly spread."""
        n = 0
        while True:
            yield self.new_resource() if is_new_slot(n, new_share) else self.check()
            n += 1


def is_new_slot(n: int, share: float) -> bool:
    """Whether event number `n` is one of the `share` (0..1) new ones, spread evenly."""
    return share > 0 and int((n + 1) * share) > int(n * share)


def _event(connector: int, component: int, resource: int, state: int) -> Event:
    return {
        "connector": f"feeder{connector}",
        "connector_name": f"feeder{connector}_inst0",
        "event_type": "check",
        "source_type": "resource",
        "component": f"feeder{connector}_{component}",
        "resource": f"feeder{connector}_{resource}",
        "state": state,
        "output": f"random-feeder state {state}",
    }


def routing_key(event: Mapping[str, Any]) -> str:
    """Canopsis' compat routing key: connector.connector_name.event_type.source_type.component[.resource]."""
    parts = [event.get(k) for k in ("connector", "connector_name", "event_type", "source_type", "component")]
    key = ".".join(str(p) if p not in (None, "") else "" for p in parts)
    if event.get("source_type") == "resource" and event.get("resource"):
        key += f".{event['resource']}"
    return key


def load_events(source: str) -> list[Event]:
    """The events of a file ("-": stdin): one JSON object, a JSON array of them, or JSON lines."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_events(text, source)


def parse_events(text: str, source: str = "input") -> list[Event]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        events: list[Any] = []
        for number, line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"{source}: line {number}: invalid JSON at column {exc.colno}: {exc.msg} "
                    "(expected one event object, a JSON array or JSON lines)"
                ) from None
    else:
        events = value if isinstance(value, list) else [value]
    for index, event in enumerate(events, 1):
        if not isinstance(event, dict):
            raise UsageError(f"{source}: event {index} is a {type(event).__name__}, not a JSON object")
    if not events:
        raise UsageError(f"{source}: no events")
    return events


class Pacer:
    """Keeps a send loop at `rate` events/s (0: unlimited): `delay(sent, elapsed)` is how long to
    sleep now so that `sent` events took `sent / rate` seconds. Drift never accumulates, since the
    target is computed from the start, not from the last sleep."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def delay(self, sent: int, elapsed: float) -> float:
        if self.rate <= 0:
            return 0.0
        return max(0.0, sent / self.rate - elapsed)


@dataclass
class Summary:
    """How far a run got: published, confirmed by the broker, and for how long."""

    sent: int = 0
    confirmed: int = 0
    elapsed: float = 0.0

    def line(self, exchange: str) -> str:
        rate = self.sent / self.elapsed if self.elapsed > 0 else 0.0
        confirmed = "all confirmed" if self.confirmed == self.sent else f"{self.confirmed} confirmed"
        return f"sent {self.sent} events to {exchange} in {self.elapsed:.2f} s ({rate:.1f} events/s), {confirmed}"

    def count(self, confirm: asyncio.Future[Any]) -> None:
        """Done-callback of each publish: one more confirmed unless it failed or was cancelled."""
        if not confirm.cancelled() and confirm.exception() is None:
            self.confirmed += 1


# --- broker ----------------------------------------------------------------------------------------


async def _publish(
    url: str,
    exchange_name: str,
    fixed_key: str | None,
    events: Iterator[Event],
    total: int | None,
    duration: float | None,
    pacer: Pacer,
    window: int,
    progress: Summary,
) -> None:
    """Publish `events` (at most `total`, for at most `duration` s) at the pacer's rate; `progress`
    counts as it goes, so an interrupted run can still tell how far it got."""
    connection = await connect_amqp(url, PROG)
    start = time.monotonic()
    in_flight: set[asyncio.Future[Any]] = set()
    try:
        with broker_errors("RabbitMQ refused"):
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            if exchange_name:
                exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            else:
                exchange = channel.default_exchange
            step = max(1, min(25, window))  # pace every few events, as random-feeder does
            for event in events:
                if total is not None and progress.sent >= total:
                    break
                elapsed = time.monotonic() - start
                if duration is not None and elapsed >= duration:
                    break
                if progress.sent % step == 0 and (pause := pacer.delay(progress.sent, elapsed)) > 0:
                    await asyncio.sleep(pause)
                message = aio_pika.Message(
                    json.dumps(event).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                key = fixed_key if fixed_key is not None else routing_key(event)
                confirm = asyncio.ensure_future(exchange.publish(message, routing_key=key, mandatory=True))
                confirm.add_done_callback(progress.count)
                in_flight.add(confirm)
                progress.sent += 1
                if len(in_flight) >= window:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    _check(done, exchange_name)
            if in_flight:
                done, in_flight = await asyncio.wait(in_flight)
                _check(done, exchange_name)
    except BrokerUnavailable as exc:
        raise Unavailable(f"{exc.detail} after {progress.sent} events") from None
    finally:
        progress.elapsed = time.monotonic() - start
        for future in in_flight:
            future.cancel()
            future.add_done_callback(_retrieve)
        await asyncio.shield(connection.close())


def _check(done: set[asyncio.Future[Any]], exchange: str) -> None:
    """Raises Unavailable for the first publish of `done` the broker did not confirm."""
    failures = [exc for future in done if (exc := future.exception()) is not None]  # read every one
    for exc in failures[:1]:
        failure = broker_failure(exc, "a publish was not confirmed")
        if unroutable(failure):
            raise Unavailable(
                f"an event was returned unroutable: no queue is bound to {exchange or 'that queue'} "
                "for its routing key (is engine-che running?)"
            ) from None
        raise Unavailable(failure.detail) from None


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


if __name__ == "__main__":
    sys.exit(main())
