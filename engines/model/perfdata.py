"""The Nagios `perf_data` string of check events, parsed into data points (reference §6.6).

che writes them into `perf_data_array`; engine-perfdata parses the string when the array is absent.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Final

__all__ = ["ALLOWED_UNITS", "PerfDataError", "PerfDatum", "Threshold", "parse_perf_data"]

#: Canopsis `[Canopsis.metrics] AllowedPerfDataUnits`: the Nagios units plus `°C`.
ALLOWED_UNITS: Final[frozenset[str]] = frozenset({"%", "°C", "s", "us", "ms", "B", "KB", "MB", "TB", "c"})

#: A warn/crit threshold: a float for a plain number, else the Nagios range text (`@10:20`).
Threshold = float | str

_MAX_FIELDS: Final = 5  # value[unit];warn;crit;min;max
_NUMBER: Final = r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_PLAIN: Final = re.compile(_NUMBER)
_VALUE: Final = re.compile(rf"({_NUMBER})([^0-9.].*)?")
# Nagios range: [@][start:][end], start may be ~ (minus infinity); either side may be empty.
_RANGE: Final = re.compile(rf"@?(?:(?:~|{_NUMBER})?:)?(?:{_NUMBER})?")
_NUMBER_HINT: Final = "a number such as 12, -3 or 0.5"


class PerfDataError(ValueError):
    """One item of a perf_data string is malformed, which invalidates the whole string.

    `index` is the item's 1-based position, `item` its text and `reason` what is wrong with it.
    """

    def __init__(self, index: int, item: str, reason: str) -> None:
        self.index = index
        self.item = item
        self.reason = reason
        super().__init__(f"perf_data item {index} {item!r}: {reason}")


@dataclass(frozen=True, slots=True)
class PerfDatum:
    """One data point: `metric` is the label as written (unquoted, `''` read as `'`).

    `unit` is None when the value has none; `warn`/`crit` are Thresholds; `min`/`max` numbers.
    """

    metric: str
    value: float
    unit: str | None = None
    warn: Threshold | None = None
    crit: Threshold | None = None
    min: float | None = None
    max: float | None = None

    @property
    def metric_name(self) -> str:
        """The name Canopsis HEAD stores the metric under: `label_<unit>`, or the label alone."""
        return f"{self.metric}_{self.unit}" if self.unit else self.metric

    def to_array_item(self) -> dict[str, float | str]:
        """The Python-era `perf_data_array` item: metric, value, unit, warn, crit, min, max and
        `type` "GAUGE"; keys whose value is None are left out."""
        item: dict[str, float | str | None] = {
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "warn": self.warn,
            "crit": self.crit,
            "min": self.min,
            "max": self.max,
            "type": "GAUGE",
        }
        return {key: value for key, value in item.items() if value is not None}


def parse_perf_data(text: str, *, allowed_units: Collection[str] = ALLOWED_UNITS) -> list[PerfDatum]:
    """Parse `label=value[unit][;warn[;crit[;min[;max]]]]` items separated by whitespace.

    Returns the items in order; an empty or blank string gives []. Raises PerfDataError naming
    the first malformed item: missing `=`, empty label, unterminated quote, a value that is not
    a number, a unit outside `allowed_units`, a bad threshold or bound, more than five fields.

    Grammar, and where it departs from Canopsis HEAD (`types/event_perf_data.go`):

    * A label in single quotes may hold spaces and `=`; inside it `''` stands for `'`. An
      unquoted label stops at `=` and may only hold quotes doubled (`cp''u` is `cp'u`).
    * A value starting with `U` (Nagios "undetermined", `U` or `UGB` as Canopsis reads it)
      skips the item, whatever follows it.
    * Values may be negative (Nagios allows it; HEAD refuses them, losing e.g. -5°C). No
      exponent and no trailing dot (`57.` is refused, as in HEAD).
    * Empty warn/crit/min/max fields are allowed (`load=1;;;0;`). warn and crit are floats when
      plain numbers, else Nagios ranges (`10:`, `~:10`, `10:20`, `@10:20`) kept as text; min and
      max must be plain numbers. HEAD ignores these fields entirely; we check them.
    * Runs of whitespace between items are accepted (HEAD wants exactly one space).
    """
    data: list[PerfDatum] = []
    for index, item, label, fields in _items(text):
        datum = _datum(index, item, label, fields, allowed_units)
        if datum is not None:
            data.append(datum)
    return data


def _items(text: str) -> Iterator[tuple[int, str, str, str]]:
    """Split `text` into (index, item text, unescaped label, text after `=`)."""
    position, end, index = 0, len(text), 0
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position == end:
            return
        start, index = position, index + 1
        quoted = text[position] == "'"
        if quoted:
            label, position = _quoted_label(text, position, index)
        else:
            position = _token_end(text, position, stop="=")
            if position == end or text[position] != "=":
                raise PerfDataError(index, text[start:position], "missing '=' after the label")
            label = text[start:position]
        value_start = position + 1
        position = _token_end(text, value_start)
        item = text[start:position]
        if not quoted:
            label = _unescape(label, index, item)
        if not label:
            raise PerfDataError(index, item, "empty label")
        yield index, item, label, text[value_start:position]


def _quoted_label(text: str, position: int, index: int) -> tuple[str, int]:
    """The label quoted at `position` and the position of the `=` that must follow it."""
    parts: list[str] = []
    cursor = position + 1
    while True:
        quote = text.find("'", cursor)
        if quote < 0:
            raise PerfDataError(
                index,
                text[position : _token_end(text, position)],
                "unterminated quote in the label (close it; write a quote inside as '')",
            )
        if text.startswith("''", quote):
            parts.append(text[cursor : quote + 1])
            cursor = quote + 2
            continue
        after = quote + 1
        if after == len(text) or text[after] != "=":
            raise PerfDataError(index, text[position : _token_end(text, after)], "missing '=' after the label")
        parts.append(text[cursor:quote])
        return "".join(parts), after


def _token_end(text: str, position: int, stop: str = "") -> int:
    """The position of the first whitespace (or `stop` character) at or after `position`."""
    end = len(text)
    while position < end and not text[position].isspace() and text[position] != stop:
        position += 1
    return position


def _unescape(label: str, index: int, item: str) -> str:
    if label.replace("''", "").find("'") >= 0:
        raise PerfDataError(index, item, "lone quote in the label (quote the label and double inner quotes)")
    return label.replace("''", "'")


def _datum(index: int, item: str, label: str, fields: str, allowed_units: Collection[str]) -> PerfDatum | None:
    parts = fields.split(";")
    if len(parts) > _MAX_FIELDS:
        raise PerfDataError(index, item, f"{len(parts)} fields, at most 5: value[unit];warn;crit;min;max")
    head = parts[0]
    if not head:
        raise PerfDataError(index, item, "missing value")
    if head.startswith("U"):
        return None
    match = _VALUE.fullmatch(head)
    if match is None:
        raise PerfDataError(index, item, f"bad value {head!r}: expected {_NUMBER_HINT}, or U")
    unit = match[2]
    if unit is not None and unit not in allowed_units:
        allowed = ", ".join(sorted(allowed_units))
        raise PerfDataError(index, item, f"unit {unit!r} is not allowed (allowed: {allowed})")
    parts += [""] * (_MAX_FIELDS - len(parts))
    return PerfDatum(
        metric=label,
        value=float(match[1]),
        unit=unit,
        warn=_threshold(parts[1], "warn", index, item),
        crit=_threshold(parts[2], "crit", index, item),
        min=_bound(parts[3], "min", index, item),
        max=_bound(parts[4], "max", index, item),
    )


def _threshold(text: str, name: str, index: int, item: str) -> Threshold | None:
    if not text:
        return None
    if _PLAIN.fullmatch(text):
        return float(text)
    if text not in ("@", ":", "@:") and _RANGE.fullmatch(text):
        return text
    raise PerfDataError(index, item, f"bad {name} {text!r}: expected {_NUMBER_HINT}, or a range such as 10:20")


def _bound(text: str, name: str, index: int, item: str) -> float | None:
    if not text:
        return None
    if _PLAIN.fullmatch(text):
        return float(text)
    raise PerfDataError(index, item, f"bad {name} {text!r}: expected {_NUMBER_HINT}")
