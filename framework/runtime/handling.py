"""What happens to one batch of deliveries: decode, hand to the engine, retry, route, dead-letter.

`Handling.batch` turns deliveries into what must be published for them, in delivery order: the
engine's outputs, routed to the publish queues, and a dead letter for each delivery that can
never be processed. An outage (ServiceUnavailable) is retried with back-off, the events marked as
handed again; a bug in the engine dead-letters the one event it concerns.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from framework.backoff import backoff_delays
from framework.config.settings import Settings
from framework.engine import Engine, in_turns, outputs_of
from framework.errors import BadEvent, ServiceUnavailable
from framework.message import Message, decode
from framework.observability.stats import Stats
from framework.runtime.stopping import Stopping, sleep_or_stop
from framework.transport.base import Delivery, Outgoing
from framework.transport.names import DEAD_ENGINE_HEADER, DEAD_QUEUE_HEADER, DEAD_REASON_HEADER, dead_letter_queue

__all__ = ["Handling"]

logger = logging.getLogger(__name__)

#: Per delivery tag: what to publish for it, or why it is dead-lettered.
Results = dict[int, Sequence[Message] | BaseException]


class Handling:
    def __init__(self, engine: Engine[Any], settings: Settings, stats: Stats, stop: asyncio.Event) -> None:
        self.engine = engine
        self.settings = settings
        self.stats = stats
        self.stop = stop
        self._batch_override = type(engine).handle_batch is not Engine.handle_batch
        self._balance = itertools.cycle(range(max(1, len(settings.publish_queues))))

    async def batch(self, deliveries: Sequence[Delivery]) -> list[Outgoing]:
        """Decode and handle `deliveries`; their outputs and dead letters, in delivery order.

        Raises Stopping when a stop is requested while an outage is being retried.
        """
        started = time.perf_counter()
        now = time.time()
        model = self.engine.message_model
        decoded: list[tuple[Delivery, Message]] = []
        results: Results = {}
        async for delivery in in_turns(deliveries):
            try:
                message = decode(model, delivery.body, {"now": now})
                message.received_as(delivery.message_id, delivery.redelivered)
                decoded.append((delivery, message))
            except BadEvent as exc:
                results[delivery.tag] = exc
        if decoded:
            results.update(await (self._as_batch(decoded) if self._batch_override else self._each(decoded)))
        outgoing: list[Outgoing] = []
        async for delivery in in_turns(deliveries):
            result = results[delivery.tag]
            if isinstance(result, BaseException):
                outgoing.append(self._dead_letter(delivery, result))
            else:
                outgoing.extend(self._route(delivery, result))
        elapsed = time.perf_counter() - started
        self.stats.processed += len(deliveries)
        self.stats.busy += elapsed
        self.stats.batch_seconds.observe(elapsed)
        return outgoing

    async def _each(self, decoded: Sequence[tuple[Delivery, Message]]) -> Results:
        """`handle` per event, concurrently across keys up to --workers, in order within a key."""
        results: Results = {}

        async def handle_group(group: Sequence[tuple[Delivery, Message]]) -> None:
            for delivery, event in group:
                results[delivery.tag] = await self._attempt(partial(self._handle_one, event), (event,))

        if self.settings.workers == 1:
            await handle_group(decoded)
            return results
        groups: dict[object, list[tuple[Delivery, Message]]] = {}
        for item in decoded:
            key = item[1].key
            groups.setdefault(key if key is not None else object(), []).append(item)
        limit = asyncio.Semaphore(self.settings.workers)

        async def bounded(group: Sequence[tuple[Delivery, Message]]) -> None:
            async with limit:
                await handle_group(group)

        try:
            async with asyncio.TaskGroup() as tg:
                for group in groups.values():
                    tg.create_task(bounded(group))
        except* Stopping:
            raise Stopping() from None
        return results

    async def _as_batch(self, decoded: Sequence[tuple[Delivery, Message]]) -> Results:
        """`handle_batch` over all of them; if it fails, one by one, so only the culprit is dead-lettered."""
        events = [event for _, event in decoded]

        async def whole() -> list[Sequence[Message] | BadEvent]:
            outcomes = await self.engine.handle_batch(events)
            if len(outcomes) != len(events):
                raise TypeError(f"handle_batch returned {len(outcomes)} outcomes for {len(events)} events")
            return [o if isinstance(o, BadEvent) else outputs_of(o) for o in outcomes]

        result = await self._attempt(whole, events)
        if not isinstance(result, BaseException):
            return {d.tag: outputs for (d, _), outputs in zip(decoded, result)}
        if len(decoded) == 1:
            return {decoded[0][0].tag: result}
        for event in events:
            event.handled_again()
        return {
            delivery.tag: await self._attempt(partial(self._single, event), (event,)) for delivery, event in decoded
        }

    async def _single(self, event: Message) -> Sequence[Message]:
        (outcome,) = await self.engine.handle_batch([event])
        if isinstance(outcome, BadEvent):
            raise outcome
        return outputs_of(outcome)

    async def _handle_one(self, event: Message) -> Sequence[Message]:
        return outputs_of(await self.engine.handle(event))

    async def _attempt(self, call: Callable[[], Awaitable[Any]], events: Sequence[Message]) -> Any:
        """Run `call` on `events`, retrying service outages with back-off; return its result or the
        error to dead-letter. A retry hands `events` again, so they count as redelivered then."""
        delays = backoff_delays(cap=self.settings.retry_max_delay)
        while True:
            try:
                return await call()
            except ServiceUnavailable as exc:
                delay = next(delays)
                self.stats.retried += 1
                logger.warning("%s; retrying in %.1f s", exc, delay)
                for event in events:
                    event.handled_again()
                if await sleep_or_stop(self.stop, delay):
                    raise Stopping() from None
            except BadEvent as exc:
                return exc
            except Exception as exc:  # a bug in the handler: never kills the engine
                logger.exception(
                    "handler error in %s; the event goes to the dead-letter queue", self.settings.instance_name
                )
                return exc

    def _route(self, delivery: Delivery, outputs: Sequence[Message]) -> list[Outgoing]:
        if not outputs:
            self.stats.dropped += 1
            return []
        queues = self.settings.publish_queues
        message_id = delivery.message_id if len(outputs) == 1 else None
        routed: list[Outgoing] = []
        for message in outputs:
            body = message.to_json()
            targets = (queues[next(self._balance)],) if self.settings.balanced and queues else queues
            key = message.key
            routed.extend(Outgoing(body=body, routing_key=q, message_id=message_id, key=key) for q in targets)
        self.stats.forwarded += len(routed)
        return routed

    def _dead_letter(self, delivery: Delivery, error: BaseException) -> Outgoing:
        reason = error.reason if isinstance(error, BadEvent) else f"handler error: {type(error).__name__}: {error}"
        self.stats.dead += 1
        if self.settings.print_event_on_error:
            logger.warning("dead-lettered (%s): %r", reason, delivery.body[:2048])
        else:
            logger.info("dead-lettered: %s", reason)
        headers = dict(delivery.headers or {})
        headers.update(
            {
                DEAD_REASON_HEADER: reason[:1024],
                DEAD_ENGINE_HEADER: self.settings.instance_name,
                DEAD_QUEUE_HEADER: self.settings.consume_queue,
            }
        )
        return Outgoing(
            body=delivery.body,
            routing_key=dead_letter_queue(self.settings.consume_queue),
            message_id=delivery.message_id,
            headers=headers,
        )
