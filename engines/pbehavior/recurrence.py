"""Recurrence rules (RFC 5545) and time zones as engine-pbehavior reads them: compiled once,
with a floating UNTIL read in the rule's own zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr

__all__ = ["compile_rrule", "time_zone"]

_UNTIL: Final = re.compile(r"(UNTIL=)(\d{8}(?:T\d{6})?)(?![0-9TZ])", re.IGNORECASE)


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. "Europe/Paris"); ValueError naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)") from None


def compile_rrule(text: str, dtstart: datetime) -> rrule | rruleset:
    """`text` ("FREQ=…" or "RRULE:FREQ=…") expanded from the aware `dtstart`; ValueError if bad.

    dateutil wants UNTIL in UTC when DTSTART has a zone; a floating UNTIL (no "Z") is read
    as a wall-clock time in `dtstart`'s zone and converted.
    """
    zone = dtstart.tzinfo

    def to_utc(match: re.Match[str]) -> str:
        raw = match.group(2)
        local = datetime.strptime(raw, "%Y%m%dT%H%M%S" if "T" in raw.upper() else "%Y%m%d")
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        return f"{match.group(1)}{moment:%Y%m%dT%H%M%S}Z"

    try:
        rule = rrulestr(_UNTIL.sub(to_utc, text.strip()), dtstart=dtstart)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"invalid rrule {text!r}: {exc}") from None
    assert isinstance(rule, (rrule, rruleset))
    return rule
