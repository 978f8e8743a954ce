"""engines.perfdata as a real process on RabbitMQ and InfluxDB 1.x: points, tags, self-metrics, SIGTERM, no server.

Also the writer's line protocol read back by the real server, for names its parser treats specially.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from framework.services.influx import InfluxWriter, Point

pytestmark = pytest.mark.integration

#: For points to reach the server through RabbitMQ and an engine on two slow shared cores.
TIMEOUT = 60.0


def check(component: str, resource: str | None = "disk", **fields: Any) -> dict[str, Any]:
    event = {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": "check",
        "source_type": "resource" if resource else "component",
        "component": component,
        "state": 0,
        **fields,
    }
    if resource:
        event["resource"] = resource
    return event


async def test_perf_data_of_check_events_become_points_with_their_tags(influx, names, engines, amqp) -> None:
    queue = names.queue("perfdata")
    engine = await engines.start(
        "perfdata",
        "--consume-queue",
        queue,
        "--beat-interval",
        "1",
        "--batch-size",
        "50",
        "--batch-wait",
        "0.2",
        consume_queue=queue,
        env={"CPS_INFLUX_URL": influx.url},
    )
    now = int(time.time())
    await amqp.publish(
        [
            check("web01", perf_data="'disk used'=42.5%;80;90;0;100 'it''s'=3 load=1.5;@10:20;5", timestamp=now - 60),
            check(
                "web02",
                perf_data_array=[{"metric": "disk used", "value": 12, "unit": "%", "max": 100, "type": "GAUGE"}],
                timestamp=now - 30,
            ),
            check("db01", resource=None, perf_data="rta=0.8ms;100;500", timestamp=now - 10),
            check("web03", perf_data="bad=1 worse==", timestamp=now),  # malformed: no point, still acked
            {**check("web04", perf_data="load=9"), "event_type": "comment", "author": "alice", "output": "hi"},
        ],
        queue=queue,
    )

    disk = await influx.until("disk used", 2, engine.describe())
    assert sorted(disk, key=lambda r: r["component"]) == [
        {
            "time": now - 60,
            "connector": "nagios",
            "connector_name": "paris",
            "component": "web01",
            "resource": "disk",
            "value": 42.5,
            "warn": 80,
            "crit": 90,
            "min": 0,
            "max": 100,
            "unit": "%",
        },
        {
            "time": now - 30,
            "connector": "nagios",
            "connector_name": "paris",
            "component": "web02",
            "resource": "disk",
            "value": 12,
            "warn": None,
            "crit": None,
            "min": None,
            "max": 100,
            "unit": "%",
        },
    ]
    [quoted] = await influx.until("it's", 1)
    assert (quoted["value"], quoted["component"]) == (3, "web01")
    [load] = await influx.until("load", 1)
    assert (load["value"], load["crit"], load.get("warn"), load["component"]) == (1.5, 5, None, "web01")
    [rta] = await influx.until("rta", 1)
    assert (rta["component"], rta.get("resource"), rta["value"], rta["unit"]) == ("db01", None, 0.8, "ms")
    await asyncio.sleep(1.0)
    assert await influx.rows("bad") == [] and len(await influx.rows("load")) == 1, "malformed and non-check: no point"
    assert "perf data of disk/web03 not written" in engine.log()

    deadline = time.monotonic() + TIMEOUT
    while not (found := await influx.query(f"SELECT * FROM cps_evt_per_sec WHERE resource = '{queue}' AND value > 0")):
        assert time.monotonic() < deadline, f"no cps_evt_per_sec point\n{engine.describe()}"
        await asyncio.sleep(0.3)
    [rates] = found
    columns = dict(zip(rates["columns"], rates["values"][0]))
    assert (columns["engine"], columns["instance"], columns["connector"], columns["connector_name"]) == (
        "perfdata",
        "perfdata",
        "Engine",
        "engine",
    )
    [per_event] = await influx.query("SELECT value, warn, crit FROM cps_sec_per_evt")
    assert per_event["values"][0][2:] == [0.6, 0.9]
    assert await amqp.collect(f"{queue}.dead", 1, 0.5) == [], "nothing dead-lettered"


async def test_sigterm_loses_no_point(influx, names, engines, amqp) -> None:
    queue, count = names.queue("perfdata"), 2000
    now = int(time.time())
    await amqp.publish([check(f"host{i:04d}", perf_data=f"load={i}", timestamp=now) for i in range(count)], queue=queue)
    args = ("perfdata", "--consume-queue", queue, "--batch-size", "100", "--prefetch", "300")
    env = {"CPS_INFLUX_URL": influx.url}
    engine = await engines.start(*args, consume_queue=queue, env=env)
    engine.kill(signal.SIGTERM)  # at once: most events are still queued or in flight
    assert await engine.wait(30) == 0, engine.describe()
    engine = await engines.restart(engine, env=env)

    deadline = time.monotonic() + TIMEOUT
    while (found := await influx.query("SELECT COUNT(value) FROM load")) == [] or found[0]["values"][0][1] < count:
        assert time.monotonic() < deadline, f"{found} of {count} points\n{engines.describe()}"
        await asyncio.sleep(0.3)
    assert found[0]["values"][0][1] == count


async def test_engine_exits_1_when_influxdb_never_answers(names, engines) -> None:
    queue = names.queue("perfdata")
    engine = await engines.start(
        "perfdata",
        "--consume-queue",
        queue,
        "--connect-attempts",
        "2",
        consume_queue=queue,
        wait=False,
        env={"CPS_INFLUX_URL": "http://admin:secret@127.0.0.1:1/metrics"},
    )
    assert await engine.wait(30) == 1, engine.describe()
    log = engine.log()
    assert "InfluxDB unavailable: http://admin:***@127.0.0.1:1/metrics: no answer after 2 attempts" in log, log
    assert "secret" not in log


async def test_engine_without_influx_url_exits_2(names, engines) -> None:
    queue = names.queue("perfdata")
    engine = await engines.start(
        "perfdata", "--consume-queue", queue, consume_queue=queue, wait=False, env={"CPS_INFLUX_URL": ""}
    )
    assert await engine.wait(30) == 2, engine.describe()
    assert "CPS_INFLUX_URL: not set" in engine.log()


# ---- the writer's line protocol, read back by the server ------------------------------------------


async def test_names_and_tags_with_special_characters_are_stored_as_given(influx) -> None:
    measurements = ["disk used", "a,b", "a=b", "°C'q\"x", "C:\\Temp", "tab\there", "é/\\x"]
    tags = {
        "resource": "disk 1,2=3",
        "component": "C:\\ Used Space",
        "connector": 'it\'s "quoted"',
        "odd": "a\\ b\\,c\\=d",
        "many": "\\\\\\ x",
        "path": "C:\\Program Files\\x",
    }
    text = 'say "hi" C:\\dir\\ and\na newline'
    writer = InfluxWriter(influx.url)
    try:
        await writer.write(
            [Point(m, {"value": 1.0, "a b,c=d": 2.0, "text": text}, tags, 1764358800) for m in measurements]
        )
    finally:
        await writer.close()
    [series] = await influx.query("SHOW MEASUREMENTS")
    assert sorted(v[0] for v in series["values"]) == sorted(measurements)
    for measurement in measurements:
        [row] = await influx.rows(measurement)
        assert {k: row[k] for k in tags} == tags
        assert (row["value"], row["a b,c=d"], row["text"], row["time"]) == (1.0, 2.0, text, 1764358800)
    for tag, value in tags.items():
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        [found] = await influx.query(f'SELECT value FROM "disk used" WHERE "{tag}" = \'{quoted}\'')
        assert found["values"][0][1] == 1.0, f"cannot select {tag} = {value!r}"


async def test_names_influxdb_cannot_store_exactly_are_stored_findably(influx) -> None:
    writer = InfluxWriter(influx.url)
    try:
        await writer.write(
            [
                Point("#conns", {"value": 1.0}),
                Point("C:\\ Used Space", {"value": 2.0}),
                Point("trailing\\", {"value": 3.0}, {"path": "C:\\", "nl": "two\nlines"}),
            ]
        )
    finally:
        await writer.close()
    [series] = await influx.query("SHOW MEASUREMENTS")
    # A leading # would make a comment, a backslash before a space or at the end an unqueryable
    # measurement or a broken tag, a newline the end of the line.
    assert sorted(v[0] for v in series["values"]) == ["C: Used Space", "\\#conns", "trailing"]
    assert [r["value"] for r in await influx.rows("\\#conns")] == [1.0]
    assert [r["value"] for r in await influx.rows("C: Used Space")] == [2.0]
    [row] = await influx.rows("trailing")
    assert (row["path"], row["nl"], row["value"]) == ("C:\\ ", "two\\nlines", 3.0)
