"""cps-healthcheck as an operator runs it, against the run-info documents of engines started as processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from framework import RUN_INFO_COLLECTION

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")


async def healthcheck(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "cps-healthcheck"),
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def run_info(db, engine: str) -> dict:
    """The engine's document once written since it connected (the one written at start, before the
    broker answered, has no queue length yet)."""
    deadline = time.monotonic() + 30
    while not (doc := await db[RUN_INFO_COLLECTION].find_one({"engine": engine})) or doc["queue_length"] is None:
        assert time.monotonic() < deadline, f"no run-info document for {engine} since it connected: {doc}"
        await asyncio.sleep(0.2)
    return doc


async def test_run_info_documents_and_healthcheck_on_a_real_chain(chain_factory, mongo_db, amqp) -> None:
    chain = await chain_factory()
    env = {"CPS_MONGO_URL": f"{MONGO_URL.rstrip('/')}/{mongo_db.name}"}
    for i in range(20):
        await chain.send(f"disk{i}", state=2)
    await chain.until("disk19/web01", lambda alarms: bool(alarms), "alarm of disk19")

    che, axe = await run_info(mongo_db, "che"), await run_info(mongo_db, "axe")
    assert che["pid"] == chain.che.pid and che["instance"] == "che" and che["_id"].startswith("che@")
    assert che["publish_queues"] == [axe["consume_queue"]]
    assert che["consume_queue"] == chain.che.consume_queue and isinstance(che["queue_length"], int)
    assert che["version"] and che["host"] and isinstance(che["events_per_s"], float)
    first = che["updated"]
    deadline = time.monotonic() + 10
    while (await run_info(mongo_db, "che"))["updated"] == first:  # refreshed each beat (1 s)
        assert time.monotonic() < deadline, "run-info not refreshed"
        await asyncio.sleep(0.2)

    code, out = await healthcheck("--order", "che,axe", env=env)
    assert code == 0, out
    assert [line.split(":")[0] for line in out.splitlines()] == ["che", "axe"] and "OK 1 instance" in out

    code, out = await healthcheck("--order", "axe,che", env=env)  # axe does not feed che
    assert code == 1 and "axe: MISROUTED axe@" in out, out

    code, out = await healthcheck(env=env)  # default che,axe,action: no action here
    assert code == 1 and "action: MISSING" in out, out

    chain.axe.kill(signal.SIGTERM)
    assert await chain.axe.wait(15) == 0
    await asyncio.sleep(2.5)
    code, out = await healthcheck("--order", "che,axe", "--max-age", "2", env=env)
    assert code == 1 and "axe: STALLED axe@" in out and out.startswith("che: OK"), out


async def test_healthcheck_usage_errors_exit_2_and_no_database_exits_1() -> None:
    code, out = await healthcheck("--order", "che,,axe", env={})
    assert code == 2 and "--order" in out
    code, out = await healthcheck("--bogus", env={})
    assert code == 2
    code, out = await healthcheck("--mongo-url", "http://x", env={})
    assert code == 2 and "not a MongoDB URL" in out
    code, out = await healthcheck("--mongo-url", "mongodb://127.0.0.1:1/canopsis", env={})
    assert code == 1 and "no answer" in out
