"""Recent: what the entity and open-alarm caches share, a bounded map of values read recently."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Generic, TypeVar

__all__ = ["Recent"]

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Values whose `weight`s add up to at most `capacity`, each trusted for `ttl` seconds after it
    was stored.

    The least recently used key goes first when the map is full, so memory is bounded whatever
    the size of the collection behind it (weigh values in bytes to bound it in bytes). A value
    may be None: "known to be absent" is worth remembering too (most checks name an entity without
    an open alarm). Not for concurrent use: the runner hands an engine one batch at a time.
    """

    def __init__(
        self,
        capacity: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        weight: Callable[[V | None], int] = lambda value: 1,
    ) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self.weight = weight
        self.total = 0
        self._entries: OrderedDict[K, tuple[V | None, float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, keys: Collection[K]) -> tuple[dict[K, V | None], set[K]]:
        """(the fresh values among `keys`, None included; the keys to read again)."""
        now = self.clock()
        found: dict[K, V | None] = {}
        missing: set[K] = set()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or now - entry[1] >= self.ttl:
                missing.add(key)
                continue
            self._entries.move_to_end(key)
            found[key] = entry[0]
        return found, missing

    async def read_through(self, keys: Collection[K], read: Callable[[set[K]], Awaitable[Mapping[K, V]]]) -> dict[K, V]:
        """The values of `keys` that exist: fresh ones from memory, the others from one call of
        `read(missing)` (which leaves out what does not exist), remembered with the absences."""
        known, missing = self.lookup(keys)
        if missing:
            found = await read(missing)
            fetched = {key: found.get(key) for key in missing}
            self.store(fetched)
            known.update(fetched)
        return {key: value for key, value in known.items() if value is not None}

    def store(self, values: Mapping[K, V | None]) -> None:
        """Remember `values` as read now (or written now), evicting the least recently used."""
        if self.capacity <= 0:
            return
        now = self.clock()
        for key, value in values.items():
            self.discard(key)
            weight = self.weight(value)
            self._entries[key] = (value, now, weight)
            self.total += weight
        while self.total > self.capacity:
            _, (_, _, weight) = self._entries.popitem(last=False)
            self.total -= weight

    def discard(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.total -= entry[2]

    def clear(self) -> None:
        """Forget everything: what is stored behind it is unknown (a failed write, a moved partition)."""
        self._entries.clear()
        self.total = 0
