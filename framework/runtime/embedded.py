"""Run a whole chain in one process on the in-memory broker, feed it, and return once it is idle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from framework.config.settings import Settings
from framework.engine import Engine
from framework.runtime.runner import Runner
from framework.transport.base import Outgoing
from framework.transport.memory import MemoryBroker

__all__ = ["EmbeddedChain"]


@dataclass
class EmbeddedChain:
    """Engines sharing one MemoryBroker; `run(events)` is the burst mode tests and the demo use.

    >>> chain = EmbeddedChain([che, axe])             # doctest: +SKIP
    >>> runners = await chain.run([b'{"connector": ...}'])
    >>> chain.broker.drain_queue("Engine_action")
    """

    engines: Sequence[Engine[Any]]
    broker: MemoryBroker | None = None

    def __post_init__(self) -> None:
        self.broker = self.broker or MemoryBroker()

    async def run(self, bodies: Iterable[bytes], *, idle_checks: int = 3, timeout: float = 60.0) -> list[Runner]:
        """Start every engine, publish `bodies` to the head exchange, stop once nothing moves."""
        assert self.broker is not None
        broker = self.broker
        runners = [Runner(engine, engine.settings, broker) for engine in self.engines]
        ready = [asyncio.Event() for _ in runners]
        for runner, event in zip(runners, ready):
            runner.on_ready = event.set
        async with asyncio.TaskGroup() as group:
            for runner in runners:
                group.create_task(runner.run())
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(event.wait() for event in ready))
                exchange = self.engines[0].settings.exchange
                for body in bodies:
                    broker.publish(Outgoing(body=body, routing_key="", exchange=exchange))
                await _until_idle(broker, runners, [e.settings for e in self.engines], idle_checks)
            for runner in runners:
                runner.request_stop()
        return runners


async def _until_idle(
    broker: MemoryBroker, runners: Sequence[Runner], settings: Sequence[Settings], checks: int
) -> None:
    """Idle = every consumed queue empty and nothing in flight, seen `checks` times in a row."""
    calm = 0
    while calm < checks:
        await asyncio.sleep(0.01)
        busy = any(r.stats.in_flight for r in runners) or any(broker.depth(s.consume_queue) for s in settings)
        calm = 0 if busy else calm + 1
