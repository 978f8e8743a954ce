"""engine-pbehavior, che and axe as real processes: a maintenance created with cps-pbehavior
reaches the alarms, new alarms start inside it, and deleting it ends it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from engines.tools.pbehavior import main as cps_pbehavior

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
Doc = dict[str, Any]


async def until(read: Any, check: Any, what: str, describe: Any) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = await read()
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {TIMEOUT:.0f} s; last: {found}\n{describe()}")
        await asyncio.sleep(0.2)


def cli(url: str, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = os.environ.get("CPS_MONGO_URL")
    os.environ["CPS_MONGO_URL"] = url
    try:
        code = cps_pbehavior(list(args), stdout=out, stderr=err)
    finally:
        if previous is None:
            del os.environ["CPS_MONGO_URL"]
        else:
            os.environ["CPS_MONGO_URL"] = previous
    return code, out.getvalue() + err.getvalue()


async def test_maintenance_enters_leaves_and_new_alarms_start_inside_it(
    chain_factory: Any, engines: Any, names: Any, tmp_path: Path
) -> None:
    chain = await chain_factory()
    base = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")
    url = f"{base.rstrip('/')}/{chain.db.name}"
    queue = names.queue("pbehavior")
    pbehavior = await engines.start(
        "pbehavior",
        "--consume-queue",
        queue,
        "--exchange",
        chain.exchange,
        "--beat-interval",
        "1",
        consume_queue=queue,
        env={"CPS_MONGO_URL": url},
    )

    def describe() -> str:
        return f"{pbehavior.describe()}\n{chain.che.describe()}\n{chain.axe.describe()}"

    await chain.send("disk", state=2, output="95% used")
    await chain.open_alarm("disk/web01", lambda a: True, "alarm created")
    await chain.send("mem", state=0)  # an entity without alarm
    await until(lambda: chain.db.default_entities.find_one({"_id": "mem/web01"}), bool, "mem entity", describe)

    now = int(time.time())
    on_web01 = [[{"field": "component", "cond": {"type": "eq", "value": "web01"}}]]
    window = {
        "_id": "maint-1",
        "name": "Kernel upgrade",
        "type": "Default maintenance",
        "tstart": now - 60,
        "tstop": now + 3600,
        "entity_pattern": on_web01,
    }
    (tmp_path / "maint.json").write_text(json.dumps(window))
    assert cli(url, "create", str(tmp_path / "maint.json")) == (0, "created maint-1 'Kernel upgrade'\n")

    entered = await chain.open_alarm(
        "disk/web01",
        lambda a: (a["v"].get("pbehavior_info") or {}).get("id") == "maint-1",
        "alarm entered the maintenance",
    )
    info = entered["v"]["pbehavior_info"]
    assert (info["type"], info["canonical_type"], info["reason_name"]) == (
        "default_maintenance",
        "maintenance",
        "Default",
    )
    assert entered["v"]["steps"][-1]["_t"] == "pbhenter" and entered["v"]["inactive_start"] >= now - 60
    assert "not_acked_since" not in entered
    mem = await until(
        lambda: chain.db.default_entities.find_one({"_id": "mem/web01"}),
        lambda e: (e.get("pbehavior_info") or {}).get("id") == "maint-1",
        "mem entity in maintenance",
        describe,
    )
    assert mem["pbehavior_info"]["type_name"] == "Default maintenance"

    await chain.send("mem", state=3, output="swapping")
    created = await chain.open_alarm("mem/web01", lambda a: True, "alarm created inside the maintenance")
    assert [s["_t"] for s in created["v"]["steps"]] == ["stateinc", "statusinc", "pbhenter"]
    assert created["v"]["pbehavior_info"]["id"] == "maint-1" and created["v"]["inactive_start"] > 0

    assert cli(url, "delete", "maint-1") == (0, "deleted maint-1\n")

    left = await chain.open_alarm("disk/web01", lambda a: not a["v"].get("pbehavior_info"), "alarm left it")
    assert left["v"]["steps"][-1]["_t"] == "pbhleave"
    assert "inactive_start" not in left["v"] and left["v"]["pbh_inactive_duration"] >= 0
    assert left["not_acked_since"] >= now
    await until(
        lambda: chain.db.default_entities.find_one({"_id": "disk/web01"}),
        lambda e: "pbehavior_info" not in e,
        "entity left the maintenance",
        describe,
    )
    assert pbehavior.returncode is None, describe()
