"""The database stops under che and axe: events wait, retried with back-off, and none is lost.

Stops the development database, FerretDB (through deploy/local's pid file) or the PostgreSQL
under it (pg_ctl), and starts it again with deploy/local/start; against an external MongoDB
(CPS_MONGO_URL) these tests cannot stop it and fail, saying so.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("CPS_STATE_DIR", "/var/tmp/canopsis-engines"))
PIDFILE = STATE_DIR / "run" / "ferretdb.pid"
PG_DATA = STATE_DIR / "postgresql"
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


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
    done = await asyncio.to_thread(
        subprocess.run, [str(ROOT / "deploy/local/start")], capture_output=True, text=True, timeout=300
    )
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


# --- PostgreSQL stopped under a live stream ----------------------------------------------------

ENTITIES = 50
RATE = 25.0  # events/s, spread over the entities in turn
OUTAGE = 30.0
STATES = (1, 2, 3)  # cycled, so that every event changes the state and leaves one step
SEQ = re.compile(r"seq=(\d+)$")


async def stop_postgres() -> None:
    if not (PG_DATA / "postmaster.pid").exists():
        pytest.fail(f"no {PG_DATA}/postmaster.pid: this test stops the PostgreSQL that deploy/local/start runs")
    done = await asyncio.to_thread(
        subprocess.run,
        ["runuser", "-u", "postgres", "--", PG_CTL, "-D", str(PG_DATA), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def state_seqs(alarm: dict[str, Any]) -> list[int]:
    """The sequence numbers of the alarm's state steps, in step order."""
    steps = alarm["v"].get("steps", [])
    return [int(m.group(1)) for s in steps if s["_t"] in ("stateinc", "statedec") and (m := SEQ.search(s["m"]))]


async def test_postgresql_stopped_30_s_mid_stream_loses_nothing_and_applies_nothing_twice(chain_factory: Any) -> None:
    chain = await chain_factory()
    ferretdb = int(PIDFILE.read_text())
    sent = [0] * ENTITIES

    async def stream(seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end, n = loop.time() + seconds, sum(sent)
        while loop.time() < end:
            i = n % ENTITIES
            sent[i] += 1
            await chain.send(f"r{i:02d}", state=STATES[sent[i] % 3], output=f"seq={sent[i]}")
            n += 1
            await asyncio.sleep(1 / RATE)

    await stream(10)
    await stop_postgres()
    stopped = time.monotonic()
    try:
        await stream(OUTAGE)
        assert chain.che.returncode is None and chain.axe.returncode is None, chain.che.describe()
    finally:
        await start_database()
    outage = time.monotonic() - stopped
    await stream(10)

    expected = {f"r{i:02d}/web01": list(range(1, sent[i] + 1)) for i in range(ENTITIES)}
    deadline = time.monotonic() + 120
    while True:
        alarms = {a["d"]: a for a in await chain.db.periodical_alarm.find({}).to_list(None)}
        if {d: state_seqs(a) for d, a in alarms.items()} == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    wrong = {
        d: state_seqs(alarms[d]) if d in alarms else None
        for d, seqs in expected.items()
        if d not in alarms or state_seqs(alarms[d]) != seqs
    }
    assert not wrong, (
        f"{len(wrong)} of {ENTITIES} alarms with steps lost, repeated or out of order, e.g. "
        f"{next(iter(wrong.items()))}\n{chain.che.describe()}\n{chain.axe.describe()}"
    )
    assert all(a["v"]["events_count"] == sent[int(d[1:3])] for d, a in alarms.items()), "events_count off"
    assert outage >= OUTAGE and int(PIDFILE.read_text()) == ferretdb, "only PostgreSQL was stopped"
    assert chain.che.returncode is None and chain.axe.returncode is None, "the engines resumed by themselves"
    log = chain.axe.log(tail=1 << 24)
    assert "MongoDB unavailable" in log and "retrying in" in log, chain.axe.describe()
