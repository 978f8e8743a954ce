"""in_turns: a long batch lets other tasks of the loop run while it is handled."""

from __future__ import annotations

import asyncio

from framework import in_turns


async def test_every_item_comes_in_order() -> None:
    assert [i async for i in in_turns(range(250), every=100)] == list(range(250))


async def test_other_tasks_run_between_turns_of_a_long_batch() -> None:
    ticks: list[int] = []
    seen = 0

    async def heartbeat() -> None:
        while True:
            ticks.append(seen)
            await asyncio.sleep(0)

    task = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    ticks.clear()
    async for _ in in_turns(range(1000), every=100):
        seen += 1  # CPU-bound work would go here: no await of its own
    task.cancel()
    # without the turns, the heartbeat would run only once the loop is over (one tick, at 1000)
    assert [t for t in ticks if t < 1000] == [100, 200, 300, 400, 500, 600, 700, 800, 900]
