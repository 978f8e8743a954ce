"""systemd notifications: the datagrams on a socket the test binds, and their order in an engine's life."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework import Engine, MemoryBroker, Message, Outcome, Runner, build_settings
from framework.observability.notify import Notifier
from framework.observability.stats import Rate
from framework.transport.base import Outgoing


class Listener:
    """A bound AF_UNIX datagram socket standing in for systemd."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def attach(self) -> None:
        """Read as datagrams arrive (the kernel queues only ~10 unread ones)."""
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self.read)

    def read(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def keys(self) -> list[str]:
        """Every line's KEY=, in the order received."""
        return [line.split("=", 1)[0] for m in self.read() for line in m.split("\n")]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(str(tmp_path / "notify.sock"))
    yield lst
    with contextlib.suppress(RuntimeError):  # a sync test: no loop
        asyncio.get_running_loop().remove_reader(lst.sock.fileno())
    lst.sock.close()


def test_send_delivers_lines_as_one_datagram(listener: Listener) -> None:
    notifier = Notifier(listener.address)
    assert notifier.send("READY=1", "STATUS=consuming Engine_t")
    assert listener.read() == ["READY=1\nSTATUS=consuming Engine_t"]
    assert notifier.sent == 1


def test_abstract_namespace_address_starting_with_at_is_used() -> None:
    address = f"@cps-test-{uuid.uuid4().hex}"
    lst = Listener(address)
    try:
        assert Notifier.from_environ({"NOTIFY_SOCKET": address}).send("READY=1")
        assert lst.read() == ["READY=1"]
    finally:
        lst.sock.close()


def test_without_notify_socket_nothing_is_sent_and_no_watchdog() -> None:
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "2000000"})
    assert not notifier.enabled and notifier.watchdog_timeout == 0
    assert notifier.send("READY=1") is False


def test_watchdog_timeout_comes_from_watchdog_usec_for_our_pid_only(listener: Listener) -> None:
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "3000000"}
    assert Notifier.from_environ(env).watchdog_timeout == 3.0
    assert Notifier.from_environ({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_timeout == 3.0
    assert Notifier.from_environ({**env, "WATCHDOG_PID": "1"}).watchdog_timeout == 0


def test_unreachable_socket_returns_false_and_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "absent.sock"))
    assert notifier.send("READY=1") is False
    assert notifier.send("READY=1") is False
    assert len([r for r in caplog.records if "notification" in r.message]) == 1


def test_rate_is_events_per_second_over_the_last_interval() -> None:
    rate = Rate(at=10.0, count=100)
    assert rate.update(12.0, 300) == 100.0
    assert rate.update(12.0, 300) == 0.0
    assert rate.update(13.0, 350) == 50.0


# ---- an engine's life on the in-memory broker --------------------------------------------------


class Forward(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Outcome:
        return event


class Hang(Engine[Message]):
    name = "t"

    async def handle(self, event: Message) -> Outcome:
        await asyncio.Event().wait()  # a call that never returns
        return event


def settings(**flags: Any) -> Any:
    flags.setdefault("beat_interval", 3600)
    return build_settings(name="t", flags=flags, environ={}, defaults={"bindings": ("#",)})


def runner_for(engine: Engine[Any], broker: MemoryBroker, notifier: Notifier) -> Runner:
    ready = notifier.send
    runner = Runner(engine, engine.settings, broker, notifier=notifier, on_ready=lambda: ready("READY=1"))
    runner.status_interval = 0.05
    return runner


async def test_engine_sends_ready_then_status_then_stopping(listener: Listener) -> None:
    broker = MemoryBroker()
    runner = runner_for(Forward(settings(publish_queues="out")), broker, Notifier(listener.address))
    listener.attach()
    task = asyncio.create_task(runner.run())
    while "READY=1" not in listener.messages:  # the queue is bound once the consumer is ready
        await asyncio.sleep(0.01)
    for i in range(20):
        broker.publish(Outgoing(body=json.dumps({"seq": i}).encode(), routing_key="", exchange="canopsis.events"))
    await asyncio.sleep(0.3)
    runner.request_stop()
    await asyncio.wait_for(task, 5)
    keys = listener.keys()
    assert keys[0] == "READY"
    assert keys.index("READY") < keys.index("STATUS") < keys.index("STOPPING")
    assert "WATCHDOG" not in keys  # no WATCHDOG_USEC, no pings
    statuses = [m for m in listener.messages if m.startswith("STATUS=consuming")]
    assert any("processed 20" in m and "ev/s" in m and "queue 0" in m for m in statuses), statuses


async def test_watchdog_pings_while_healthy(listener: Listener) -> None:
    broker = MemoryBroker()
    runner = runner_for(Forward(settings(publish_queues="out")), broker, Notifier(listener.address, 200_000))
    listener.attach()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.5)
    runner.request_stop()
    await asyncio.wait_for(task, 5)
    assert listener.keys().count("WATCHDOG") >= 3


async def test_watchdog_pings_stop_when_a_handler_hangs(listener: Listener) -> None:
    broker = MemoryBroker()
    engine = Hang(settings(publish_queues="out", stall_timeout=0.3, drain_timeout=0.1))
    runner = runner_for(engine, broker, Notifier(listener.address, 100_000))
    listener.attach()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.3)
    before = listener.keys().count("WATCHDOG")
    assert before >= 2 and runner.health() is None
    broker.publish(Outgoing(body=b'{"seq": 1}', routing_key="", exchange="canopsis.events"))
    await asyncio.sleep(0.5)
    listener.messages.clear()
    await asyncio.sleep(0.3)
    assert "WATCHDOG" not in listener.keys()  # noqa: SIM118 - a Listener, not a dict
    assert "none handled or acked" in (runner.health() or "")
    runner.request_stop()
    await asyncio.wait_for(task, 5)
