"""The passthrough workload's bodies: realistic ~300-byte Canopsis check events, with `sent_at` for latency."""

from __future__ import annotations

import json
import random
import time
from typing import Any, Final

CONNECTORS: Final = (("nagios", "nagios-paris-01"), ("centreon", "centreon-lyon-02"), ("zabbix", "zabbix-core"))
CHECKS: Final = (
    ("disk_usage_/var", "DISK {level} - free space: /var {mb} MB ({pct:.1f}% inode=91%)"),
    ("cpu_load", "LOAD {level} - load average: {load:.2f}, {load:.2f}, {load:.2f} on 8 cpus"),
    ("http_latency", "HTTP {level} - HTTP/1.1 200 OK - {mb} bytes in {load:.3f} second response time"),
    ("memory_used", "MEM {level} - {pct:.1f}% used ({mb} MB of 16384 MB), swap 2% used"),
)
LEVELS: Final = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


def check_event(rng: random.Random, sent_at: float) -> dict[str, Any]:
    """One check event as a connector sends it to canopsis.events."""
    connector, connector_name = rng.choice(CONNECTORS)
    resource, template = rng.choice(CHECKS)
    state = rng.choice((0, 0, 0, 1, 2, 3))
    output = template.format(
        level=LEVELS[state], mb=rng.randint(100, 99999), pct=rng.uniform(0, 100), load=rng.uniform(0, 9)
    )
    return {
        "connector": connector,
        "connector_name": connector_name,
        "event_type": "check",
        "source_type": "resource",
        "component": f"srv-{rng.choice(('web', 'db', 'cache', 'api'))}-{rng.randint(0, 9999):04d}.paris.example.net",
        "resource": resource,
        "state": state,
        "output": output,
        "timestamp": int(sent_at),
        "sent_at": sent_at,
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def check_bodies(n: int, seed: int = 42) -> list[bytes]:
    """`n` encoded events, the same for every contender of a run (same seed)."""
    rng = random.Random(seed)
    now = time.time()
    return [encode(check_event(rng, now)) for _ in range(n)]


def paced_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """`n` events for the paced latency scenario, stamped only when sent (see `stamp`)."""
    rng = random.Random(seed)
    return [check_event(rng, 0.0) for _ in range(n)]


def stamp(event: dict[str, Any], now: float) -> bytes:
    """`event` encoded with `sent_at` = `now`, and its `timestamp`, if it has one, set to `now` too."""
    stamped = {**event, "sent_at": now}
    if "timestamp" in event:
        stamped["timestamp"] = int(now)
    return encode(stamped)


def sent_at(body: bytes) -> float:
    return float(json.loads(body)["sent_at"])
