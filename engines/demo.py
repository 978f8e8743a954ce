"""`cps-demo`: run a chain in this process on the in-memory broker and show what each engine did."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

from engines.dynamic.engine import DynamicEngine
from framework import ConfigError, Runner, build_settings
from framework.chainfile import load_chain
from framework.embedded import EmbeddedChain
from framework.memory import StoredMessage
from framework.names import DEAD_REASON_HEADER, dead_letter_queue

OUT_QUEUE = "demo.out"


def sample_events() -> list[bytes]:
    """A small, realistic stream: checks from two connectors, an operator ack, and bad input."""
    checks = [
        ("nagios", "nagios-paris", "web01 ", "http", 2, "HTTP 503 Service Unavailable"),
        ("nagios", "nagios-paris", "web01", "disk", 1, "DISK WARNING - /var 91% used"),
        ("zabbix", "zabbix-lyon", "db01", "replication", 3, "replication lag 320 s"),
        ("zabbix", "zabbix-lyon", "db01", "cpu", 0, "CPU load 0.4"),
        ("nagios", "nagios-paris", "web01", "http", 0, "HTTP 200 OK"),
        ("zabbix", "zabbix-lyon", "db01", "replication", 0, "heartbeat"),
    ]
    events: list[bytes] = []
    for connector, name, component, resource, state, output in checks:
        events.append(json.dumps({
            "connector": connector, "connector_name": name, "event_type": "check",
            "source_type": "resource", "component": component, "resource": resource,
            "state": state, "output": output, "site": "paris" if "paris" in name else "lyon",
        }).encode())
    events.append(json.dumps({
        "connector": "api", "connector_name": "ui", "event_type": "ack", "source_type": "resource",
        "component": "db01", "resource": "replication", "author": "alice", "output": "on it",
    }).encode())
    events.append(b"<event>not json</event>")
    events.append(json.dumps({"connector": "nagios", "connector_name": "nagios-paris",
                              "event_type": "check", "source_type": "resource", "component": "web02"}).encode())
    return events


def build_chain(chain_file: Path) -> list[DynamicEngine]:
    names = list(load_chain(chain_file))
    engines = []
    for name in names:
        flags: dict[str, Any] = {"chain_file": chain_file, "name": name}
        if name == names[-1]:
            flags["publish_queues"] = (OUT_QUEUE,)  # the end of the chain, so the demo can show it
        engines.append(DynamicEngine(build_settings(name=name, flags=flags, environ={})))
    return engines


def report(engines: list[DynamicEngine], runners: list[Runner], chain: EmbeddedChain, fed: int) -> str:
    broker = chain.broker
    assert broker is not None
    lines = [
        "Embedded chain (in-process broker, no services): "
        + " -> ".join(["canopsis.events", *(e.settings.consume_queue for e in engines), OUT_QUEUE]),
        f"fed {fed} events", "",
        f"{'engine':<10} {'queue':<17} {'received':>8} {'forwarded':>9} {'dropped':>7} {'dead':>4}",
    ]
    for engine, runner in zip(engines, runners):
        s = runner.stats
        lines.append(f"{engine.settings.name:<10} {engine.settings.consume_queue:<17} "
                     f"{s.received:>8} {s.forwarded:>9} {s.dropped:>7} {s.dead:>4}")
    for engine in engines:
        dead = broker.drain_queue(dead_letter_queue(engine.settings.consume_queue))
        if dead:
            lines += ["", f"dead letters in {dead_letter_queue(engine.settings.consume_queue)}:"]
            lines += [f"  {_short(m.body)!s:<40} {(m.headers or {}).get(DEAD_REASON_HEADER)}" for m in dead]
    out = broker.drain_queue(OUT_QUEUE)
    lines += ["", f"events out of the chain ({OUT_QUEUE}):",
              f"  {'entity':<20} {'type':<6} {'state':>5}  {'tags':<26} output"]
    lines += [_event_row(m) for m in out]
    return "\n".join(lines)


def _short(body: bytes) -> str:
    text = body.decode(errors="replace")
    return text if len(text) <= 38 else text[:35] + "..."


def _event_row(message: StoredMessage) -> str:
    e = json.loads(message.body)
    entity = f"{e.get('resource')}/{e.get('component')}"
    tags = ",".join(f"{k}={v}" for k, v in (e.get("tags") or {}).items())
    return f"  {entity:<20} {e['event_type']:<6} {e.get('state', '-')!s:>5}  {tags:<26} {e.get('output', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cps-demo", description=__doc__)
    parser.add_argument("--chain-file", type=Path, default=Path(str(files("engines.dynamic") / "example.conf")),
                        help="amqp2engines.conf to run (default: the packaged example chain)")
    parser.add_argument("--events", type=Path, help="JSON lines to feed instead of the sample stream")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        engines = build_chain(args.chain_file)
        events = args.events.read_bytes().splitlines() if args.events else sample_events()
    except (ConfigError, OSError) as exc:
        print(f"cps-demo: {exc}", file=sys.stderr)
        return 2
    chain = EmbeddedChain(engines)
    runners = asyncio.run(chain.run(events))
    print(report(engines, runners, chain, len(events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
