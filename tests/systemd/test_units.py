"""deploy/systemd under a real systemd: the target runs the chain, drop-ins re-route it, systemd
restarts a killed engine without losing events, and `systemctl stop` drains.

Each test gives the engines queues and an exchange of its own through per-instance drop-ins
(`Environment=CPS_CONSUME_QUEUE=… CPS_PUBLISH_QUEUES=…`, che also `CPS_EXCHANGE=…`) and a
database of its own through /etc/canopsis-engines/engines.env, so the shared broker's real
Engine_* queues and canopsis.events are never touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.systemd

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "examples"
AMQP_URL = os.environ.get("CPS_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"
MONGO_URL = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")
TARGET = "canopsis-engines.target"
CHAIN = ("che", "axe", "action")
TIMEOUT = 60.0
UNIT_DIR = "/etc/systemd/system"
Container = Any  # tests/systemd/conftest.py: Container


def unit(instance: str) -> str:
    return f"canopsis-engine@{instance}.service"


@dataclass
class Chain:
    """che -> axe -> action on the test's queues, driven through systemctl in the container."""

    box: Container
    exchange: str
    queues: dict[str, str]
    out: str
    dropins: list[str] = field(default_factory=list)

    def route(self, instance: str, consume: str, publish: str, exchange: str | None = None) -> None:
        env = f"CPS_CONSUME_QUEUE={consume} CPS_PUBLISH_QUEUES={publish}"
        if exchange:
            env += f" CPS_EXCHANGE={exchange}"
        directory = f"{UNIT_DIR}/{unit(instance)}.d"
        self.box.write(f"{directory}/50-test.conf", f"[Service]\nEnvironment={env}\n")
        self.dropins.append(f"{directory}/50-test.conf")

    def start(self, *extra: str) -> None:
        since = self.now()
        self.box.systemctl("daemon-reload")
        self.box.systemctl("start", TARGET, *(unit(i) for i in extra))
        for instance in (*CHAIN, *extra):
            self.wait_consuming(instance, since=since)

    def pid(self, instance: str) -> str:
        return self.box.show(unit(instance), "MainPID")["MainPID"]

    def wait_consuming(self, instance: str, since: str | None = None) -> None:
        """Active, and its log says it consumes (the runner logs that once connected)."""

        def ready() -> bool:
            if self.box.show(unit(instance), "ActiveState")["ActiveState"] != "active":
                return False
            return "consuming" in self.box.journal(unit(instance), since=since)

        self.box.wait_for(
            ready,
            TIMEOUT,
            f"{unit(instance)} consuming",
            lambda: self.box.systemctl("status", "--no-pager", "-n", "30", unit(instance), check=False).stdout,
        )

    def now(self) -> str:
        return self.box.run("date", "+%Y-%m-%d %H:%M:%S.%N").stdout.strip()[:-3]


@pytest.fixture
async def chain(container: Container, names: Any, mongo_db: Any, amqp: Any) -> AsyncIterator[Chain]:
    box = container
    exchange = f"{names.prefix}events"
    queues = {instance: names.queue(instance) for instance in CHAIN}
    made = Chain(box, exchange, queues, names.queue("out"))
    made.route("che", queues["che"], queues["axe"], exchange=exchange)
    made.route("axe", queues["axe"], queues["action"])
    made.route("axe-2", queues["axe"], queues["action"])
    made.route("action", queues["action"], made.out)
    box.write(
        "/etc/canopsis-engines/engines.env",
        f"CPS_AMQP_URL={AMQP_URL}\nCPS_MONGO_URL={MONGO_URL.rstrip('/')}/{mongo_db.name}\n",
    )
    yield made
    box.systemctl("stop", TARGET, check=False)
    box.remove(*made.dropins, f"{UNIT_DIR}/{unit('che')}.d/override.conf")
    box.systemctl("daemon-reload")
    box.systemctl("reset-failed", check=False)
    channel = await amqp.connection.channel()
    await channel.exchange_delete(exchange)
    await channel.close()


async def test_target_starts_the_chain_and_events_route_end_to_end(chain: Chain, amqp: Any, events: Any) -> None:
    chain.start()
    box = chain.box
    for instance in CHAIN:
        pid = chain.pid(instance)
        # its own user, the engine named by the instance, launched by the wrapper
        assert box.run("stat", "-c", "%U", f"/proc/{pid}").stdout.strip() == "canopsis"
        argv = box.cmdline(pid)
        assert argv[-4:] == ["-m", f"engines.{instance}", "--instance", instance], argv
    sent = events.many(30)
    await amqp.publish(sent, exchange=chain.exchange, routing_key="check")
    received = await amqp.collect(chain.out, 30, TIMEOUT, match=events.mine, linger=1.0)
    assert sorted(set(events.seqs(received))) == list(range(30))
    # what left action went through axe: a check in a bad state carries the alarm axe made of it
    alarming = [r.json() for r in received if r.json()["state"] > 0]
    assert alarming and all(e.get("current_alarm") and e.get("alarm_change") for e in alarming), alarming[0]


async def test_seed_drop_in_procedure_reroutes_che(chain: Chain, amqp: Any, events: Any, names: Any) -> None:
    chain.start()
    box = chain.box
    old_pid = chain.pid("che")
    rerouted = names.queue("rerouted")
    # The shipped example, with the test's queue for the real Engine_axe.
    text = (EXAMPLES / "che-publish-to-axe.conf").read_text()
    assert "\nExecStart=\nExecStart=/opt/canopsis-engines/bin/cps-engine %i --publish-queue Engine_axe\n" in text
    box.write(f"{UNIT_DIR}/{unit('che')}.d/override.conf", text.replace("Engine_axe", rerouted))
    since = chain.now()
    box.systemctl("daemon-reload")
    box.systemctl("restart", unit("che"))
    chain.wait_consuming("che", since=since)
    pid = chain.pid("che")
    assert pid != old_pid
    assert box.cmdline(pid)[-2:] == ["--publish-queue", rerouted]
    status = box.systemctl("status", "--no-pager", unit("che"), check=False).stdout
    assert "override.conf" in status, status
    await amqp.publish(events.many(10), exchange=chain.exchange, routing_key="check")
    received = await amqp.collect(rerouted, 10, TIMEOUT, match=events.mine)
    assert sorted(events.seqs(received)) == list(range(10))
    # and axe no longer gets che's output
    late = await amqp.collect(chain.out, 1, 2.0, match=events.mine)
    assert late == []


async def test_sigkilled_engine_is_restarted_and_nothing_is_lost(chain: Chain, amqp: Any, events: Any) -> None:
    chain.start()
    box = chain.box
    before = box.show(unit("axe"), "NRestarts", "MainPID")
    collector = await amqp.consume(chain.out, match=events.mine)
    await amqp.publish(events.many(100), exchange=chain.exchange, routing_key="check")
    since = chain.now()
    box.systemctl("kill", "-s", "KILL", unit("axe"))
    await amqp.publish(events.many(100, start=100), exchange=chain.exchange, routing_key="check")
    box.wait_for(
        lambda: box.show(unit("axe"), "NRestarts")["NRestarts"] == str(int(before["NRestarts"]) + 1),
        TIMEOUT,
        "axe restarted by systemd",
    )
    chain.wait_consuming("axe", since=since)
    after = box.show(unit("axe"), "MainPID", "ActiveState")
    assert after["MainPID"] != before["MainPID"] and after["ActiveState"] == "active"
    assert "signal=KILL" in box.journal(unit("axe"), since=since) or "status=9/KILL" in box.journal(
        unit("axe"), since=since
    )
    # at-least-once: every event comes out, duplicates allowed
    done = await collector.wait_until(lambda m: set(events.seqs(m)) >= set(range(200)), TIMEOUT)
    seen = set(events.seqs(collector.messages))
    assert done, f"missing after the kill: {sorted(set(range(200)) - seen)[:20]}"


async def test_stop_drains_every_instance_including_a_second_axe(chain: Chain, amqp: Any, events: Any) -> None:
    chain.start("axe-2")
    box = chain.box
    # a second instance of axe: its own unit, log identifier and instance name
    journal = box.journal(unit("axe-2"))
    assert "canopsis-engine@axe-2[" in journal and " axe-2 framework.runtime.runner: connected" in journal, journal
    assert box.cmdline(chain.pid("axe-2"))[-4:] == ["-m", "engines.axe", "--instance", "axe-2"]
    await amqp.publish(events.many(50), exchange=chain.exchange, routing_key="check")
    received = await amqp.collect(chain.out, 50, TIMEOUT, match=events.mine)
    assert len(set(events.seqs(received))) == 50
    started = time.monotonic()
    since = chain.now()
    box.systemctl("stop", TARGET)  # returns once every instance has stopped (After=the target)
    took = time.monotonic() - started
    for instance in (*CHAIN, "axe-2"):
        shown = box.show(unit(instance), "ActiveState", "Result", "ExecMainStatus")
        assert shown == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, (instance, shown)
        journal = box.journal(unit(instance), since=since)
        # exit status 0 (systemd logs "Main process exited" for anything else), after the drain
        assert "draining:" in journal and "stopped:" in journal and "Deactivated successfully" in journal, journal
        assert "Main process exited" not in journal and "SIGKILL" not in journal, journal
    assert took < 30, took


def test_install_is_idempotent(container: Container) -> None:
    done = container.run(
        "/usr/src/canopsis-engines/deploy/systemd/install",
        "/usr/src/canopsis-engines",
        timeout=600,
        env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/var/cache/cps-wheels"},
    )
    assert "created" not in done.stdout and "written" not in done.stdout, done.stdout
    assert "installed in /opt/canopsis-engines/venv" in done.stdout
    assert container.run("stat", "-c", "%a %U", "/etc/canopsis-engines/engines.env").stdout.split() == ["600", "root"]


async def test_ready_and_status_line_reach_systemd(chain: Chain) -> None:
    chain.start()
    box = chain.box
    # Type=notify: `systemctl restart` returns once the engine sent READY=1, i.e. consumes
    since = chain.now()
    box.systemctl("restart", unit("che"))
    assert box.show(unit("che"), "ActiveState")["ActiveState"] == "active"
    assert "consuming" in box.journal(unit("che"), since=since)
    box.wait_for(lambda: bool(box.show(unit("che"), "StatusText")["StatusText"]), TIMEOUT, "a STATUS= line")
    status = box.systemctl("status", "--no-pager", unit("che"), check=False).stdout
    text = box.show(unit("che"), "StatusText")["StatusText"]
    assert f'Status: "{text}"' in status, status


async def test_hung_engine_is_killed_by_the_watchdog_and_restarted(chain: Chain, amqp: Any, events: Any) -> None:
    box = chain.box
    # The shipped WatchdogSec=10 and TimeoutAbortSec=10, shortened for the test.
    dropin = f"{UNIT_DIR}/{unit('axe')}.d/60-watchdog.conf"
    box.write(dropin, "[Service]\nWatchdogSec=2\nTimeoutAbortSec=2\n")
    chain.dropins.append(dropin)
    chain.start()
    before = box.show(unit("axe"), "NRestarts", "MainPID")
    collector = await amqp.consume(chain.out, match=events.mine)
    since = chain.now()
    # A stopped process feeds no watchdog, as a blocked event loop does not.
    box.systemctl("kill", "-s", "STOP", "--kill-whom=main", unit("axe"))
    await amqp.publish(events.many(20), exchange=chain.exchange, routing_key="check")
    box.wait_for(
        lambda: box.show(unit("axe"), "NRestarts")["NRestarts"] == str(int(before["NRestarts"]) + 1),
        TIMEOUT,
        "axe restarted after its watchdog timeout",
        lambda: box.journal(unit("axe"), since=since),
    )
    chain.wait_consuming("axe", since=since)
    assert box.show(unit("axe"), "MainPID")["MainPID"] != before["MainPID"]
    assert "Watchdog timeout (limit 2s)!" in box.journal(unit("axe"), since=since)
    done = await collector.wait_until(lambda m: set(events.seqs(m)) >= set(range(20)), TIMEOUT)
    assert done, f"missing after the watchdog restart: {sorted(set(range(20)) - set(events.seqs(collector.messages)))}"
