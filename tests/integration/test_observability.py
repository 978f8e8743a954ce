"""A real engine process seen from outside: systemd notifications, /metrics and /health.

Run-info documents, as cps-healthcheck reads them, are in test_tools_healthcheck.py."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

FLOW_TIMEOUT = 60.0


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
            "passthrough",
            "--consume-queue",
            source,
            "--publish-queue",
            out,
            "--metrics-port",
            str(port),
            "--instance",
            "pt-1",
            consume_queue=source,
            env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
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
            "passthrough",
            "--consume-queue",
            source,
            "--metrics-port",
            str(busy.getsockname()[1]),
            consume_queue=source,
            wait=False,
        )
        assert await engine.wait(30) == 2, engine.describe()
        assert "--metrics-port" in engine.log()
