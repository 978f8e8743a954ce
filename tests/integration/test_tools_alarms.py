"""cps-alarms against che + axe as processes: list and show read MongoDB, actions go through axe."""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any

import pytest

from engines.tools.alarms import main

pytestmark = pytest.mark.integration

MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")  # as tests/conftest.py


async def run_alarms(chain: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    url = f"{MONGO_URL.rstrip('/')}/{chain.db.name}"
    args = ["--mongo-url", url, "--exchange", chain.exchange, *argv]
    return await asyncio.to_thread(main, args, stdout=out, stderr=err), out.getvalue(), err.getvalue()


async def test_ack_by_entity_is_applied_by_axe(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("cpu", state=2, output="load 12")
    alarm = await chain.open_alarm("cpu/web01", lambda a: True, "alarm created")

    code, out, err = await run_alarms(chain, "list")
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header.split()[:3] == ["id", "entity", "state"]
    assert row.split()[:4] == [alarm["_id"], "cpu/web01", "major", "(2)"]

    code, out, err = await run_alarms(chain, "ack", "cpu/web01", "--author", "bob", "--output", "on it")
    assert (code, err) == (0, ""), err
    assert out.strip() == f"sent ack for alarm {alarm['_id']} (cpu/web01) to {chain.exchange}"
    acked = await chain.open_alarm("cpu/web01", lambda a: "ack" in a["v"], "acked")
    assert acked["_id"] == alarm["_id"]
    assert (acked["v"]["ack"]["a"], acked["v"]["ack"]["m"]) == ("bob", "on it")

    code, out, _ = await run_alarms(chain, "show", alarm["_id"])
    assert code == 0 and "ack        by bob" in out and "stateinc" in out


async def test_changestate_by_alarm_id_and_unknown_target(chain_factory: Any) -> None:
    chain = await chain_factory()
    await chain.send("disk", state=3)
    alarm = await chain.open_alarm("disk/web01", lambda a: True, "alarm created")
    code, _, err = await run_alarms(chain, "changestate", alarm["_id"], "--state", "1")
    assert code == 0, err
    changed = await chain.open_alarm("disk/web01", lambda a: a["v"]["state"]["val"] == 1, "state changed")
    assert changed["v"]["change_state"]["val"] == 1
    code, out, err = await run_alarms(chain, "ack", "nothing/here")
    assert code == 2 and out == "" and "no open alarm" in err
    code, out, _ = await run_alarms(chain, "list", "--state", "3")
    assert code == 0 and out.count("\n") == 1  # the header only
