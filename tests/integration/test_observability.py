"""A real engine process seen from outside: systemd notifications, /metrics and /health, run-info, cps-healthcheck."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from framework.observability.runinfo import RUN_INFO_COLLECTION

pytestmark = pytest.mark.integration

FLOW_TIMEOUT = 60.0
ROOT = Path(__file__).resolve().parents[2]
MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_and_notifications_of_a_real_engine(names, engines, amqp, events, tmp_path: Path) -> None:
    source, out = names.queue("in"), names.queue("out")
    port = free_port()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    received: list[str] = []

    def read() -> None:
        while True:
            try:
                received.append(notify.recv(4096).decode())
            except BlockingIOError:
                return

    asyncio.get_running_loop().add_reader(notify.fileno(), read)
    try:
        engine = await engines.start(
            "passthrough", "--consume-queue", source, "--publish-queue", out, "--metrics-port", str(port),
            "--instance", "pt-1", consume_queue=source, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
        )
        await amqp.publish([*events.many(200), b"not json", b"[]"], queue=source)
        got = await amqp.collect(out, 200, FLOW_TIMEOUT)
        assert len(got) == 200, engine.describe()

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 10
            while True:  # the last acks may trail the publishes by a moment
                text = (await http.get("/metrics")).text
                if sample(text, "cps_in_flight") == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert sample(text, "cps_events_received_total") == 202, text
            assert sample(text, "cps_events_processed_total") == 202
            assert sample(text, "cps_events_forwarded_total") == 200
            assert sample(text, "cps_events_dead_lettered_total") == 2
            assert sample(text, "cps_events_dropped_total") == 0
            assert sample(text, "cps_in_flight") == 0
            assert sample(text, "cps_batch_handle_seconds_count") >= 1
            assert 'engine="passthrough",instance="pt-1"' in text
            assert (await http.get("/health/live")).status_code == 200
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text

        engine.kill(signal.SIGTERM)
        assert await engine.wait(15) == 0, engine.describe()
        await asyncio.sleep(0.1)
        read()
        lines = [line.split("=", 1)[0] for m in received for line in m.split("\n")]
        assert lines[0] == "READY" and "STOPPING" in lines, received
    finally:
        asyncio.get_running_loop().remove_reader(notify.fileno())
        notify.close()


async def test_metrics_port_in_use_exits_with_config_error(names, engines) -> None:
    source = names.queue("in")
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        engine = await engines.start(
            "passthrough", "--consume-queue", source, "--metrics-port", str(busy.getsockname()[1]),
            consume_queue=source, wait=False,
        )
        assert await engine.wait(30) == 2, engine.describe()
        assert "--metrics-port" in engine.log()


# ---- run-info and cps-healthcheck ---------------------------------------------------------------


async def healthcheck(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "cps-healthcheck"), *args, cwd=ROOT,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
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
