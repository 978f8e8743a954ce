"""che → axe → action as real processes on RabbitMQ and the MongoDB-compatible server.

Scenario actions travel as events to the head of the chain (the test's exchange), so their effect
is read back from the alarm that axe stores. Beats every second; each test has its own exchange,
queues and database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
MONGO_URL_ENV = "CPS_MONGO_URL"
Doc = dict[str, Any]


def scenario(sid: str, resource: str, actions: list[Doc], **fields: Any) -> Doc:
    pattern = [[{"field": "v.resource", "cond": {"type": "eq", "value": resource}}]]
    return {
        "_id": sid,
        "name": sid,
        "enabled": True,
        "priority": 1,
        "triggers": ["create"],
        "actions": [
            {"alarm_pattern": pattern, "drop_scenario_if_not_matched": False, "emit_trigger": False, **action}
            for action in actions
        ],
        **fields,
    }


@dataclass
class ActionChain:
    db: AsyncDatabase[Doc]
    exchange: str
    amqp: Any
    engines: Any
    env: dict[str, str]
    procs: dict[str, Any] = field(default_factory=dict)

    async def send(self, resource: str, **fields: Any) -> None:
        event = {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": "check",
            "source_type": "resource",
            "component": "web01",
            "resource": resource,
            **fields,
        }
        await self.amqp.publish([event], exchange=self.exchange)

    async def alarm(self, resource: str, check: Callable[[Doc], bool], what: str) -> Doc:
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = await self.db.periodical_alarm.find_one({"d": f"{resource}/web01"})
            if found is not None and check(found):
                return found
            if time.monotonic() > deadline:
                logs = "\n".join(p.describe() for p in self.procs.values())
                raise AssertionError(f"{what}: not reached in {TIMEOUT:.0f} s; alarm: {found}\n{logs}")
            await asyncio.sleep(0.2)


@pytest.fixture
async def action_chain(names: Any, engines: Any, amqp: Any, mongo_db: AsyncDatabase[Doc]) -> AsyncIterator[Any]:
    exchange = f"{names.prefix}events"
    url = await _mongo_url(mongo_db)

    async def start(scenarios: list[Doc]) -> ActionChain:
        if scenarios:
            await mongo_db.action_scenario.insert_many(scenarios)
        che_q, axe_q, act_q = names.queue("che"), names.queue("axe"), names.queue("action")
        env = {MONGO_URL_ENV: url}
        common = ("--exchange", exchange, "--beat-interval", "1")
        chain = ActionChain(mongo_db, exchange, amqp, engines, env)
        chain.procs["che"] = await engines.start(
            "che", "--consume-queue", che_q, "--publish-queue", axe_q, *common, consume_queue=che_q, env=env
        )
        chain.procs["axe"] = await engines.start(
            "axe", "--consume-queue", axe_q, "--publish-queue", act_q, *common, consume_queue=axe_q, env=env
        )
        chain.procs["action"] = await engines.start(
            "action", "--consume-queue", act_q, *common, "--webhook-retry-delay", "0.2", consume_queue=act_q, env=env
        )
        return chain

    yield start
    channel = await amqp.connection.channel()
    await channel.exchange_delete(exchange)
    await channel.close()


async def _mongo_url(db: AsyncDatabase[Doc]) -> str:
    import os

    base = os.environ.get(MONGO_URL_ENV, "mongodb://127.0.0.1:27017")
    return f"{base.rstrip('/')}/{db.name}"


def step_types(alarm: Doc) -> list[str]:
    return [s["_t"] for s in alarm["v"]["steps"]]


async def test_a_scenario_acks_and_tickets_a_new_alarm_once(action_chain: Any) -> None:
    chain = await action_chain(
        [
            scenario(
                "ack-disk",
                "disk",
                [
                    {"type": "ack", "parameters": {"output": "seen {{ .Alarm.Value.Resource }}"}},
                    {"type": "assocticket", "parameters": {"ticket": "INC-7"}},
                ],
            ),
            # Triggered by ack: the scenario's own ack must not set it off (no emit_trigger).
            {**scenario("on-ack", "disk", [{"type": "cancel", "parameters": {}}]), "triggers": ["ack"]},
        ]
    )
    await chain.send("disk", state=2, output="95%")
    alarm = await chain.alarm("disk", lambda a: a["v"].get("ticket") is not None, "acked and ticketed")
    assert alarm["v"]["ack"]["a"] == "system" and alarm["v"]["ack"]["m"] == "Scenario: ack-disk. Comment: seen disk."
    assert alarm["v"]["ticket"]["ticket"] == "INC-7" and alarm["v"]["ticket"]["ticket_rule_id"] == "ack-disk"
    await asyncio.sleep(2.5)  # a few beats: nothing more happens
    alarm = await chain.alarm("disk", lambda a: True, "read again")
    assert step_types(alarm) == ["stateinc", "statusinc", "ack", "assocticket"]
    assert await chain.db.action_execution.count_documents({}) == 0


async def test_a_delayed_scenario_survives_a_killed_action_engine(action_chain: Any) -> None:
    chain = await action_chain(
        [
            scenario(
                "later", "cpu", [{"type": "changestate", "parameters": {"state": 3}}], delay={"value": 4, "unit": "s"}
            ),
        ]
    )
    await chain.send("cpu", state=1)
    await chain.alarm("cpu", lambda a: True, "alarm created")
    deadline = time.monotonic() + TIMEOUT
    while not await chain.db.action_execution.count_documents({}) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    chain.procs["action"].kill()  # SIGKILL, before the delay ends
    await asyncio.sleep(5)
    chain.procs["action"] = await chain.engines.restart(chain.procs["action"], env=chain.env)
    alarm = await chain.alarm("cpu", lambda a: a["v"]["state"]["val"] == 3, "state changed by the delayed scenario")
    assert alarm["v"]["change_state"]["a"] == "system"


async def test_a_webhook_declares_the_ticket_of_the_alarm(action_chain: Any) -> None:
    received: list[bytes] = []

    async def itsm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        received.append(await reader.readexactly(length))
        body = json.dumps({"result": {"number": "INC0099"}}).encode()
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(itsm, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        chain = await action_chain(
            [
                scenario(
                    "hook",
                    "mem",
                    [
                        {
                            "type": "webhook",
                            "parameters": {
                                "request": {
                                    "method": "POST",
                                    "url": f"http://127.0.0.1:{port}/incidents",
                                    "headers": {"Content-Type": "application/json"},
                                    "payload": '{"short_description":'
                                    ' "{{ .Alarm.Value.Resource }} on {{ .Alarm.Value.Component }}"}',
                                },
                                "declare_ticket": {"ticket_id": "result.number"},
                                "ticket_system_name": "itsm",
                            },
                        }
                    ],
                )
            ]
        )
        await chain.send("mem", state=3)
        alarm = await chain.alarm("mem", lambda a: a["v"].get("ticket") is not None, "ticket declared")
    assert alarm["v"]["ticket"]["ticket"] == "INC0099" and alarm["v"]["ticket"]["ticket_system_name"] == "itsm"
    assert json.loads(received[0]) == {"short_description": "mem on web01"}
