"""event_processing/beat_processing functions that test chain files name by dotted path.

The engine processes import this module (PYTHONPATH holds tests/integration), in the legacy
calling convention of engines/dynamic. The test's run id comes from CPS_TEST_RUN.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: The legacy "drop this event" value.
LEGACY_DROP = -1


def add_path(event: dict[str, Any], engine: Any, **_: Any) -> dict[str, Any]:
    """Append this engine's name to the event's `path`: the route it took, in order."""
    event.setdefault("path", []).append(engine.settings.name)
    return event


def drop_marked_else_add_path(event: dict[str, Any], engine: Any, **_: Any) -> dict[str, Any] | int:
    """Drop events carrying `"drop": true`; mark the others like `add_path`."""
    if event.get("drop"):
        return LEGACY_DROP
    return add_path(event, engine)


def beat_now(engine: Any, **_: Any) -> list[dict[str, Any]]:
    """One component check event per beat, stamped with the time and number of the beat."""
    engine.test_beats = getattr(engine, "test_beats", 0) + 1
    return [
        {
            "connector": "pytest",
            "connector_name": os.environ.get("CPS_TEST_RUN", "unknown"),
            "event_type": "check",
            "source_type": "component",
            "component": "beat",
            "state": 0,
            "output": "beat",
            "run": os.environ.get("CPS_TEST_RUN", "unknown"),
            "beat_no": engine.test_beats,
            "beat_at": time.time(),
        }
    ]
