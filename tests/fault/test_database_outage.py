"""The database stops under che and axe: events wait, retried with back-off, and none is lost.

Stops the development database (FerretDB, through deploy/local's pid file) and starts it again
with deploy/local/start; against an external MongoDB (CPS_MONGO_URL) this test cannot stop it
and fails, saying so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
PIDFILE = Path(os.environ.get("CPS_STATE_DIR", "/var/tmp/canopsis-engines")) / "run" / "ferretdb.pid"


async def stop_database() -> None:
    if not PIDFILE.exists():
        pytest.fail(f"no {PIDFILE}: this test stops the FerretDB that deploy/local/start runs")
    pid = int(PIDFILE.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "FerretDB did not stop"
        await asyncio.sleep(0.1)


async def start_database() -> None:
    done = await asyncio.to_thread(subprocess.run, [str(ROOT / "deploy/local/start")], capture_output=True,
                                   text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_events_sent_while_the_database_is_down_all_become_alarms(chain_factory: Any) -> None:
    chain = await chain_factory()
    for i in range(20):
        await chain.send(f"r{i}", state=2)
    await chain.until_count(20)
    await stop_database()
    try:
        for i in range(20, 40):
            await chain.send(f"r{i}", state=3)
        await asyncio.sleep(5)  # both engines meet the outage and back off
        assert chain.che.returncode is None and chain.axe.returncode is None, chain.che.describe()
    finally:
        await start_database()
    alarms = await chain.until_count(40)
    assert {a["d"] for a in alarms} == {f"r{i}/web01" for i in range(40)}
    assert "MongoDB unavailable" in chain.che.log() and "retrying in" in chain.che.log(), chain.che.describe()
