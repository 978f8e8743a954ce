"""Check events shaped like Canopsis' random-feeder (domain reference §8.1), scaled down and seeded.

10 connectors `feeder<i>` × 100 components `feeder<i>_<c>`; connector i has i resources per
component (random-feeder gives connector i i×10), so 5 500 resources, 1 000 components and 10
connectors. Each event picks a random existing resource; 40 % of resources toggle critical↔OK
each time they are picked (first critical), so ~20 % of events are non-OK and alarms get
created, updated and back to OK. 1 % of events name a brand-new resource in state minor, as
random-feeder's `-npersec` ticker does. Like random-feeder, no `timestamp` (che sets it).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, Final

CONNECTORS: Final = 10
COMPONENTS: Final = 100
TOGGLING: Final = 0.4
NEW_RESOURCES: Final = 0.01
OK, MINOR, CRITICAL = 0, 1, 3


class Feeder:
    """A deterministic stream: the same seed gives the same events, in the same order."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        #: Last state sent per toggling resource; resources absent here and in `steady` are unseen.
        self.toggled: dict[tuple[int, int, int], int] = {}
        self.steady: set[tuple[int, int, int]] = set()
        self.created = 0

    def event(self) -> dict[str, Any]:
        rng = self.rng
        i, c = rng.randint(1, CONNECTORS), rng.randint(1, COMPONENTS)
        if rng.random() < NEW_RESOURCES:
            self.created += 1
            return _check(i, c, f"feeder{i}_new{self.created}", MINOR)
        key = (i, c, rng.randint(1, i))
        if key not in self.toggled and key not in self.steady:
            if rng.random() < TOGGLING:
                self.toggled[key] = OK  # so that the first event sent is critical
            else:
                self.steady.add(key)
        if key in self.toggled:
            self.toggled[key] = state = CRITICAL if self.toggled[key] == OK else OK
        else:
            state = OK
        return _check(i, c, f"feeder{i}_{key[2]}", state)

    def events(self, n: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(n)]


def _check(connector: int, component: int, resource: str, state: int) -> dict[str, Any]:
    return {
        "connector": f"feeder{connector}",
        "connector_name": f"feeder{connector}_inst0",
        "component": f"feeder{connector}_{component}",
        "resource": resource,
        "source_type": "resource",
        "event_type": "check",
        "state": state,
        "output": f"random-feeder check, state {state}",
    }


def alarmed_entities(events: Iterable[dict[str, Any]]) -> set[str]:
    """Entity ids (`resource/component`) that get an alarm from `events`: one non-OK check is enough.

    Alarms stay open while the stream runs (resolution needs a beat), so this is the number of
    documents `periodical_alarm` holds afterwards.
    """
    return {f"{e['resource']}/{e['component']}" for e in events if e["state"] != OK}
