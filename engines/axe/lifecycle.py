"""The alarm state machine: what one event does to an entity's open alarm (reference §5.4–§5.7).

Pure: `apply_event` takes the open alarm (or None), the event, the entity, the rules, `now` and
the id a new alarm would get, and returns an `AlarmChange` (defined with the alarm model in
`engines.model.alarm`, re-exported here); it never mutates its arguments.
The engine reads, calls it, writes `change.alarm` when `change.modified` (into
`resolved_alarms` too when `change.resolved`) and forwards the event when `change.forward`.

Over 400 lines on purpose: the event-type table (`_OPERATIONS`) and the handlers it names are
the whole state machine, read top to bottom; pbh events are in pbh_events.py, statuses in
alarm_status.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engines.axe import pbh_events
from engines.axe.alarm_status import rule_message
from engines.axe.rules import Rules, status_for
from engines.model.address import SYSTEM_CONNECTOR, entity_connector
from engines.model.alarm import (
    LONG_OUTPUT_HISTORY_LIMIT,
    Alarm,
    AlarmChange,
    AlarmValue,
    ChangeType,
    State,
    Status,
    Step,
    StepType,
    alarm_tags,
    display_name,
    steps_allowed,
)
from engines.model.entity import Entity, EntityType
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pbehavior_info import PbhInfo, is_pbehavior_inactive

__all__ = ["AlarmChange", "apply_event"]

_TICKET_FIELDS: Final = (
    "ticket",
    "ticket_url",
    "ticket_comment",
    "ticket_system_name",
    "ticket_meta_alarm_id",
    "ticket_rule_id",
    "ticket_rule_name",
    "ticket_data",
)


def apply_event(
    alarm: Alarm | None, event: Event, entity: Entity | None, rules: Rules, now: int, new_id: str
) -> AlarmChange:
    """Apply `event` to `alarm`, the entity's open alarm (a resolved one counts as none).

    `entity` is the event's entity as che left it (None if unknown); `new_id` the `_id` a
    created alarm gets. Event types axe does not handle (idle and Pro types among them) change
    nothing and are not forwarded, as in Canopsis; neither are events whose guard fails (an ack
    on an acked alarm, a cancel on a cancelled one…), events without an open alarm, and events
    for a missing or disabled entity (disabled entities still get activate, updatestatus and
    resolve_*). A processed check is forwarded, with or without an alarm; so is a pbehavior
    event for an enabled entity without alarm (its change type set, no alarm), as in Canopsis,
    where che has already recorded the entity's pbehavior.
    """
    if alarm is not None and alarm.is_resolved:
        alarm = None
    if event.event_type == "check":
        return _check(alarm, event, entity, rules, now, new_id)
    operation = _OPERATIONS.get(event.event_type)
    if operation is None or entity is None or alarm is None:
        pbh_change = pbh_events.PBH_CHANGES.get(event.event_type)
        if alarm is None and entity is not None and entity.enabled and pbh_change is not None:
            return AlarmChange(None, pbh_change, previous_state_change=now, previous_status_change=now, forward=True)
        return _unchanged(alarm, now)
    handler, needs_enabled = operation
    if needs_enabled and not entity.enabled:
        return _unchanged(alarm, now)
    edit = handler(alarm, event, entity, rules, now)
    # Canopsis guards each update with the step limit: a refused step refuses the update.
    if edit is None or not steps_allowed(edit[0].value.steps, len(alarm.value.steps)):
        return _unchanged(alarm, now)
    return _changed(alarm, *edit)


# --- check ---------------------------------------------------------------------------------------


def _check(
    alarm: Alarm | None, event: Event, entity: Entity | None, rules: Rules, now: int, new_id: str
) -> AlarmChange:
    if entity is None or not entity.enabled or event.state is None:
        return _unchanged(alarm, now)
    # A computed entity state (che's `state_info`) only changes through system events.
    if getattr(entity, "state_info", None) and event.initiator != Initiator.SYSTEM:
        return _unchanged(alarm, now)
    if alarm is not None:
        return _update(alarm, event, event.state, entity, rules, now)
    if event.state == State.OK:
        return _unchanged(None, now, forward=True)
    return _create(event, event.state, entity, rules, now, new_id)


def _create(event: Event, state: State, entity: Entity, rules: Rules, now: int, new_id: str) -> AlarmChange:
    author = _check_author(event)
    state_step = Step.from_event(StepType.STATE_INCREASE, event, author, value=state)
    connector, connector_name = _connector_of(event, entity)
    component, resource = "", ""
    match entity.type:
        case EntityType.RESOURCE:
            component, resource = entity.component or "", entity.name
        case EntityType.COMPONENT | EntityType.SERVICE:
            component = entity.id
        case EntityType.CONNECTOR:
            connector, _, connector_name = entity.id.partition("/")
    output, long_output = event.output or "", event.long_output or ""
    value = AlarmValue(
        state=state_step,
        status=state_step,  # the status step replaces it below
        component=component,
        resource=resource,
        connector=connector,
        connector_name=connector_name,
        creation_date=now,
        display_name=display_name(new_id),
        output=output,
        long_output=long_output,
        initial_output=output,
        initial_long_output=long_output,
        long_output_history=[long_output],
        last_update_date=event.timestamp,
        last_event_date=now,
        events_count=1,
        total_state_changes=1,
    )
    tags = alarm_tags(event.tags)
    created = Alarm(
        id=new_id,
        time=now,
        entity_id=entity.id,
        entity=entity.to_document(),
        value=value,
        tags=tags,
        etags=list(tags),
        not_acked_since=now,
    )
    # As in Canopsis the first status is computed before the state step is in `steps`, so a
    # new alarm is never flapping on its first event, whatever the rule's limit.
    status, rule_name = status_for(created, entity, rules, now)
    message = rule_message(output, rule_name)
    value.status = Step.from_event(StepType.STATUS_INCREASE, event, author, value=status, message=message)
    value.steps = [state_step, value.status]
    # An entity already in a pbehavior (che recorded it) puts its new alarm in it at once.
    entered = pbh_events.enter_at_creation(created, entity, now)
    return AlarmChange(
        created,
        ChangeType.CREATE_AND_PBH_ENTER if entered else ChangeType.CREATE,
        previous_state_change=now,
        previous_status_change=now,
        forward=True,
        modified=True,
    )


def _update(alarm: Alarm, event: Event, state: State, entity: Entity, rules: Rules, now: int) -> AlarmChange:
    draft = alarm.edited()
    value = draft.value
    author = _check_author(event)
    output, long_output = event.output or "", event.long_output or ""
    value.output, value.long_output = output, long_output
    value.last_event_date = event.timestamp
    value.events_count += 1
    if not value.long_output_history or value.long_output_history[-1] != long_output:
        value.long_output_history.append(long_output)
        del value.long_output_history[:-LONG_OUTPUT_HISTORY_LIMIT]

    change: str = ChangeType.NONE
    # An operator's changestate holds the state until the entity reports OK.
    if state != alarm.state and (not alarm.is_state_locked or state == State.OK):
        kind = StepType.STATE_DECREASE if state < alarm.state else StepType.STATE_INCREASE
        value.state = Step.from_event(kind, event, author, alarm=alarm, value=state)
        value.change_state = None
        value.steps.append(value.state)
        value.last_update_date = event.timestamp
        value.total_state_changes += 1
        change = ChangeType(kind.value)

    status, rule_name = status_for(draft, entity, rules, now)
    if status != alarm.status:
        message = rule_message(output, rule_name)
        value.status = _status_step(alarm, event, author, status, message)
        value.steps.append(value.status)
        value.state_changes_since_status_update = 0
    elif change:
        value.state_changes_since_status_update += 1

    if not steps_allowed(value.steps, len(alarm.value.steps)):
        # The step limit refuses the whole update, as in Canopsis: a full alarm ignores checks
        # until one brings it back to OK. The check still goes on to the next engine.
        return _unchanged(alarm, now, forward=True)
    for tag in alarm_tags(event.tags):
        if tag not in draft.etags:
            draft.etags.append(tag)
            if tag not in draft.tags:
                draft.tags.append(tag)
    return _changed(alarm, draft, change)


# --- operator and automation events ---------------------------------------------------------------
# Each returns the edited copy and the change type, or None when its guard refuses the event.

_Edit = tuple[Alarm, str] | None


def _ack(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if alarm.is_acked and not rules.allow_double_ack:
        return None
    draft = alarm.edited()
    draft.value.ack, draft.not_acked_since = _add_step(draft, StepType.ACK, event), None
    return draft, ChangeType.DOUBLE_ACK if alarm.is_acked else ChangeType.ACK


def _ack_remove(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if not alarm.is_acked:
        return None
    draft = alarm.edited()
    _add_step(draft, StepType.ACK_REMOVE, event)
    draft.value.ack, draft.not_acked_since = None, event.timestamp
    return draft, ChangeType.ACK_REMOVE


def _snooze(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if event.duration is None or alarm.value.snooze is not None:
        return None
    draft = alarm.edited()
    value = draft.value
    value.snooze = _add_step(draft, StepType.SNOOZE, event, value=event.timestamp + event.duration)
    if value.inactive_start is not None:  # already inactive (pbehavior): bank that interval
        value.inactive_duration += event.timestamp - value.inactive_start
    value.inactive_start = event.timestamp
    return draft, ChangeType.SNOOZE


def _unsnooze(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if alarm.value.snooze is None:
        return None
    draft = alarm.edited()
    value = draft.value
    _add_step(draft, StepType.UNSNOOZE, event)
    value.snooze_duration += event.timestamp - alarm.value.snooze.timestamp
    if value.inactive_start is not None:
        value.inactive_duration += event.timestamp - value.inactive_start
    # Still inactive under a maintenance-like pbehavior: a new inactive interval starts.
    value.inactive_start = event.timestamp if is_pbehavior_inactive(value.pbehavior_info) else None
    value.snooze, value.last_update_date = None, event.timestamp
    return draft, ChangeType.UNSNOOZE


def _cancel(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if alarm.is_cancelled:
        return None
    draft = alarm.edited()
    _set_status(draft, alarm, event, Status.CANCELLED, None)
    draft.value.canceled = draft.value.status
    return draft, ChangeType.CANCEL


def _uncancel(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if not alarm.is_cancelled:
        return None
    draft = alarm.edited()
    draft.value.canceled = None
    _set_status(draft, alarm, event, *status_for(draft, entity, rules, now))
    return draft, ChangeType.UNCANCEL


def _update_status(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    status, rule_name = status_for(alarm, entity, rules, now)
    if status == alarm.status:
        return None
    draft = alarm.edited()
    _set_status(draft, alarm, event, status, rule_name)
    return draft, ChangeType.UPDATE_STATUS


def _change_state(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    state = event.state
    if state is None or (state == State.OK and not rules.allow_change_severity_to_info):
        return None
    # An OK alarm cannot be forced, nor a lock re-applied with the same state.
    if alarm.state == State.OK or (alarm.state == state and alarm.is_state_locked):
        return None
    draft = alarm.edited()
    draft.value.state = draft.value.change_state = _add_step(draft, StepType.CHANGE_STATE, event, value=state)
    status, rule_name = status_for(draft, entity, rules, now)
    if status != alarm.status:
        _set_status(draft, alarm, event, status, rule_name)
    return draft, ChangeType.CHANGE_STATE


def _comment(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    draft = alarm.edited()
    draft.value.last_comment = _add_step(draft, StepType.COMMENT, event)
    return draft, ChangeType.COMMENT


def _assoc_ticket(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    draft = alarm.edited()
    fields = {name: getattr(event, name) for name in _TICKET_FIELDS}
    draft.value.ticket = _add_step(draft, StepType.ASSOC_TICKET, event, **fields)
    draft.value.tickets.append(draft.value.ticket)
    draft.value.last_update_date = event.timestamp
    return draft, ChangeType.ASSOC_TICKET


def _activate(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    if alarm.value.activation_date is not None:
        return None
    draft = alarm.edited()
    _add_step(draft, StepType.ACTIVATE, event)
    draft.value.activation_date = draft.value.last_update_date = event.timestamp
    return draft, ChangeType.ACTIVATE


def _resolve(alarm: Alarm, event: Event, entity: Entity, rules: Rules, now: int) -> _Edit:
    """Close the alarm at `now`: resolve step and final durations (reference §5.6)."""
    if not _resolvable(alarm, event, entity):
        return None
    draft = alarm.edited()
    value = draft.value
    _add_step(draft, StepType.RESOLVE, event, timestamp=now)
    value.resolved = now
    value.duration = now - alarm.time
    value.current_state_duration = now - value.state.timestamp
    # Intervals still open are closed into their counters.
    if value.inactive_start is not None:
        value.inactive_duration += now - value.inactive_start
    if value.snooze is not None:
        value.snooze_duration += now - value.snooze.timestamp
    pbehavior = PbhInfo.read(value.pbehavior_info)
    if pbehavior is not None and pbehavior.is_inactive and pbehavior.timestamp is not None:
        value.pbh_inactive_duration += now - pbehavior.timestamp
    value.active_duration = value.duration - value.inactive_duration
    draft.not_acked_since = None
    return draft, ChangeType.RESOLVE


def _resolvable(alarm: Alarm, event: Event, entity: Entity) -> bool:
    """The guard of each resolve type: the alarm is OK, cancelled, or its entity was deleted."""
    if event.event_type == "resolve_close":
        return alarm.state == State.OK
    if event.event_type == "resolve_cancel":
        return alarm.is_cancelled
    # resolve_deleted: only for an entity che soft-deleted and not yet resolved for.
    already = getattr(entity, "resolve_deleted_event_processed", None)
    return entity.soft_deleted is not None and not already


_Operation = Callable[[Alarm, Event, Entity, Rules, int], _Edit]


def _on_alarm(edit: Callable[[Alarm, Event], _Edit]) -> _Operation:
    """An operation from an edit that needs only the alarm and the event (pbehavior.py's)."""
    return lambda alarm, event, entity, rules, now: edit(alarm, event)


#: event type → (operation, whether a disabled entity stops it). Canopsis ignores operator
#: events on disabled entities but still activates, recomputes and resolves their alarms.
_OPERATIONS: Final[dict[str, tuple[_Operation, bool]]] = {
    "ack": (_ack, True),
    "ackremove": (_ack_remove, True),
    "snooze": (_snooze, True),
    "unsnooze": (_unsnooze, True),
    "cancel": (_cancel, True),
    "uncancel": (_uncancel, True),
    "changestate": (_change_state, True),
    "comment": (_comment, True),
    "assocticket": (_assoc_ticket, True),
    "activate": (_activate, False),
    "updatestatus": (_update_status, False),
    "resolve_close": (_resolve, False),
    "resolve_cancel": (_resolve, False),
    "resolve_deleted": (_resolve, False),
    "pbhenter": (_on_alarm(pbh_events.enter), True),
    "pbhleave": (_on_alarm(pbh_events.leave), True),
    "pbhleaveandenter": (_on_alarm(pbh_events.leave_and_enter), True),
}


# --- helpers -------------------------------------------------------------------------------------


def _set_status(draft: Alarm, alarm: Alarm, event: Event, status: int, rule_name: str | None) -> None:
    """Record a new status on `draft`: status step, `v.status`, counter reset, update date."""
    message = rule_message(event.output or "", rule_name)
    step = _status_step(alarm, event, _author(event), status, message)
    draft.value.steps.append(step)
    draft.value.status = step
    draft.value.state_changes_since_status_update = 0
    draft.value.last_update_date = event.timestamp


def _status_step(alarm: Alarm, event: Event, author: str, status: int, message: str) -> Step:
    kind = StepType.STATUS_DECREASE if status < alarm.status else StepType.STATUS_INCREASE
    return Step.from_event(kind, event, author, alarm=alarm, value=status, message=message)


def _add_step(draft: Alarm, kind: StepType, event: Event, **fields: Any) -> Step:
    """Append a step authored by the event's author to `draft`, and return it."""
    step = Step.from_event(kind, event, _author(event), alarm=draft, **fields)
    draft.value.steps.append(step)
    return step


def _check_author(event: Event) -> str:
    """Author of check steps: the connector for external events (Canopsis), else the author."""
    if event.initiator == Initiator.EXTERNAL:
        return f"{event.connector}.{event.connector_name}"
    return event.author or SYSTEM_AUTHOR


def _author(event: Event) -> str:
    """Author of other steps: the event's author, which fifo defaults for external events."""
    if event.author:
        return event.author
    return f"{event.connector}.{event.connector_name}" if event.initiator == Initiator.EXTERNAL else SYSTEM_AUTHOR


def _connector_of(event: Event, entity: Entity) -> tuple[str, str]:
    """Connector of a new alarm: the event's, except for engines', which use the entity's."""
    if event.initiator != Initiator.SYSTEM:
        return event.connector, event.connector_name
    return entity_connector(entity) or (SYSTEM_CONNECTOR, SYSTEM_CONNECTOR)


def _changed(before: Alarm, after: Alarm, change: str) -> AlarmChange:
    resolved = change == ChangeType.RESOLVE
    return _result(before, after, change, resolved=resolved, forward=True, modified=True)


def _unchanged(alarm: Alarm | None, now: int, *, forward: bool = False) -> AlarmChange:
    if alarm is None:
        return AlarmChange(None, previous_state_change=now, previous_status_change=now, forward=forward)
    return _result(alarm, alarm, ChangeType.NONE, forward=forward)


def _result(before: Alarm, after: Alarm, change: str, **flags: bool) -> AlarmChange:
    state, status = before.value.state, before.value.status
    return AlarmChange(
        after,
        change,
        previous_state=before.state,
        previous_status=before.status,
        previous_state_change=state.timestamp,
        previous_status_change=status.timestamp,
        previous_pbehavior_info=before.value.pbehavior_info,
        **flags,
    )
