"""cps-dlq on a real RabbitMQ, with dead letters made by a real passthrough engine."""

from __future__ import annotations

import asyncio
import io
import time

import aio_pika
import pytest

from engines.tools.dlq import main
from framework.transport.names import DEAD_QUEUE_HEADER, DEAD_REASON_HEADER, dead_letter_queue

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
GARBAGE = [b"not json %d" % i for i in range(3)]


async def run_dlq(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    # main runs its own event loop: give it a thread, away from the test's loop.
    code = await asyncio.to_thread(main, list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def until_depth(url: str, queue: str, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (found := await depth(url, queue)) != count:
        assert time.monotonic() < deadline, f"{queue}: {found} messages, expected {count}"
        await asyncio.sleep(0.2)


@pytest.fixture
async def dead_letters(names, engines, amqp, rabbitmq):
    """A passthrough engine that dead-lettered GARBAGE: (its queue, its DLQ)."""
    source = names.queue("pass")
    await engines.start(
        "passthrough", "--consume-queue", source, "--publish-queue", names.queue("out"), consume_queue=source
    )
    await amqp.publish(GARBAGE, queue=source)
    dlq = dead_letter_queue(source)
    await until_depth(rabbitmq, dlq, len(GARBAGE))
    return source, dlq


async def test_list_shows_dead_letters_and_leaves_them_in_the_queue(dead_letters, rabbitmq) -> None:
    source, dlq = dead_letters
    code, out, err = await run_dlq("list", source)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{dlq}: 3 messages"
    assert lines[1].split()[:4] == ["#", "message", "id", "reason"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2", "3"]
    for i, line in enumerate(lines[2:]):
        assert line.endswith(GARBAGE[i].decode()), line
    assert await depth(rabbitmq, dlq) == 3
    code, out, _ = await run_dlq("list", dlq)  # the .dead name works too, and order is kept
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == ["1", "2", "3"]
    assert out.splitlines()[2].endswith(GARBAGE[0].decode())


async def test_show_prints_one_dead_letter_with_its_reason(dead_letters, rabbitmq) -> None:
    source, dlq = dead_letters
    code, out, err = await run_dlq("show", source, "2")
    assert (code, err) == (0, "")
    assert out.startswith(f"message 2 of 3 in {dlq}\n")
    assert f"from queue:   {source}" in out
    assert out.rstrip().endswith(GARBAGE[1].decode())
    assert await depth(rabbitmq, dlq) == 3
    code, _, err = await run_dlq("show", source, "4")
    assert code == 2 and "holds 3 messages" in err


async def test_replay_to_the_original_queue_brings_garbage_back_to_the_dlq(dead_letters, rabbitmq, amqp) -> None:
    source, dlq = dead_letters
    code, out, err = await run_dlq("replay", source, "--all")
    assert (code, err) == (0, ""), err
    assert out.strip() == f"replayed 3 messages from {dlq} to {source}"
    await until_depth(rabbitmq, dlq, 3)  # the engine refused them again: nothing lost
    await until_depth(rabbitmq, source, 0)
    again = await amqp.collect(dlq, 3, TIMEOUT)
    assert sorted(m.body for m in again) == sorted(GARBAGE)
    assert all(m.headers.get("x-cps-replayed") == 1 and m.headers.get(DEAD_REASON_HEADER) for m in again)


async def test_replay_to_another_queue_moves_the_chosen_messages(dead_letters, rabbitmq, names, amqp) -> None:
    source, dlq = dead_letters
    other = names.queue("other")
    code, out, err = await run_dlq("replay", source, "--to", other, "1", "3")
    assert (code, err) == (0, ""), err
    assert out.strip() == f"replayed 2 messages from {dlq} to {other}"
    assert await depth(rabbitmq, dlq) == 1
    moved = await amqp.collect(other, 2, TIMEOUT)
    assert [m.body for m in moved] == [GARBAGE[0], GARBAGE[2]]
    assert all(DEAD_QUEUE_HEADER not in m.headers for m in moved)
    code, out, _ = await run_dlq("list", source)
    assert out.splitlines()[2].endswith(GARBAGE[1].decode())


async def test_purge_needs_yes_then_empties_the_dlq(dead_letters, rabbitmq) -> None:
    source, dlq = dead_letters
    code, _, err = await run_dlq("purge", source)
    assert code == 2 and "--yes" in err
    assert await depth(rabbitmq, dlq) == 3
    code, out, _ = await run_dlq("purge", source, "--yes")
    assert code == 0 and out.strip() == f"purged 3 messages from {dlq}"
    assert await depth(rabbitmq, dlq) == 0


async def test_unknown_queue_is_a_usage_error(names) -> None:
    code, out, err = await run_dlq("list", names.prefix + "nothing")
    assert code == 2 and out == ""
    assert err.startswith("cps-dlq: no dead-letter queue Engine_") and err.count("\n") == 1
