"""`cps-demo`: run a chain in this process on the in-memory broker and show what it did.

By default che and axe with in-memory stores, printing the alarms they made; with --chain-file,
the sections of an amqp2engines.conf run by the dynamic engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, TextIO

from engines.axe.engine import AxeEngine
from engines.che.engine import CheEngine
from engines.dynamic.engine import DynamicEngine
from engines.store.alarms import MemoryAlarmStore
from engines.store.documents import MemoryDocuments
from engines.store.entities import MemoryEntityStore
from engines.tools.console import EXIT_OK, Parser, UsageError, run
from framework import (
    DEAD_REASON_HEADER,
    ConfigError,
    EmbeddedChain,
    Engine,
    MemoryBroker,
    Runner,
    StoredMessage,
    build_settings,
    dead_letter_queue,
    load_chain,
)

PROG: Final = "cps-demo"
OUT_QUEUE = "demo.out"


def sample_events() -> list[bytes]:
    """A small, realistic stream: checks from two connectors, an operator ack, and bad input."""
    checks = [
        ("nagios", "nagios-paris", "web01", "http", 2, "HTTP 503 Service Unavailable"),
        ("nagios", "nagios-paris", "web01", "disk", 1, "DISK WARNING - /var 91% used"),
        ("zabbix", "zabbix-lyon", "db01", "replication", 3, "replication lag 320 s"),
        ("zabbix", "zabbix-lyon", "db01", "cpu", 0, "CPU load 0.4"),
        ("nagios", "nagios-paris", "web01", "http", 0, "HTTP 200 OK"),
        ("zabbix", "zabbix-lyon", "db01", "replication", 0, "heartbeat"),
    ]
    events: list[bytes] = []
    for connector, name, component, resource, state, output in checks:
        events.append(
            json.dumps(
                {
                    "connector": connector,
                    "connector_name": name,
                    "event_type": "check",
                    "source_type": "resource",
                    "component": component,
                    "resource": resource,
                    "state": state,
                    "output": output,
                    "site": "paris" if "paris" in name else "lyon",
                }
            ).encode()
        )
    events += [json.dumps(e).encode() for e in OPERATOR_EVENTS]
    events.append(b"<event>not json</event>")
    events.append(
        json.dumps(
            {
                "connector": "nagios",
                "connector_name": "nagios-paris",
                "event_type": "check",
                "source_type": "resource",
                "component": "web02",
            }
        ).encode()
    )
    return events


OPERATOR_EVENTS = [
    {
        "connector": "api",
        "connector_name": "ui",
        "event_type": "ack",
        "source_type": "resource",
        "component": "db01",
        "resource": "replication",
        "author": "alice",
        "output": "on it",
        "initiator": "user",
    },
]

#: A che event-filter rule, as an operator would store it in `eventfilter`: tag every event with its site.
SITE_RULE = {
    "_id": "site-from-extra",
    "type": "enrichment",
    "priority": 1,
    "enabled": True,
    "event_pattern": [[{"field": "extra.site", "cond": {"type": "exist", "value": True}}]],
    "config": {
        "actions": [{"type": "copy_to_entity_info", "name": "site", "value": "Event.ExtraInfos.site"}],
        "on_success": "pass",
        "on_failure": "pass",
    },
}
#: Connectors' heartbeats are not monitoring data: drop them.
HEARTBEAT_RULE = {
    "_id": "drop-heartbeats",
    "type": "drop",
    "priority": 2,
    "enabled": True,
    "event_pattern": [[{"field": "output", "cond": {"type": "eq", "value": "heartbeat"}}]],
}


def build_alarm_chain(alarms: MemoryAlarmStore, entities: MemoryEntityStore) -> list[Engine[Any]]:
    che = CheEngine(
        build_settings(
            name="che", flags={}, environ={}, defaults={"publish_queues": ("Engine_axe",), "bindings": ("#",)}
        ),
        entities=entities,
        filters=MemoryDocuments([SITE_RULE, HEARTBEAT_RULE]),
    )
    axe = AxeEngine(
        build_settings(name="axe", flags={"publish_queues": (OUT_QUEUE,)}, environ={}), alarms=alarms, entities=entities
    )
    return [che, axe]


def build_dynamic_chain(chain_file: Path) -> list[Engine[Any]]:
    names = list(load_chain(chain_file))
    engines: list[Engine[Any]] = []
    for name in names:
        flags: dict[str, Any] = {"chain_file": chain_file, "name": name}
        if name == names[-1]:
            flags["publish_queues"] = (OUT_QUEUE,)  # the end of the chain, so the demo can show it
        engines.append(DynamicEngine(build_settings(name=name, flags=flags, environ={})))
    return engines


def engine_table(engines: list[Engine[Any]], runners: list[Runner], broker: MemoryBroker) -> list[str]:
    chain = " -> ".join(["canopsis.events", *(e.settings.consume_queue for e in engines), OUT_QUEUE])
    lines = [
        f"Embedded chain (in-process broker, no services): {chain}",
        "",
        f"{'engine':<10} {'queue':<17} {'received':>8} {'forwarded':>9} {'dropped':>7} {'dead':>4}",
    ]
    for engine, runner in zip(engines, runners):
        s = runner.stats
        lines.append(
            f"{engine.settings.name:<10} {engine.settings.consume_queue:<17} "
            f"{s.received:>8} {s.forwarded:>9} {s.dropped:>7} {s.dead:>4}"
        )
    for engine in engines:
        queue = dead_letter_queue(engine.settings.consume_queue)
        dead = broker.drain_queue(queue)
        if dead:
            lines += ["", f"dead letters in {queue}:"]
            lines += [f"  {_short(m.body)!s:<40} {(m.headers or {}).get(DEAD_REASON_HEADER)}" for m in dead]
    return lines


def alarm_table(alarms: MemoryAlarmStore, entities: MemoryEntityStore) -> list[str]:
    lines = [
        "",
        f"alarms (periodical_alarm: {len(alarms.alarms)}, entities in default_entities: {len(entities.documents)}):",
        f"  {'entity':<20} {'state':<12} {'status':<8} {'ack':<6} {'steps':>5}  {'site':<6} output",
    ]
    for doc in sorted(alarms.alarms.values(), key=lambda d: d["d"]):
        v = doc["v"]
        state = v["state"]["val"]
        site = (doc.get("e") or {}).get("infos", {}).get("site", {}).get("value", "")
        ack = (v.get("ack") or {}).get("a", "-")
        lines.append(
            f"  {doc['d']:<20} {STATE_NAMES[state] + f' ({state})':<12} "
            f"{STATUS_NAMES.get(v['status']['val'], v['status']['val']):<8} {ack:<6} "
            f"{len(v['steps']):>5}  {site:<6} {v.get('output', '')}"
        )
    return lines


STATE_NAMES = {0: "ok", 1: "minor", 2: "major", 3: "critical"}
STATUS_NAMES = {0: "off", 1: "ongoing", 2: "stealthy", 3: "flapping", 4: "cancelled", 5: "noevents"}


def events_table(broker: MemoryBroker) -> list[str]:
    out = broker.drain_queue(OUT_QUEUE)
    lines = [
        "",
        f"events out of the chain ({OUT_QUEUE}):",
        f"  {'entity':<20} {'type':<6} {'state':>5}  {'tags':<26} output",
    ]
    return lines + [_event_row(m) for m in out]


def _short(body: bytes) -> str:
    text = body.decode(errors="replace")
    return text if len(text) <= 38 else text[:35] + "..."


def _event_row(message: StoredMessage) -> str:
    e = json.loads(message.body)
    entity = f"{e.get('resource')}/{e.get('component')}"
    tags = ",".join(f"{k}={v}" for k, v in (e.get("tags") or {}).items())
    return f"  {entity:<20} {e['event_type']:<6} {e.get('state', '-')!s:>5}  {tags:<26} {e.get('output', '')}"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__)
    parser.add_argument(
        "--chain-file",
        type=Path,
        help="run this amqp2engines.conf with the dynamic engine instead of che and axe "
        f"(example: {files('engines.dynamic') / 'example.conf'})",
    )
    parser.add_argument("--events", type=Path, help="JSON lines to feed instead of the sample stream")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the chain over the events, print what it did; return the exit code (2: bad chain or events file)."""
    return run(PROG, lambda: build_parser().parse_args(argv), _run, stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    alarms, entities = MemoryAlarmStore(), MemoryEntityStore()
    try:
        engines = build_dynamic_chain(args.chain_file) if args.chain_file else build_alarm_chain(alarms, entities)
        events = args.events.read_bytes().splitlines() if args.events else sample_events()
    except (ConfigError, OSError) as exc:
        raise UsageError(str(exc)) from None
    chain = EmbeddedChain(engines)
    runners = asyncio.run(chain.run(events))
    assert chain.broker is not None
    lines = [f"fed {len(events)} events", *engine_table(engines, runners, chain.broker)]
    lines += events_table(chain.broker) if args.chain_file else alarm_table(alarms, entities)
    print("\n".join(lines), file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
