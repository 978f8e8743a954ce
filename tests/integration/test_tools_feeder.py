"""cps-feeder on a real RabbitMQ: random and file modes reach a queue bound to the exchange."""

from __future__ import annotations

import asyncio
import io
import json

import aio_pika
import pytest

from engines.tools.feeder import main

pytestmark = pytest.mark.integration

TIMEOUT = 30.0


async def run_feeder(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return await asyncio.to_thread(main, list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture
async def bound(names, amqp, rabbitmq):
    """(exchange, queue): a per-test topic exchange with a queue bound to it with '#'."""
    exchange, queue = f"{names.prefix}events", names.queue("feed")
    connection = await aio_pika.connect(rabbitmq, timeout=10)
    channel = await connection.channel()
    x = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    q = await channel.declare_queue(queue, durable=True)
    await q.bind(x, "#")
    yield exchange, queue
    await channel.exchange_delete(exchange)
    await connection.close()


async def test_random_mode_sends_count_events_all_confirmed(bound, amqp) -> None:
    exchange, queue = bound
    code, out, err = await run_feeder(
        "--exchange", exchange, "--count", "300", "--rate", "0", "--seed", "7", "--connectors", "2", "--components", "5"
    )
    assert (code, err) == (0, ""), err
    assert out.startswith(f"sent 300 events to {exchange} in ")
    received = await amqp.collect(queue, 300, TIMEOUT, linger=0.3)
    assert len(received) == 300
    events = [m.json() for m in received]
    assert {e["connector"] for e in events} <= {"feeder1", "feeder2"}
    assert all(e["event_type"] == "check" and "timestamp" not in e for e in events)


async def test_rate_is_held(bound, amqp) -> None:
    exchange, queue = bound
    code, out, err = await run_feeder("--exchange", exchange, "--rate", "200", "--duration", "1.5")
    assert code == 0, err
    sent = int(out.split()[1])
    assert 240 <= sent <= 310, out
    assert len(await amqp.collect(queue, sent, TIMEOUT)) == sent


async def test_file_mode_sends_json_lines(bound, amqp, tmp_path) -> None:
    exchange, queue = bound
    path = tmp_path / "events.jsonl"
    lines = [
        {
            "connector": "c",
            "connector_name": "n",
            "event_type": "check",
            "source_type": "component",
            "component": f"h{i}",
            "state": 2,
        }
        for i in range(5)
    ]
    path.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    code, out, err = await run_feeder("--exchange", exchange, "--file", str(path))
    assert code == 0, err
    assert out.startswith(f"sent 5 events to {exchange}")
    received = await amqp.collect(queue, 5, TIMEOUT)
    assert [m.json() for m in received] == lines


async def test_an_exchange_without_queue_fails_with_one_line(names, rabbitmq) -> None:
    exchange = f"{names.prefix}nowhere"
    code, out, err = await run_feeder("--exchange", exchange, "--count", "3", "--rate", "0")
    connection = await aio_pika.connect(rabbitmq, timeout=10)
    await (await connection.channel()).exchange_delete(exchange)
    await connection.close()
    assert code == 1 and out == ""
    assert "unroutable" in err and err.count("\n") == 1
