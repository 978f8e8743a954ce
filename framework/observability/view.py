"""What observers may read of a running engine: a read-only view the runtime implements.

The observers (systemd's STATUS= and watchdog, Prometheus, run-info, throughput metrics) live
beside the runtime, which starts them; they see it through this Protocol only, so nothing here
imports the runtime and no import circle ties them together.
"""

from __future__ import annotations

from typing import Protocol

from framework.config.settings import Settings
from framework.observability.stats import Stats

__all__ = ["EngineView"]


class EngineView(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def consuming(self) -> bool:
        """A session is open, its consumer registered, and no stop was requested."""

    @property
    def draining(self) -> bool:
        """A stop was requested: what was delivered is being finished."""

    def health(self) -> str | None:
        """None while the consumer is alive, else why not (for the watchdog)."""

    async def queue_length(self) -> int | None:
        """Messages ready in the consumed queue and its partitions, or None when not connected."""
