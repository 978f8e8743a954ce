"""Processing functions for deploy/examples/amqp2engines.conf, in the legacy calling convention."""

from __future__ import annotations

import logging
from typing import Any


def normalise_event(event: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Like the legacy cleaner: trim names, so that 'web01 ' and 'web01' are one entity."""
    for key in ("connector", "connector_name", "component", "resource"):
        if isinstance(event.get(key), str):
            event[key] = event[key].strip()
    return event


def tag_event(event: dict[str, Any], engine: Any, **_: Any) -> dict[str, Any] | int:
    """Mark the event with the engine that saw it; drop the `debug` heartbeats of connectors."""
    if event.get("event_type") == "check" and event.get("output") == "heartbeat":
        return -1
    event.setdefault("tags", {})["enriched_by"] = engine.settings.name
    return event


def count_beat(engine: Any, logger: logging.Logger, **_: Any) -> None:
    """The legacy beat did periodic bookkeeping; this one only says it ran."""
    engine.beats = getattr(engine, "beats", 0) + 1
    logger.info("beat %d", engine.beats)


def passthrough(**_: Any) -> None:
    """Forward the original event."""
    return None
