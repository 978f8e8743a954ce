"""Check events' perf data as InfluxDB points, as the legacy metric engine wrote them (reference §6.6).

One point per metric: measurement = the metric's label (`metric`, without the unit, as the
legacy engine), time = the event's timestamp (s), tags connector, connector_name, component and
resource (those present), fields `value` and, when given, `warn`, `crit`, `min`, `max` (floats)
and `unit` (string).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from engines.model import Event
from engines.model.perfdata import PerfDataError, parse_perf_data
from framework import Point

__all__ = ["THRESHOLD_FIELDS", "EventPoints", "event_points", "item_point"]

#: Written when numeric. A Nagios range (`10:20`) is left out: a field keeps one type per measurement.
THRESHOLD_FIELDS: Final = ("warn", "crit", "min", "max")
_NUMERIC_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass
class EventPoints:
    """The points of one event, and what was wrong with its perf data (for a warning)."""

    points: list[Point] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def event_points(event: Event) -> EventPoints:
    """The points of a check event: its `perf_data_array` if not empty, else its parsed `perf_data`.

    A malformed `perf_data` string gives no point and one problem (one bad item spoils the
    string, as in che); a bad `perf_data_array` item (no metric name, no numeric value) is
    skipped with a problem. Other event types, and check events without perf data, give none.
    """
    result = EventPoints()
    if event.event_type != "check":
        return result
    items: Sequence[Mapping[str, Any]]
    if event.perf_data_array:
        items = event.perf_data_array
    elif event.perf_data:
        try:
            items = [datum.to_array_item() for datum in parse_perf_data(event.perf_data)]
        except PerfDataError as exc:
            result.problems.append(str(exc))
            return result
    else:
        return result
    tags = event_tags(event)
    for index, item in enumerate(items, 1):
        point = item_point(item, tags, event.timestamp)
        if isinstance(point, Point):
            result.points.append(point)
        else:
            result.problems.append(f"perf_data_array item {index}: {point}")
    return result


def event_tags(event: Event) -> dict[str, str]:
    """connector, connector_name, and component and resource when the event has them.

    The legacy engine ignored events without a resource; we keep component-level metrics (a
    host check's round-trip time) and leave the tag out, which InfluxDB allows.
    """
    tags = {"connector": event.connector, "connector_name": event.connector_name}
    if event.component:
        tags["component"] = event.component
    if event.resource:
        tags["resource"] = event.resource
    return tags


def item_point(item: Mapping[str, Any], tags: Mapping[str, str], timestamp: int) -> Point | str:
    """The point of one `perf_data_array` item, or why it has none."""
    if not isinstance(item, Mapping):
        return f"{item!r} is not an object"
    metric = item.get("metric")
    if not isinstance(metric, str) or not metric:
        return f"metric {metric!r}: expected a non-empty name"
    value = _number(item.get("value"))
    if value is None:
        return f"{metric!r}: value {item.get('value')!r} is not a number"
    fields: dict[str, float | str] = {"value": value}
    for name in THRESHOLD_FIELDS:
        number = _number(item.get(name))
        if number is not None:
            fields[name] = number
    unit = item.get("unit")
    if isinstance(unit, str) and unit:
        fields["unit"] = unit
    return Point(metric, fields, tags, timestamp)


def _number(value: object) -> float | None:
    """A finite float from a JSON number or numeric text; None otherwise (ranges, U, booleans)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value.strip())):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None
