"""axe and pbehaviors: pbhenter, pbhleave, pbhleaveandenter (reference §5.4) and alarms created inside one."""

from __future__ import annotations

from typing import Any, Final

import pytest

from engines.axe.lifecycle import AlarmChange, apply_event
from engines.axe.rules import Rules
from engines.model.alarm import STEPS_HARD_LIMIT, Alarm, Step
from engines.model.entity import Entity
from engines.model.event import Event

NOW: Final = 1_764_358_800
HOUR: Final = 3600
ENTITY_ID: Final = "disk/srv01"
RULES: Final = Rules()
T0: Final = NOW - 10 * HOUR  # the alarm is created then
T1: Final = NOW - 4 * HOUR  # it enters a pbehavior then
T2: Final = NOW - HOUR  # and leaves or switches then

CHECK: Final[dict[str, Any]] = {
    "event_type": "check",
    "source_type": "resource",
    "connector": "centreon",
    "connector_name": "centreon-1",
    "component": "srv01",
    "resource": "disk",
    "output": "Disk 95%",
}


def info(kind: str = "maintenance", at: int = T1, **fields: Any) -> dict[str, Any]:
    """A pbehavior_info of canonical type `kind`, entered at `at`."""
    icons = {"maintenance": "build", "pause": "pause", "active": "", "inactive": "brightness_3"}
    return {
        "timestamp": at,
        "id": f"pbh-{kind}",
        "name": f"{kind} window",
        "reason": "default_reason",
        "reason_name": "Default",
        "type": f"default_{kind}",
        "type_name": f"Default {kind}",
        "canonical_type": kind,
        "icon_name": icons[kind],
        "color": f"#{kind[:3]}",
        "author": "alice",
        **fields,
    }


MAINTENANCE: Final = info("maintenance")
PAUSE: Final = info("pause", at=T2)
ACTIVE: Final = info("active", at=T2)


def entity(**changes: Any) -> Entity:
    document = {
        "_id": ENTITY_ID,
        "name": "disk",
        "type": "resource",
        "created": 0,
        "connector": "centreon/centreon-1",
        "component": "srv01",
        **changes,
    }
    return Entity.model_validate(document)


def event(event_type: str, at: int, **fields: Any) -> Event:
    return Event.model_validate({**CHECK, "event_type": event_type, "timestamp": at, **fields}, context={"now": NOW})


def pbh(event_type: str, pbehavior: dict[str, Any] | None = None, at: int = T1) -> Event:
    """A pbh event as engine-pbehavior sends it (through che)."""
    fields: dict[str, Any] = {
        "connector": "pbehavior",
        "connector_name": "pbehavior",
        "initiator": "system",
        "author": "system",
        "output": f"Title: {(pbehavior or {}).get('name')}.",
    }
    if pbehavior is not None:
        fields["pbehavior_info"] = pbehavior
    return event(event_type, at, **fields)


def apply(alarm: Alarm | None, ev: Event, ent: Entity | None = None, now: int | None = None) -> AlarmChange:
    return apply_event(alarm, ev, ent or entity(), RULES, ev.timestamp if now is None else now, "alarm-1")


def created(ent: Entity | None = None, at: int = T0) -> AlarmChange:
    return apply(None, event("check", at, state=2), ent, now=at)


def new_alarm() -> Alarm:
    alarm = created().alarm
    assert alarm is not None
    return alarm


def after(alarm: Alarm, *events: Event) -> Alarm:
    for ev in events:
        change = apply(alarm, ev)
        assert change.modified and change.alarm is not None, f"{ev.event_type} was refused"
        alarm = change.alarm
    return alarm


def in_maintenance() -> Alarm:
    return after(new_alarm(), pbh("pbhenter", MAINTENANCE))


def step_fields(step: Step) -> dict[str, Any]:
    return step.model_dump(by_alias=True, exclude_none=True)


def refused(change: AlarmChange, alarm: Alarm | None) -> bool:
    return change.is_noop and change.type == "" and change.alarm is alarm


# --- pbhenter --------------------------------------------------------------------------------------


def test_pbhenter_inactive_type_sets_info_step_and_starts_inactive_interval() -> None:
    alarm = new_alarm()
    change = apply(alarm, pbh("pbhenter", MAINTENANCE))

    assert (change.type, change.forward, change.modified) == ("pbhenter", True, True)
    assert change.alarm is not None
    value = change.alarm.value
    assert value.pbehavior_info == MAINTENANCE
    assert step_fields(value.steps[-1]) == {
        "_t": "pbhenter",
        "t": T1,
        "a": "system",
        "m": "Title: maintenance window.",
        "val": 0,
        "initiator": "system",
        "pbehavior_canonical_type": "maintenance",
        "icon_name": "build",
        "color": "#mai",
    }
    assert (value.inactive_start, change.alarm.not_acked_since) == (T1, None)
    assert alarm.value.pbehavior_info is None and alarm.not_acked_since == T0  # input untouched
    assert change.to_event_field()["PreviousPbehaviorTypeID"] == ""


def test_pbhenter_active_type_sets_info_but_keeps_the_alarm_active() -> None:
    change = apply(new_alarm(), pbh("pbhenter", ACTIVE, at=T2))

    assert change.type == "pbhenter" and change.alarm is not None
    assert change.alarm.value.pbehavior_info == ACTIVE
    assert change.alarm.value.steps[-1].model_extra == {
        "pbehavior_canonical_type": "active",
        "icon_name": "",
        "color": "#act",
    }
    assert (change.alarm.value.inactive_start, change.alarm.not_acked_since) == (None, T0)


def test_pbhenter_while_snoozed_banks_the_snooze_interval_and_restarts_it() -> None:
    snoozed = after(new_alarm(), event("snooze", T0 + 100, duration=HOUR, initiator="user", author="bob"))
    alarm = after(snoozed, pbh("pbhenter", MAINTENANCE))
    assert (alarm.value.inactive_duration, alarm.value.inactive_start) == (T1 - T0 - 100, T1)


@pytest.mark.parametrize(
    ("alarm_info", "ev"),
    [
        pytest.param(MAINTENANCE, pbh("pbhenter", PAUSE), id="already-in-a-pbehavior"),
        pytest.param(None, pbh("pbhenter"), id="event-without-pbehavior-info"),
        pytest.param(None, pbh("pbhenter", {**MAINTENANCE, "id": ""}), id="event-with-empty-id"),
    ],
)
def test_pbhenter_guard_refuses(alarm_info: dict[str, Any] | None, ev: Event) -> None:
    alarm = in_maintenance() if alarm_info else new_alarm()
    assert refused(apply(alarm, ev), alarm)


# --- pbhleave --------------------------------------------------------------------------------------


def test_pbhleave_inactive_type_banks_durations_and_resumes_not_acked_tracking() -> None:
    alarm = in_maintenance()
    change = apply(alarm, pbh("pbhleave", at=T2))

    assert (change.type, change.forward, change.modified) == ("pbhleave", True, True)
    assert change.alarm is not None
    value = change.alarm.value
    assert value.pbehavior_info is None and "pbehavior_info" not in change.alarm.to_document()["v"]
    assert value.steps[-1].type == "pbhleave" and value.steps[-1].timestamp == T2
    assert value.steps[-1].model_extra == {
        "pbehavior_canonical_type": "maintenance",
        "icon_name": "build",
        "color": "#mai",
    }
    assert (value.pbh_inactive_duration, value.inactive_duration) == (T2 - T1, T2 - T1)
    assert (value.inactive_start, value.last_update_date, change.alarm.not_acked_since) == (None, T2, T2)
    field = change.to_event_field()
    previous = ("PreviousPbehaviorTime", "PreviousPbehaviorTypeID", "PreviousPbehaviorCannonicalType")
    assert [field[k] for k in ("Type", *previous)] == ["pbhleave", T1, "default_maintenance", "maintenance"]


def test_pbhleave_keeps_a_snoozed_alarm_inactive() -> None:
    alarm = after(in_maintenance(), event("snooze", T1 + 60, duration=10 * HOUR, initiator="user", author="bob"))
    left = after(alarm, pbh("pbhleave", at=T2)).value
    # the snooze banked T1..T1+60; leaving banks T1+60..T2 and opens a new interval for the snooze
    assert (left.inactive_duration, left.inactive_start, left.pbh_inactive_duration) == (T2 - T1, T2, T2 - T1)


def test_pbhleave_of_an_acked_alarm_does_not_restart_not_acked_tracking() -> None:
    acked = after(in_maintenance(), event("ack", T1 + 60, initiator="user", author="bob"))
    assert after(acked, pbh("pbhleave", at=T2)).not_acked_since is None


def test_pbhleave_active_type_changes_no_duration() -> None:
    alarm = after(new_alarm(), pbh("pbhenter", ACTIVE, at=T1))
    left = after(alarm, pbh("pbhleave", at=T2))
    assert left.value.pbehavior_info is None and left.value.steps[-1].type == "pbhleave"
    assert (left.value.pbh_inactive_duration, left.value.inactive_duration, left.not_acked_since) == (0, 0, T0)


@pytest.mark.parametrize(
    ("in_pbehavior", "ev"),
    [
        pytest.param(False, pbh("pbhleave", at=T2), id="not-in-a-pbehavior"),
        pytest.param(True, pbh("pbhleave", PAUSE, at=T2), id="event-carrying-a-pbehavior"),
    ],
)
def test_pbhleave_guard_refuses(in_pbehavior: bool, ev: Event) -> None:
    alarm = in_maintenance() if in_pbehavior else new_alarm()
    assert refused(apply(alarm, ev), alarm)


# --- pbhleaveandenter ------------------------------------------------------------------------------


def test_pbhleaveandenter_swaps_pbehaviors_with_two_steps() -> None:
    change = apply(in_maintenance(), pbh("pbhleaveandenter", PAUSE, at=T2))

    assert (change.type, change.forward) == ("pbhleaveandenter", True) and change.alarm is not None
    value = change.alarm.value
    assert [(s.type, (s.model_extra or {}).get("pbehavior_canonical_type")) for s in value.steps[-2:]] == [
        ("pbhleave", "maintenance"),
        ("pbhenter", "pause"),
    ]
    assert value.pbehavior_info == PAUSE
    assert (value.pbh_inactive_duration, value.inactive_duration, value.inactive_start) == (T2 - T1, T2 - T1, T2)
    assert change.alarm.not_acked_since is None
    assert change.to_event_field()["PreviousPbehaviorCannonicalType"] == "maintenance"


def test_pbhleaveandenter_into_an_active_type_ends_the_inactive_interval() -> None:
    alarm = after(in_maintenance(), pbh("pbhleaveandenter", ACTIVE, at=T2))
    assert alarm.value.pbehavior_info == ACTIVE
    assert (alarm.value.inactive_start, alarm.value.inactive_duration, alarm.not_acked_since) == (None, T2 - T1, T2)


def test_pbhleaveandenter_from_an_active_type_starts_an_inactive_interval() -> None:
    alarm = after(new_alarm(), pbh("pbhenter", ACTIVE, at=T1), pbh("pbhleaveandenter", PAUSE, at=T2))
    assert (alarm.value.inactive_start, alarm.value.pbh_inactive_duration, alarm.not_acked_since) == (T2, 0, None)


@pytest.mark.parametrize(
    ("in_pbehavior", "ev"),
    [
        pytest.param(False, pbh("pbhleaveandenter", PAUSE, at=T2), id="not-in-a-pbehavior"),
        pytest.param(True, pbh("pbhleaveandenter", {**MAINTENANCE, "timestamp": T2}, at=T2), id="same-pbehavior"),
        pytest.param(True, pbh("pbhleaveandenter", at=T2), id="event-without-pbehavior-info"),
    ],
)
def test_pbhleaveandenter_guard_refuses(in_pbehavior: bool, ev: Event) -> None:
    alarm = in_maintenance() if in_pbehavior else new_alarm()
    assert refused(apply(alarm, ev), alarm)


# --- without alarm, disabled entity, step limit ----------------------------------------------------


@pytest.mark.parametrize("event_type", ["pbhenter", "pbhleave", "pbhleaveandenter"])
def test_pbh_event_without_alarm_is_forwarded_with_its_change_type(event_type: str) -> None:
    change = apply(None, pbh(event_type, None if event_type == "pbhleave" else MAINTENANCE))
    assert (change.alarm, change.type, change.forward, change.modified) == (None, event_type, True, False)


def test_pbh_event_on_a_disabled_entity_changes_nothing() -> None:
    alarm = new_alarm()
    assert refused(apply(alarm, pbh("pbhenter", MAINTENANCE), entity(enabled=False)), alarm)
    assert refused(apply(None, pbh("pbhenter", MAINTENANCE), entity(enabled=False)), None)


def test_full_alarm_refuses_pbhenter() -> None:
    alarm = new_alarm()
    padding = [Step(type="comment", timestamp=T0)] * (STEPS_HARD_LIMIT - len(alarm.value.steps))
    full = alarm.model_copy(update={"value": alarm.value.model_copy(update={"steps": [*alarm.value.steps, *padding]})})
    assert refused(apply(full, pbh("pbhenter", MAINTENANCE)), full)


# --- an alarm created for an entity already in a pbehavior -----------------------------------------


def test_alarm_created_inside_an_inactive_pbehavior_starts_inactive() -> None:
    change = created(entity(pbehavior_info=MAINTENANCE), at=T2)

    assert change.type == "createandpbhenter" and change.alarm is not None
    value = change.alarm.value
    assert value.pbehavior_info == {**MAINTENANCE, "timestamp": T2}
    assert [s.type for s in value.steps] == ["stateinc", "statusinc", "pbhenter"]
    assert step_fields(value.steps[-1]) == {
        "_t": "pbhenter",
        "t": T2,
        "a": "alice",
        "m": "Title: maintenance window. Type: Default maintenance. Reason: Default.",
        "val": 0,
        "initiator": "system",
        "pbehavior_canonical_type": "maintenance",
        "icon_name": "build",
        "color": "#mai",
    }
    assert (value.inactive_start, change.alarm.not_acked_since) == (T2, None)


def test_alarm_created_inside_an_active_pbehavior_is_tracked_as_not_acked() -> None:
    change = created(entity(pbehavior_info=ACTIVE), at=T2)
    assert change.type == "createandpbhenter" and change.alarm is not None
    assert (change.alarm.value.inactive_start, change.alarm.not_acked_since) == (None, T2)


@pytest.mark.parametrize("carried", [None, {}, {"id": ""}], ids=["none", "empty", "empty-id"])
def test_alarm_created_outside_pbehaviors_is_a_plain_create(carried: dict[str, Any] | None) -> None:
    change = created(entity(pbehavior_info=carried))
    assert change.type == "create" and change.alarm is not None
    assert change.alarm.value.pbehavior_info is None and len(change.alarm.value.steps) == 2


# --- later life: steps in the pbehavior, resolution ------------------------------------------------


def test_steps_added_inside_a_pbehavior_are_marked_in_pbh() -> None:
    alarm = after(in_maintenance(), event("comment", T1 + 60, initiator="user", author="bob"))
    assert alarm.value.steps[-1].in_pbh is True


def test_resolution_inside_a_maintenance_counts_its_time_as_inactive() -> None:
    alarm = after(in_maintenance(), event("check", T1 + 60, state=0))
    change = apply(alarm, event("resolve_close", T2, initiator="system"), now=T2)
    assert change.alarm is not None
    value = change.alarm.value
    assert (value.pbh_inactive_duration, value.inactive_duration) == (T2 - T1, T2 - T1)
    assert value.active_duration == (T2 - T0) - (T2 - T1)
