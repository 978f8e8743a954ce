"""The engine contract: what a subclass states and the few methods it overrides (DESIGN §3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

from pydantic import BaseModel

from framework.errors import BadEvent
from framework.message import Message

if TYPE_CHECKING:
    from framework.config.settings import Settings
    from framework.services.connect import Services

__all__ = ["DROP", "BatchOutcome", "BeatOutput", "Drop", "Engine", "Outcome", "in_turns", "outputs_of"]

M = TypeVar("M", bound=Message)
T = TypeVar("T")

#: Items a batch handler goes through between two turns of the event loop (see `in_turns`).
TURN: Final = 100


async def in_turns(items: Iterable[T], every: int = TURN) -> AsyncIterator[T]:
    """`items`, letting the event loop run every `every` of them.

    A handle_batch over thousands of events is seconds of CPU: without a turn now and then, the
    broker's heartbeats, publish confirms, /metrics and the systemd watchdog wait for all of it.
    """
    for n, item in enumerate(items, 1):
        yield item
        if n % every == 0:
            await asyncio.sleep(0)


class Drop:
    """The sentinel a handler returns to consume an event without forwarding anything."""

    _instance: ClassVar[Drop | None] = None

    def __new__(cls) -> Drop:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DROP"


DROP: Final = Drop()

#: What `handle` returns: one message to forward, several (an empty list drops), or DROP.
Outcome = Message | Sequence[Message] | Drop
#: What `handle_batch` returns per event: an Outcome, or a BadEvent to dead-letter that event alone.
BatchOutcome = Outcome | BadEvent
#: What `beat` returns: the events to publish, or their batches as it decides them (a beat over
#: thousands of documents publishes each batch before it reads the next: its memory stays bounded).
BeatOutput = Sequence[Message] | AsyncGenerator[Sequence[Message], None] | None


def outputs_of(outcome: Outcome) -> Sequence[Message]:
    """The messages an outcome forwards; a TypeError names a handler that returned anything else."""
    if isinstance(outcome, Message):
        return (outcome,)
    if outcome is DROP:
        return ()
    if isinstance(outcome, (list, tuple)) and all(isinstance(m, Message) for m in outcome):
        return outcome
    raise TypeError(f"handler returned {outcome!r}; return a Message, a list of Messages or DROP")


class Engine(Generic[M]):
    """Base of every engine: one process consuming `Engine_<name>` and forwarding to the next queues.

    A subclass states its identity (`name`, `message_model`, `publish_to`, `binds_events`) and
    overrides `handle` (or `handle_batch` when it gains from bulk I/O), and optionally `beat`,
    `setup` and `close`. The runtime does everything else: connecting, decoding, acking,
    publishing, dead-lettering, retrying, draining.

    Raising from `handle`: `BadEvent` dead-letters the event with its reason;
    `ServiceUnavailable` retries it after a back-off; anything else is a bug, logged once with
    its traceback, and the event is dead-lettered.
    """

    name: ClassVar[str] = ""
    message_model: ClassVar[type[Message]] = Message
    #: Queues an event is forwarded to unless `--publish-queue` says otherwise.
    publish_to: ClassVar[tuple[str, ...]] = ()
    #: The first engine of a chain binds its queue to `canopsis.events` with `#`.
    binds_events: ClassVar[bool] = False
    #: Services opened and checked before `setup` ("mongo", "influx"); the process exits if one never answers.
    uses: ClassVar[frozenset[str]] = frozenset()
    #: The beat must run once per tick across all instances: it takes a lease in MongoDB first.
    beat_once: ClassVar[bool] = False
    #: The engine's own settings; each field is also a flag (`--field-name`) and a CPS_FIELD_NAME variable.
    options_model: ClassVar[type[BaseModel] | None] = None
    #: Framework settings this engine needs other than the framework's defaults (a flag, a
    #: variable or a config file still overrides them), e.g. {"beat_interval": 1}.
    default_settings: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.consume_queue}>"

    async def setup(self, services: Services) -> None:
        """Open the engine's own resources (stores over `services`); runs before the first event."""

    async def close(self) -> None:
        """Release what `setup` opened; runs after the last event and beat."""

    async def on_assigned(self, queue: str) -> None:
        """Events from `queue` start reaching this instance: at start, after a reconnect, or when a
        partition moves here from an instance that stopped (`--partitions`).

        Until then another instance may have handled the entities `queue` carries: an engine that
        keeps state about them in memory reads it again.
        """

    async def handle(self, event: M) -> Outcome:
        """Process one event; return what to forward."""
        raise NotImplementedError(f"{type(self).__name__} must override handle() or handle_batch()")

    async def handle_batch(self, events: Sequence[M]) -> Sequence[BatchOutcome]:
        """Process a batch in one go (one read, one bulk write); return one outcome per event.

        Return a BadEvent instance as an event's outcome to dead-letter that event only.

        Events of the same `key` arrive in the order they were received and must be applied in
        that order. If this raises anything but ServiceUnavailable, the runtime re-runs the
        events one by one to find and dead-letter the culprit, so side effects must tolerate a
        replay (delivery is at-least-once anyway). Engines that do not override this method get
        per-event isolation for free: each event goes through `handle`, concurrently across
        keys up to `--workers`.
        """
        return [await self.handle(event) for event in events]

    async def beat(self) -> BeatOutput:
        """Periodic work, every `--beat-interval` seconds; a beat never overlaps the previous one.

        Events it returns are published to the head of the chain (`--exchange`, canopsis.events),
        so a change decided by the beat goes through every engine like any other event. An async
        generator of batches has each batch published (confirmed) before the next is asked for.
        """
        return None
