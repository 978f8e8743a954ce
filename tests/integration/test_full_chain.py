"""The whole chain as real processes: che fans out to axe and perfdata, axe to action, pbehavior beside.

One check event with perf data must: create its alarm; set off a scenario on `create` that acks
the alarm and calls a webhook served here on 127.0.0.1; land in InfluxDB with its tags and
values. Then a maintenance window entering and leaving changes the alarm as reference §5.4 says.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TIMEOUT = 45.0


class Hook:
    """A ticketing system on 127.0.0.1: records each request, answers with an incident number."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, Any]]] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        self.requests.append((head.split(b"\r\n")[0], json.loads(await reader.readexactly(length))))
        body = json.dumps({"number": f"INC{len(self.requests):04d}"}).encode()
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    found = Hook()
    server = await asyncio.start_server(found.serve, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


async def until(read: Any, check: Any, what: str, describe: Any) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = await read()
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {TIMEOUT:.0f} s; last: {found}\n{describe()}")
        await asyncio.sleep(0.2)


async def test_full_chain_alarm_scenario_webhook_metrics_and_maintenance(
    names: Any, engines: Any, amqp: Any, mongo_db: Any, influx: Any, hook: Hook
) -> None:
    on_disk = [[{"field": "v.resource", "cond": {"type": "eq", "value": "disk"}}]]
    await mongo_db.resolve_rule.insert_one(
        {"_id": "default-rule", "name": "Default rule", "priority": 0, "duration": {"value": 1, "unit": "h"}}
    )
    await mongo_db.action_scenario.insert_one(
        {
            "_id": "ack-and-call",
            "name": "ack-and-call",
            "enabled": True,
            "priority": 1,
            "triggers": ["create"],
            "actions": [
                {
                    "type": "ack",
                    "parameters": {"output": "auto-ack"},
                    "alarm_pattern": on_disk,
                    "drop_scenario_if_not_matched": False,
                    "emit_trigger": False,
                },
                {
                    "type": "webhook",
                    "alarm_pattern": on_disk,
                    "drop_scenario_if_not_matched": False,
                    "emit_trigger": False,
                    "parameters": {
                        "request": {
                            "method": "POST",
                            "url": f"http://127.0.0.1:{hook.port}/incident",
                            "headers": {"Content-Type": "application/json"},
                            "payload": '{"what": "{{ .Alarm.Value.Resource }}/{{ .Alarm.Value.Component }}",'
                            ' "state": {{ .Alarm.Value.State.Value }}}',
                        },
                        "declare_ticket": {"ticket_id": "number"},
                        "ticket_system_name": "itsm",
                    },
                },
            ],
        }
    )
    exchange = f"{names.prefix}events"
    mongo = f"{os.environ.get('CPS_MONGO_URL', 'mongodb://127.0.0.1:27017').rstrip('/')}/{mongo_db.name}"
    env = {"CPS_MONGO_URL": mongo, "CPS_INFLUX_URL": influx.url}
    q = {role: names.queue(role) for role in ("che", "axe", "perfdata", "action", "pbehavior")}
    common = ("--exchange", exchange, "--beat-interval", "1")
    procs = {
        "che": await engines.start(
            "che",
            "--consume-queue",
            q["che"],
            "--publish-queue",
            q["axe"],
            "--publish-queue",
            q["perfdata"],
            *common,
            consume_queue=q["che"],
            env=env,
        ),
        "axe": await engines.start(
            "axe", "--consume-queue", q["axe"], "--publish-queue", q["action"], *common, consume_queue=q["axe"], env=env
        ),
        "perfdata": await engines.start(
            "perfdata", "--consume-queue", q["perfdata"], *common, consume_queue=q["perfdata"], env=env
        ),
        "action": await engines.start(
            "action", "--consume-queue", q["action"], *common, consume_queue=q["action"], env=env
        ),
        "pbehavior": await engines.start(
            "pbehavior", "--consume-queue", q["pbehavior"], *common, consume_queue=q["pbehavior"], env=env
        ),
    }

    def describe() -> str:
        return "\n".join(p.describe() for p in procs.values())

    def alarm() -> Any:
        return mongo_db.periodical_alarm.find_one({"d": "disk/web01"})

    event = {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": "check",
        "source_type": "resource",
        "component": "web01",
        "resource": "disk",
        "state": 2,
        "output": "DISK CRITICAL",
        "perf_data": "'used space'=91%;80;90;0;100 inodes=12000;;;0;50000",
    }
    await amqp.publish([event], exchange=exchange)

    # The scenario on create: ack, then the webhook whose answer declares the ticket.
    ticketed = await until(alarm, lambda a: a is not None and a["v"].get("ticket"), "acked and ticketed", describe)
    assert ticketed["v"]["ack"]["m"] == "Scenario: ack-and-call. Comment: auto-ack."
    assert ticketed["v"]["ticket"]["ticket"] == "INC0001" and ticketed["v"]["ticket"]["ticket_system_name"] == "itsm"
    ((request_line, body),) = hook.requests
    assert request_line == b"POST /incident HTTP/1.1" and body == {"what": "disk/web01", "state": 2}

    # Perf data, through che's fan-out to perfdata, read back from InfluxDB.
    (used,) = await influx.until("used space", 1, describe())
    assert {k: used[k] for k in ("connector", "connector_name", "component", "resource")} == {
        "connector": "nagios",
        "connector_name": "paris",
        "component": "web01",
        "resource": "disk",
    }
    assert (used["value"], used["warn"], used["crit"], used["min"], used["max"], used["unit"]) == (
        91.0,
        80.0,
        90.0,
        0.0,
        100.0,
        "%",
    )
    (inodes,) = await influx.until("inodes", 1, describe())
    assert inodes["value"] == 12000.0 and inodes["max"] == 50000.0

    # A maintenance window on web01: the alarm enters it, then leaves when it is deleted.
    now = int(time.time())
    await mongo_db.pbehavior.insert_one(
        {
            "_id": "maint-1",
            "name": "Disk swap",
            "author": "alice",
            "enabled": True,
            "type_": "default_maintenance",
            "reason": "default_reason",
            "tstart": now - 60,
            "tstop": now + 3600,
            "created": now,
            "entity_pattern": [[{"field": "component", "cond": {"type": "eq", "value": "web01"}}]],
        }
    )
    entered = await until(
        alarm, lambda a: (a["v"].get("pbehavior_info") or {}).get("id") == "maint-1", "alarm in maintenance", describe
    )
    assert entered["v"]["pbehavior_info"]["canonical_type"] == "maintenance"
    assert entered["v"]["steps"][-1]["_t"] == "pbhenter" and entered["v"]["inactive_start"] >= now - 60
    await mongo_db.pbehavior.delete_one({"_id": "maint-1"})
    left = await until(alarm, lambda a: not a["v"].get("pbehavior_info"), "alarm out of maintenance", describe)
    assert left["v"]["steps"][-1]["_t"] == "pbhleave" and "inactive_start" not in left["v"]
    assert left["v"]["pbh_inactive_duration"] >= 0 and not left["v"].get("resolved")

    assert len(hook.requests) == 1, "the scenario ran once: pbh changes are not `create`"
    assert all(p.returncode is None for p in procs.values()), describe()
    channel = await amqp.connection.channel()
    await channel.exchange_delete(exchange)
    await channel.close()
