"""che and axe as real processes on RabbitMQ and the MongoDB-compatible server: the alarm life cycle.

Each test gets its own exchange (so axe's beat events reach only its che), its own database and
short delays (beat 1 s, resolve rule and cancel delay 2 s); documents are read back from MongoDB.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
Doc = dict[str, Any]


def steps(alarm: Doc) -> list[tuple[str, int]]:
    return [(s["_t"], s["val"]) for s in alarm["v"]["steps"]]


async def test_check_creates_alarm_then_state_rises_and_falls(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("disk", state=1, output="80% used")
    created = await chain.open_alarm("disk/web01", lambda a: True, "alarm created")
    assert steps(created) == [("stateinc", 1), ("statusinc", 1)]
    assert created["v"]["connector"] == "nagios" and created["v"]["output"] == "80% used"
    await chain.send("disk", state=3, output="99% used")
    await chain.open_alarm("disk/web01", lambda a: a["v"]["state"]["val"] == 3, "state increase")
    await chain.send("disk", state=2, output="91% used")
    alarm = await chain.open_alarm("disk/web01", lambda a: a["v"]["state"]["val"] == 2, "state decrease")
    assert steps(alarm)[-2:] == [("stateinc", 3), ("statedec", 2)]
    assert alarm["v"]["events_count"] == 3 and alarm["_id"] == created["_id"]
    entity = await chain.db.default_entities.find_one({"_id": "disk/web01"})
    assert entity is not None and entity["component"] == "web01" and entity["connector"] == "nagios/paris"
    assert {d["_id"] for d in await chain.db.default_entities.find({}).to_list(None)} == {
        "disk/web01",
        "web01",
        "nagios/paris",
    }


async def test_ok_check_keeps_alarm_open_then_resolve_rule_resolves_and_next_failure_opens_new(
    chain_factory: Any,
) -> None:
    chain = await chain_factory()
    await chain.send("http", state=2, output="503")
    first = await chain.open_alarm("http/web01", lambda a: True, "alarm created")
    await chain.send("http", state=0, output="200 OK")
    alarms = await chain.until("http/web01", lambda a: a and a[0]["v"]["state"]["val"] == 0, "OK check applied")
    assert alarms[0]["v"]["status"]["val"] == 0 and not alarms[0]["v"].get("resolved"), "OK: open, status off"
    resolved = await chain.until("http/web01", lambda a: bool(a[0]["v"].get("resolved")), "resolved by the rule")
    assert resolved[0]["v"]["steps"][-1]["_t"] == "resolve"
    assert await chain.db.resolved_alarms.find_one({"_id": first["_id"]}) is not None
    await chain.send("http", state=3, output="down again")
    second = await chain.open_alarm("http/web01", lambda a: True, "a new alarm")
    assert second["_id"] != first["_id"] and second["v"]["state"]["val"] == 3


async def test_ack_then_ackremove(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("cpu", state=2)
    await chain.open_alarm("cpu/web01", lambda a: True, "alarm created")
    await chain.send("cpu", "ack", output="looking")
    acked = await chain.open_alarm("cpu/web01", lambda a: "ack" in a["v"], "acked")
    assert acked["v"]["ack"]["a"] == "alice" and acked["v"]["ack"]["m"] == "looking"
    await chain.send("cpu", "ackremove")
    alarm = await chain.open_alarm("cpu/web01", lambda a: "ack" not in a["v"] and len(a["v"]["steps"]) == 4, "unacked")
    assert [t for t, _ in steps(alarm)][-2:] == ["ack", "ackremove"]


async def test_snooze_ends_through_the_beat(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("ram", state=1)
    await chain.open_alarm("ram/web01", lambda a: True, "alarm created")
    await chain.send("ram", "snooze", duration=2, output="after lunch")
    snoozed = await chain.open_alarm("ram/web01", lambda a: "snooze" in a["v"], "snoozed")
    assert snoozed["v"]["snooze"]["val"] >= snoozed["v"]["snooze"]["t"] + 2
    alarm = await chain.open_alarm(
        "ram/web01",
        lambda a: "snooze" not in a["v"] and a["v"]["steps"][-1]["_t"] == "unsnooze",
        "unsnoozed by axe's beat",
    )
    assert alarm["v"]["steps"][-1]["a"] == "system"


async def test_cancel_then_resolve_cancel(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("swap", state=2)
    await chain.open_alarm("swap/web01", lambda a: True, "alarm created")
    await chain.send("swap", "cancel", output="false positive")
    cancelled = await chain.open_alarm("swap/web01", lambda a: a["v"]["status"]["val"] == 4, "cancelled")
    assert cancelled["v"]["canceled"]["val"] == 4
    resolved = await chain.until("swap/web01", lambda a: bool(a[0]["v"].get("resolved")), "resolve_cancel after 2 s")
    assert resolved[0]["v"]["steps"][-1]["_t"] == "resolve"


async def test_changestate_locks_state_until_an_ok_check(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("load", state=1)
    await chain.open_alarm("load/web01", lambda a: True, "alarm created")
    await chain.send("load", "changestate", state=3, output="business critical")
    await chain.open_alarm("load/web01", lambda a: "change_state" in a["v"], "state locked")
    await chain.send("load", state=2, output="ignored while locked")
    await chain.open_alarm("load/web01", lambda a: a["v"]["events_count"] == 2, "second check merged")
    locked = (await chain.alarms("load/web01"))[0]
    assert locked["v"]["state"]["val"] == 3, "the lock holds against a non-OK check"
    await chain.send("load", state=0, output="recovered")
    alarm = await chain.open_alarm("load/web01", lambda a: a["v"]["state"]["val"] == 0, "OK check breaks the lock")
    assert "change_state" not in alarm["v"]


async def test_flapping_rule_sets_status_flapping(chain_factory: Any) -> None:
    rule = {
        "_id": "flap",
        "name": "flappy",
        "priority": 1,
        "freq_limit": 2,
        "duration": {"value": 1, "unit": "h"},
        "entity_pattern": [[{"field": "component", "cond": {"type": "eq", "value": "web01"}}]],
    }
    chain = await chain_factory({"flapping_rule": [rule]})
    for state in (2, 0, 2, 0, 2):
        await chain.send("net", state=state)
    alarm = await chain.open_alarm("net/web01", lambda a: a["v"]["events_count"] == 5, "five checks")
    assert alarm["v"]["status"]["val"] == 3, steps(alarm)
    assert "Rule: flappy" in alarm["v"]["status"]["m"]


async def test_disabled_entity_gets_no_alarm(chain_factory: Any) -> None:
    disabled = {
        "_id": "temp/web01",
        "name": "temp",
        "type": "resource",
        "enabled": False,
        "created": 1,
        "component": "web01",
        "connector": "nagios/paris",
    }
    chain = await chain_factory({"default_entities": [disabled]})
    await chain.send("temp", state=3)
    await chain.send("fan", state=3)
    await chain.open_alarm("fan/web01", lambda a: True, "the enabled neighbour gets its alarm")
    assert await chain.alarms("temp/web01") == []


async def test_event_filter_drops_and_enriches(chain_factory: Any) -> None:
    drop = {
        "_id": "no-tests",
        "type": "drop",
        "priority": 1,
        "enabled": True,
        "event_pattern": [[{"field": "resource", "cond": {"type": "begin_with", "value": "test-"}}]],
    }
    enrich = {
        "_id": "site",
        "type": "enrichment",
        "priority": 2,
        "enabled": True,
        "event_pattern": [[{"field": "component", "cond": {"type": "eq", "value": "web01"}}]],
        "config": {
            "actions": [
                {"type": "set_entity_info", "name": "site", "value": "paris"},
                {"type": "set_field", "name": "Output", "value": "enriched"},
            ],
            "on_success": "pass",
            "on_failure": "pass",
        },
    }
    chain = await chain_factory({"eventfilter": [drop, enrich]})
    await chain.send("test-probe", state=3)
    await chain.send("mem", state=2, output="raw")
    alarm = await chain.open_alarm("mem/web01", lambda a: True, "alarm for the kept event")
    assert alarm["v"]["output"] == "enriched"
    entity = await chain.db.default_entities.find_one({"_id": "mem/web01"})
    assert entity is not None and entity["infos"]["site"]["value"] == "paris"
    assert await chain.alarms("test-probe/web01") == [], "dropped by the rule"


async def test_unknown_keys_survive_to_the_event_axe_forwards(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("db", state=2, ticket_system="itsm-7", nested={"owner": "ops"})
    (forwarded,) = await chain.amqp.collect(chain.out_queue, until_count=1, timeout=TIMEOUT)
    event = forwarded.json()
    assert event["ticket_system"] == "itsm-7" and event["nested"] == {"owner": "ops"}
    assert event["current_alarm"]["d"] == "db/web01" and event["alarm_change"]["Type"] == "create"
    assert event["current_entity"]["_id"] == "db/web01"
