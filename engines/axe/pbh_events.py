"""What pbehavior events do to an alarm, and a new alarm's pbehavior (reference §5.4, §5.1).

Pure, like lifecycle.py, which dispatches to these: each `enter`/`leave`/`leave_and_enter`
takes the open alarm and the event and returns the edited copy with its change type, or None
when its guard refuses the event. Canopsis `lib/axe/event/pbh_*.go` and `check.go` (creation).
"""

from __future__ import annotations

from typing import Any, Final

from engines.model.alarm import Alarm, AlarmValue, ChangeType, Step, StepType
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pbehavior_info import PbhInfo, in_pbehavior

__all__ = ["PBH_CHANGES", "enter", "enter_at_creation", "leave", "leave_and_enter"]

#: event type → change type of the pbehavior events.
PBH_CHANGES: Final[dict[str, ChangeType]] = {
    "pbhenter": ChangeType.PBH_ENTER,
    "pbhleave": ChangeType.PBH_LEAVE,
    "pbhleaveandenter": ChangeType.PBH_LEAVE_AND_ENTER,
}

_Edit = tuple[Alarm, str] | None


def enter(alarm: Alarm, event: Event) -> _Edit:
    """pbhenter: an alarm without pbehavior enters the event's.

    Sets `v.pbehavior_info` and appends a pbhenter step (its canonical type, icon and colour in
    the step). Entering an inactive type (maintenance, pause, inactive) starts an inactive
    interval at the event's time (closing a running one, e.g. a snooze's, into
    `inactive_duration`) and stops not-acked tracking (`not_acked_since` unset).
    """
    info = PbhInfo.read(event.pbehavior_info)
    if info is None or in_pbehavior(alarm.value.pbehavior_info):
        return None
    draft = alarm.edited()
    value = draft.value
    value.steps.append(_step(StepType.PBH_ENTER, event, info))
    value.pbehavior_info = dict(event.pbehavior_info or {})
    if info.is_inactive:
        _restart_inactive(value, event.timestamp, inactive=True)
        draft.not_acked_since = None
    return draft, ChangeType.PBH_ENTER


def leave(alarm: Alarm, event: Event) -> _Edit:
    """pbhleave: the alarm leaves its pbehavior.

    Removes `v.pbehavior_info`, appends a pbhleave step (with the type left) and sets
    `v.last_update_date`. Leaving an inactive type adds the time spent in it to
    `pbh_inactive_duration` and the running inactive interval to `inactive_duration`; a new
    interval starts only if the alarm is still snoozed; not-acked tracking resumes unless acked.
    """
    before = PbhInfo.read(alarm.value.pbehavior_info)
    if in_pbehavior(event.pbehavior_info) or before is None:
        return None
    draft = alarm.edited()
    value = draft.value
    value.steps.append(_step(StepType.PBH_LEAVE, event, before))
    value.pbehavior_info = None
    value.last_update_date = event.timestamp
    if before.is_inactive:
        _bank_pbehavior(value, before, event.timestamp)
        _restart_inactive(value, event.timestamp, inactive=value.snooze is not None)
        if not alarm.is_acked:
            draft.not_acked_since = event.timestamp
    return draft, ChangeType.PBH_LEAVE


def leave_and_enter(alarm: Alarm, event: Event) -> _Edit:
    """pbhleaveandenter: the alarm goes from its pbehavior to another one.

    A pbhleave step (type left) and a pbhenter step (type entered), `v.pbehavior_info`
    replaced. Time spent in an inactive type left goes to `pbh_inactive_duration`; the
    running inactive interval is closed and a new one starts if the new type is inactive or
    the alarm is snoozed. Not-acked tracking follows the new type.
    """
    info = PbhInfo.read(event.pbehavior_info)
    before = PbhInfo.read(alarm.value.pbehavior_info)
    if info is None or before is None or before.same_as(info):
        return None
    draft = alarm.edited()
    value = draft.value
    value.steps.append(_step(StepType.PBH_LEAVE, event, before))
    value.steps.append(_step(StepType.PBH_ENTER, event, info))
    value.pbehavior_info = dict(event.pbehavior_info or {})
    if before.is_inactive:
        _bank_pbehavior(value, before, event.timestamp)
    entering_inactive = info.is_inactive
    _restart_inactive(value, event.timestamp, inactive=entering_inactive or value.snooze is not None)
    if entering_inactive:
        draft.not_acked_since = None
    elif before.is_inactive and not alarm.is_acked:
        draft.not_acked_since = event.timestamp
    return draft, ChangeType.PBH_LEAVE_AND_ENTER


def enter_at_creation(draft: Alarm, entity: Entity, now: int) -> bool:
    """Put a new alarm (`draft`, edited in place) in the pbehavior its entity is in, if any.

    As Canopsis' check processor does: the entity's `pbehavior_info` is copied with
    `timestamp` = `now`, a pbhenter step is appended (author: the pbehavior's author, message
    "Title: … Type: … Reason: …", initiator system); an inactive type starts the alarm
    inactive (`inactive_start` = `now`, no `not_acked_since`). Returns whether it did, in which
    case the change type is `createandpbhenter`.
    """
    info = PbhInfo.read(entity.pbehavior_info)
    if info is None:
        return False
    value = draft.value
    value.pbehavior_info = {**(entity.pbehavior_info or {}), "timestamp": now}
    value.steps.append(
        Step(
            type=StepType.PBH_ENTER,
            timestamp=now,
            author=info.author or SYSTEM_AUTHOR,
            message=info.message,
            initiator=Initiator.SYSTEM,
            **_step_fields(info),
        )
    )
    if info.is_inactive:
        value.inactive_start = now
        draft.not_acked_since = None
    return True


def _step(kind: StepType, event: Event, info: PbhInfo) -> Step:
    """A pbh step for `event` describing the pbehavior `info` (entered or left)."""
    return Step.from_event(kind, event, event.author or SYSTEM_AUTHOR, **_step_fields(info))


def _step_fields(info: PbhInfo) -> dict[str, Any]:
    return {"pbehavior_canonical_type": info.canonical_type, "icon_name": info.icon_name, "color": info.color}


def _bank_pbehavior(value: AlarmValue, left: PbhInfo, at: int) -> None:
    """Add the time spent in the inactive pbehavior `left` to `pbh_inactive_duration`."""
    since = left.timestamp
    if since is not None and since <= at:
        value.pbh_inactive_duration += at - since


def _restart_inactive(value: AlarmValue, at: int, *, inactive: bool) -> None:
    """Close the running inactive interval into `inactive_duration`; open one at `at` if
    `inactive`."""
    if value.inactive_start is not None and value.inactive_start <= at:
        value.inactive_duration += at - value.inactive_start
    value.inactive_start = at if inactive else None
