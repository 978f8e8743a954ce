"""The beat: the engine's periodic work every --beat-interval, its events published to the head of
the chain.

Beats never overlap and never catch up in a burst; with several instances of an engine whose beat
must run once per tick (`Engine.beat_once`), each tick goes to the holder of a lease in MongoDB.
Every instance refreshes its run-info document on every tick, lease or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from framework.backoff import backoff_delays
from framework.config.settings import Settings
from framework.engine import BeatOutput, Engine
from framework.errors import BrokerUnavailable, ServiceUnavailable
from framework.message import Message
from framework.observability.runinfo import RunInfoWriter
from framework.observability.stats import Stats
from framework.observability.view import EngineView
from framework.runtime.lease import LEASE_COLLECTION, Lease, holder_id
from framework.runtime.stopping import Stopping, sleep_or_stop
from framework.services.connect import Services
from framework.transport.base import Outgoing, Session

__all__ = ["Beat"]

logger = logging.getLogger(__name__)


class Beat:
    def __init__(
        self,
        engine: Engine[Any],
        view: EngineView,
        services: Services,
        run_info: RunInfoWriter | None,
        session: Callable[[], Session | None],
        stop: asyncio.Event,
    ) -> None:
        self.engine = engine
        self.view = view
        self.run_info = run_info
        #: The session open now (None while reconnecting), to publish the beat's events on.
        self.session = session
        self.stop = stop
        self.lease = _lease(engine, view.settings, services)

    @property
    def settings(self) -> Settings:
        return self.view.settings

    @property
    def stats(self) -> Stats:
        return self.view.stats

    async def run(self) -> None:
        """Beat until a stop is requested."""
        loop = asyncio.get_running_loop()
        interval = self.settings.beat_interval
        next_at = loop.time() + interval
        if self.run_info is not None:
            await self.run_info.refresh(self.view)
        while not await sleep_or_stop(self.stop, next_at - loop.time()):
            started = loop.time()
            if self.run_info is not None:
                await self.run_info.refresh(self.view)  # every instance, lease or not
            try:
                if self.lease is not None and not await self.lease.acquire(interval, time.time()):
                    logger.debug("beat skipped: another instance holds %s", self.lease.name)
                    next_at += interval
                    continue
                await self._publish_all(await self.engine.beat())
            except Stopping:
                return
            except ServiceUnavailable as exc:
                logger.warning("beat skipped: %s", exc)
            except Exception:
                logger.exception("beat failed in %s", self.settings.instance_name)
            self.stats.beats += 1
            self.stats.beat_seconds = loop.time() - started
            self.stats.last_beat = time.time()
            logger.debug("beat %d took %.3f s", self.stats.beats, self.stats.beat_seconds)
            # Never overlap, never catch up in a burst: the next tick is the next one still ahead.
            next_at += interval * max(1, -(-(loop.time() - next_at) // interval))

    async def _publish_all(self, emitted: BeatOutput) -> None:
        if isinstance(emitted, AsyncGenerator):
            async with contextlib.aclosing(emitted) as batches:
                async for batch in batches:
                    if batch:
                        await self._publish(batch)
        elif emitted:
            await self._publish(emitted)

    async def _publish(self, messages: Sequence[Message]) -> None:
        """Publish to the head of the chain, retrying through reconnects until confirmed."""
        outgoing = [Outgoing(body=m.to_json(), routing_key="", exchange=self.settings.exchange) for m in messages]
        delays = backoff_delays(cap=self.settings.retry_max_delay)
        while True:
            try:
                session = self.session()
                if session is None:
                    raise BrokerUnavailable("not connected")
                await session.publish(outgoing)
                return
            except BrokerUnavailable as exc:
                delay = next(delays)
                logger.warning("beat events not published (%s); retrying in %.1f s", exc.detail, delay)
                if await sleep_or_stop(self.stop, delay):
                    raise Stopping() from None


def _lease(engine: Engine[Any], settings: Settings, services: Services) -> Lease | None:
    if not engine.beat_once or services.mongo is None:
        return None  # without MongoDB (the embedded chain) there is one process: no one to share with
    return Lease(services.mongo[LEASE_COLLECTION], f"beat:{settings.name}", holder_id(settings.instance_name))
