"""cps-tail on a real RabbitMQ: it prints what is published to the exchange, and takes nothing away."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest

from engines.tools.tail import main

pytestmark = pytest.mark.integration


async def tail_while(publish, *argv: str) -> tuple[int, str, str]:
    out, err, ready = io.StringIO(), io.StringIO(), threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(main, list(argv), stdout=out, stderr=err, ready=ready))
    for _ in range(200):
        if ready.is_set() or task.done():
            break
        await asyncio.sleep(0.05)
    assert ready.is_set(), err.getvalue()
    await publish()
    code = await asyncio.wait_for(task, 30)
    return code, out.getvalue(), err.getvalue()


async def test_tail_prints_compact_lines_of_the_exchange(names, amqp, events) -> None:
    exchange = f"{names.prefix}events"
    await amqp.publish([], exchange=exchange)  # declares it
    sent = [events.make(i) for i in range(3)]
    code, out, err = await tail_while(
        lambda: amqp.publish(sent, exchange=exchange, routing_key="a.b"),
        "--exchange",
        exchange,
        "--count",
        "3",
        "--duration",
        "20",
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    for line, event in zip(lines, sent):
        assert line.split()[1:3] == ["check", f"{event['resource']}/{event['component']}"]
        assert line.endswith(event["output"])
    await (await (await amqp.connection.channel()).get_exchange(exchange)).delete()


async def test_tail_json_prints_raw_bodies_of_matching_keys(names, amqp, events) -> None:
    exchange = f"{names.prefix}events"
    await amqp.publish([], exchange=exchange)

    wanted = events.make(2)
    code, out, err = await tail_while(
        lambda: amqp.publish([wanted], exchange=exchange, routing_key="wanted.x"),
        "--exchange",
        exchange,
        "--key",
        "wanted.#",
        "--json",
        "--count",
        "1",
        "--duration",
        "20",
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == wanted
    await (await (await amqp.connection.channel()).get_exchange(exchange)).delete()


async def test_tail_of_a_missing_exchange_exits_1(names) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, ["--exchange", f"{names.prefix}none", "--count", "1"], stdout=out, stderr=err)
    assert code == 1 and "does not exist" in err.getvalue() and err.getvalue().count("\n") == 1
