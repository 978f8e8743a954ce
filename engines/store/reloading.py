"""What the entity and open-alarm caches share: a whole copy read again on a period or on demand."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Reloading"]


class Reloading:
    """Knows when a whole in-memory copy must be read again: first use, every `refresh` seconds,
    and after `forget`. Not for concurrent use: the runner hands an engine one batch at a time."""

    def __init__(self, refresh: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh = refresh
        self.clock = clock
        self.loaded_at: float | None = None

    def forget(self) -> None:
        """Read everything again before the next batch."""
        self.loaded_at = None

    def due(self) -> float | None:
        """The clock now if a reload is due (pass it to `loaded` once done), else None."""
        now = self.clock()
        return now if self.loaded_at is None or now - self.loaded_at >= self.refresh else None

    def loaded(self, started: float) -> None:
        self.loaded_at = started
