"""Forward each event as received: the cost of the runtime itself, with nothing on top."""

from __future__ import annotations

from framework import Engine, Message, Outcome


class PassthroughEngine(Engine[Message]):
    """Forwards every JSON object it consumes to its publish queues."""

    name = "passthrough"

    async def handle(self, event: Message) -> Outcome:
        return event
