"""Which pbehavior is in force, on which entity, at one instant (reference §6.2); pure.

`Schedule.at(...)` resolves every pbehavior at one instant; `resolve(entity)` (or `in_force`)
gives the `pbehavior_info` in force (a PbhInfo). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from engines.model.entity import Entity
from engines.model.pattern import entity_document
from engines.model.pbehavior_info import ACTIVE, PbhInfo
from engines.pbehavior.documents import PBehavior, PBehaviorReason, PBehaviorType
from engines.pbehavior.recurrence import compile_rrule, time_zone

__all__ = ["Schedule", "in_force"]

#: Wall-clock slack when asking dateutil for occurrences around an instant: a DST shift moves a
#: local time by at most an hour, so a window widened by two hours never misses an occurrence;
#: candidates are then filtered on exact unix times.
_SLACK: Final = 2 * 3600


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A pbehavior whose spans contain the instant, with the type it has there."""

    pbehavior: PBehavior
    type: PBehaviorType

    @property
    def rank(self) -> tuple[int, int, str]:
        return self.type.priority, self.pbehavior.created or 0, self.pbehavior.id


@dataclass(frozen=True)
class Schedule:
    """Every enabled pbehavior resolved at one instant; ask it about entities with `resolve`.

    Build with `Schedule.at(...)`. `candidates` are the pbehaviors in force at `now`, best
    first, whatever the entity; `problems` name pbehaviors skipped (unknown type, a rrule that
    cannot be evaluated), for the caller to log.
    """

    now: int
    candidates: tuple[_Candidate, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    default_active: str | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def at(
        cls,
        pbehaviors: Iterable[PBehavior],
        types: Iterable[PBehaviorType],
        now: int,
        tz: str | ZoneInfo,
        *,
        reasons: Iterable[PBehaviorReason] = (),
    ) -> Schedule:
        """Resolve `pbehaviors` at `now` (unix seconds), their rrules evaluated in `tz`.

        Per pbehavior (reference §6.2, Canopsis `eventComputer`): disabled ones are ignored;
        the spans are `[tstart, tstop)` without rrule, else one `[o, o + tstop - tstart)` per
        occurrence `o` of the rrule started at `tstart` (wall-clock times in `tz`, so a daily
        09:00 stays at 09:00 local across DST changes); without `tstop` it never ends once
        started. Where an exdate overlaps the span containing `now`, the exdate's type replaces
        the pbehavior's (the exdate of highest type priority when several do), or the span is
        removed when the exdate has no known type. A pbehavior of canonical type `active`
        outside its spans, on a local day where it has some, is of the *default inactive* type
        (the lowest-priority `inactive` type) for the rest of that day.
        """
        zone = tz if isinstance(tz, ZoneInfo) else time_zone(tz)
        by_id = {t.id: t for t in types}
        defaults = _defaults(by_id.values())
        found: list[_Candidate] = []
        problems: list[str] = []
        for pbehavior in pbehaviors:
            if not pbehavior.enabled:
                continue
            kind = by_id.get(pbehavior.type_)
            if kind is None:
                problems.append(f"pbehavior {pbehavior.id!r} skipped: unknown type {pbehavior.type_!r}")
                continue
            try:
                now_type = _type_at(pbehavior, kind, by_id, defaults.get("inactive"), now, zone)
            except (ValueError, OverflowError, OSError) as exc:  # a rrule dateutil cannot expand
                problems.append(f"pbehavior {pbehavior.id!r} skipped: {exc}")
                continue
            if now_type is not None:
                found.append(_Candidate(pbehavior, now_type))
        found.sort(key=lambda c: c.rank, reverse=True)
        names = {r.id: r.name for r in reasons}
        return cls(now, tuple(found), names, defaults.get(ACTIVE), tuple(problems))

    @property
    def any_in_force(self) -> bool:
        """Whether some entity may be in a pbehavior now (some candidate is not default active).

        When False, every entity resolves to None: only entities still carrying a
        `pbehavior_info` need looking at.
        """
        return any(c.type.id != self.default_active for c in self.candidates)

    def resolve(self, entity: Entity) -> PbhInfo | None:
        """The pbehavior in force on `entity` now, or None.

        Among the candidates whose entity pattern matches, the first by type priority, then
        `created`, then `_id` (all descending) wins; if its type is the default active type
        (the lowest-priority `active` type) that means "no pbehavior", as in Canopsis.
        """
        if not self.candidates:
            return None
        document = entity_document(entity)
        for candidate in self.candidates:
            if candidate.pbehavior.pattern.match(document, now=self.now) is None:
                continue
            if candidate.type.id == self.default_active:
                return None
            return _info(candidate, self.reasons, self.now)
        return None


def in_force(
    pbehaviors: Iterable[PBehavior],
    types: Iterable[PBehaviorType],
    entity: Entity,
    now: int,
    tz: str | ZoneInfo,
    *,
    reasons: Iterable[PBehaviorReason] = (),
) -> PbhInfo | None:
    """The pbehavior in force on `entity` at `now` (see `Schedule.at` and `Schedule.resolve`).

    For many entities build one `Schedule` instead: the rrules are then expanded once.
    """
    return Schedule.at(pbehaviors, types, now, tz, reasons=reasons).resolve(entity)


def _defaults(types: Iterable[PBehaviorType]) -> dict[str, str]:
    """The default active and default inactive type ids: the lowest-priority type of each
    canonical kind (Canopsis `ResolveDefaultTypes`); a kind without a type is absent."""
    lowest: dict[str, PBehaviorType] = {}
    for kind in types:
        if kind.type in (ACTIVE, "inactive"):
            known = lowest.get(kind.type)
            if known is None or kind.priority < known.priority:
                lowest[kind.type] = kind
    return {canonical: kind.id for canonical, kind in lowest.items()}


def _type_at(
    pbehavior: PBehavior,
    kind: PBehaviorType,
    types: Mapping[str, PBehaviorType],
    default_inactive: str | None,
    now: int,
    zone: ZoneInfo,
) -> PBehaviorType | None:
    """The type `pbehavior` has at `now`, or None when it is not in force then."""
    spans = list(_spans(pbehavior, now, now + 1, zone))
    if any(start <= now < stop for start, stop in spans):
        return _exdate_type(pbehavior, kind, types, now)
    if kind.type != ACTIVE or default_inactive is None:
        return None
    # An active-type pbehavior makes the rest of each of its days inactive (Canopsis
    # `computeByActiveType`): e.g. "working hours 9-18" means inactive at 20:00 that day.
    today = datetime.fromtimestamp(now, zone).date()
    day_start, day_end = _midnight(today, zone), _midnight(today + timedelta(days=1), zone)
    if any(True for _ in _spans(pbehavior, day_start, day_end, zone)):
        return types[default_inactive]
    return None


def _exdate_type(
    pbehavior: PBehavior, kind: PBehaviorType, types: Mapping[str, PBehaviorType], now: int
) -> PBehaviorType | None:
    """The type at `now` inside a span: the pbehavior's, unless an exdate covers `now`."""
    covering = [e for e in pbehavior.exdates if e.begin <= now < e.end]
    if not covering:
        return kind
    typed = [types[e.type] for e in covering if e.type is not None and e.type in types]
    return max(typed, key=lambda t: t.priority) if typed else None


def _spans(pbehavior: PBehavior, start: int, stop: int, zone: ZoneInfo) -> Iterator[tuple[int, float]]:
    """The spans `[begin, end)` of `pbehavior` (exdates ignored) that overlap `[start, stop)`."""
    end: float
    if not pbehavior.rrule:
        end = float("inf") if pbehavior.tstop is None else pbehavior.tstop
        if pbehavior.tstart < stop and end > start:
            yield pbehavior.tstart, end
        return
    rule = compile_rrule(pbehavior.rrule, datetime.fromtimestamp(pbehavior.tstart, zone))
    if pbehavior.tstop is None:  # open-ended: in force for ever from the first occurrence
        first = next(iter(rule), None)
        if first is not None and int(first.timestamp()) < stop:
            yield int(first.timestamp()), float("inf")
        return
    duration = pbehavior.tstop - pbehavior.tstart
    after = datetime.fromtimestamp(start - duration - _SLACK, zone)
    before = datetime.fromtimestamp(stop + _SLACK, zone)
    for occurrence in rule.between(after, before, inc=True):
        begin = int(occurrence.timestamp())
        if begin < stop and begin + duration > start:
            yield begin, begin + duration


def _midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp())


def _info(candidate: _Candidate, reasons: Mapping[str, str], now: int) -> PbhInfo:
    pbehavior, kind = candidate.pbehavior, candidate.type
    return PbhInfo(
        timestamp=now,
        id=pbehavior.id,
        name=pbehavior.name,
        author=pbehavior.author,
        reason=pbehavior.reason,
        reason_name=reasons.get(pbehavior.reason, pbehavior.reason),
        type=kind.id,
        type_name=kind.name,
        canonical_type=kind.type,
        icon_name=kind.icon_name,
        color=pbehavior.color or kind.color,
    )
