"""The rule documents axe reads: `resolve_rule` and `flapping_rule` (reference §5.3, §5.6).

A rule has an id, a name, a priority, a duration and two patterns, compiled once when read: a
malformed pattern refuses the whole rule, so the store can skip it and say why.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from engines.model.alarm import Alarm
from engines.model.entity import Entity
from engines.model.pattern import Pattern, entity_document

__all__ = [
    "DEFAULT_RESOLVE_RULE",
    "DEFAULT_RESOLVE_RULE_ID",
    "AlarmView",
    "DurationUnit",
    "EntityView",
    "FlappingRule",
    "PatternRule",
    "ResolveRule",
    "RuleDuration",
    "alarm_view",
    "entity_view",
]

#: Canopsis matches its shipped rule by this `_id` (`resolverule.defaultRule`), patterns or not.
DEFAULT_RESOLVE_RULE_ID: Final = "default-rule"

RawPattern = list[Any]  # groups: lists of conditions, as Canopsis stores them; Pattern.parse checks them
#: Documents built on first call and remembered: an alarm's, with its steps, is not free.
AlarmView = Callable[[], Mapping[str, Any]]
EntityView = Callable[[], Mapping[str, Any] | None]

_FIXED_SECONDS: Final[dict[str, int]] = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86_400,
    "w": 7 * 86_400,
}


class DurationUnit(StrEnum):
    """Units of a rule duration, as Canopsis spells them ("M" months, "m" minutes)."""

    SECOND = "s"
    MINUTE = "m"
    HOUR = "h"
    DAY = "d"
    WEEK = "w"
    MONTH = "M"
    YEAR = "y"


class RuleDuration(BaseModel):
    """`{value, unit}` (Canopsis `DurationWithUnit`); months and years are calendar ones, in UTC."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True)

    value: int = Field(ge=0)
    unit: DurationUnit

    def before(self, now: int) -> int:
        """`now` minus this duration, in unix seconds.

        Months and years move the calendar date and let an impossible day roll over into the
        next month, as Go's `AddDate` does (31 March minus one month is 3 March, or 2 March in
        a leap year).
        """
        if self.unit in _FIXED_SECONDS:
            return now - self.value * _FIXED_SECONDS[self.unit]
        months = self.value * (12 if self.unit == DurationUnit.YEAR else 1)
        moment = datetime.fromtimestamp(now, UTC)
        year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
        first = moment.replace(year=year, month=month0 + 1, day=1)
        shifted = first + timedelta(days=moment.day - 1)
        return calendar.timegm(shifted.utctimetuple())


class PatternRule(BaseModel):
    """What resolve and flapping rules share: identity, priority, duration and two patterns.

    Patterns are Canopsis' JSON (a list of groups of conditions) and are compiled once, when
    the rule is read: a malformed pattern refuses the whole rule (pydantic.ValidationError),
    so the store can skip it and say why instead of failing at match time.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    id: str = Field(alias="_id")
    name: str
    description: str = ""
    duration: RuleDuration
    priority: int = 0
    entity_pattern: RawPattern | None = None
    alarm_pattern: RawPattern | None = None

    _entity: Pattern = PrivateAttr(default_factory=Pattern)
    _alarm: Pattern = PrivateAttr(default_factory=Pattern)

    @model_validator(mode="after")
    def _compile_patterns(self) -> Self:
        self._entity = Pattern.parse(self.entity_pattern, what="entity_pattern")
        self._alarm = Pattern.parse(self.alarm_pattern, what="alarm_pattern")
        return self

    def matches(self, alarm: Alarm, entity: Entity | None, now: int) -> bool:
        """Whether the rule applies to `alarm` and its `entity` (None if unknown).

        As in Canopsis `match.Match`: a rule with no pattern at all matches nothing (an empty
        rule must not silently apply to every alarm); otherwise each non-empty pattern must
        match, and an empty one is ignored. An entity pattern never matches a missing entity.
        """
        return self.matches_views(alarm_view(alarm), entity_view(entity), now)

    def matches_views(self, alarm: AlarmView, entity: EntityView, now: int) -> bool:
        if self._entity.is_empty and self._alarm.is_empty:
            return False
        if not self._entity.is_empty:
            document = entity()
            if document is None or self._entity.match(document, now=now) is None:
                return False
        return self._alarm.is_empty or self._alarm.match(alarm(), now=now) is not None

    def to_document(self) -> dict[str, Any]:
        """The stored rule document."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResolveRule(PatternRule):
    """A `resolve_rule` document: resolve OK alarms whose last step is older than `duration`."""

    def matches_views(self, alarm: AlarmView, entity: EntityView, now: int) -> bool:
        # Canopsis' shipped rule matches everything, whatever its patterns.
        return self.id == DEFAULT_RESOLVE_RULE_ID or super().matches_views(alarm, entity, now)


class FlappingRule(PatternRule):
    """A `flapping_rule` document: flapping above `freq_limit` state switches within `duration`."""

    freq_limit: int = Field(ge=0)
    enabled: bool = True


#: The rule Canopsis installs (`database/fixtures/alarm.yml`): every OK alarm is resolved one
#: minute after its last step. It matches by `_id`, so it needs no pattern.
DEFAULT_RESOLVE_RULE: Final = ResolveRule.model_validate(
    {"_id": DEFAULT_RESOLVE_RULE_ID, "name": "Default rule", "priority": 0, "duration": {"value": 1, "unit": "m"}}
)


def alarm_view(alarm: Alarm) -> AlarmView:
    return functools.cache(alarm.to_document)


def entity_view(entity: Entity | None) -> EntityView:
    return functools.cache(lambda: None if entity is None else entity_document(entity))
