"""How an engine stops, in one place: the order of the drain and the waits that a stop cuts short.

On SIGTERM or SIGINT (`Runner.request_stop`):
  1. systemd hears STOPPING=1, and the session cancels its consumer: nothing new is delivered;
  2. what was delivered is finished: handled, its outputs and dead letters published;
  3. their confirms are awaited and the inputs acked, each ack shielded, so that the drain
     timeout never cuts one short;
  4. the beat and the observers are cancelled, then the engine is closed.
Whatever is not done after --drain-timeout stays unacked and the broker delivers it again.
"""

from __future__ import annotations

import asyncio
import logging

from framework.observability.notify import Notifier
from framework.observability.stats import Stats

__all__ = ["Stopping", "drain", "sleep_or_stop"]

logger = logging.getLogger(__name__)


class Stopping(Exception):
    """Raised inside a session when a stop was requested while work was being retried."""


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Sleep `delay` seconds; return True at once if a stop is requested meanwhile."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))
    except TimeoutError:
        return False
    return True


async def drain(serve: asyncio.Task[None], timeout: float, notifier: Notifier, stats: Stats) -> None:
    """Steps 1 to 3: the session sees the stop and drains itself; this waits for it at most
    `timeout` seconds, then cancels what is left."""
    notifier.send("STOPPING=1", f"STATUS=draining: {stats.in_flight} in flight")
    logger.info("draining: %d in flight", stats.in_flight)
    done, _ = await asyncio.wait((serve,), timeout=timeout)
    if not done:
        logger.warning(
            "drain not finished after %.0f s; %d unacked messages will be redelivered", timeout, stats.in_flight
        )
        serve.cancel()
