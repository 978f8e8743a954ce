"""engines.axe.lifecycle.apply_event: every row of reference §5.4, resolution, the step limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import pytest

from engines.axe.lifecycle import AlarmChange, apply_event
from engines.axe.rule_documents import FlappingRule
from engines.axe.rules import Rules
from engines.model.alarm import (
    STEPS_HARD_LIMIT,
    Alarm,
    ChangeType,
    State,
    Status,
    Step,
    StepType,
)
from engines.model.entity import Entity
from engines.model.event import Event

NOW: Final = 1_764_358_800
HOUR: Final = 3600
ENTITY_ID: Final = "disk/srv01"
RULES: Final = Rules()

CHECK: Final[dict[str, Any]] = {
    "event_type": "check",
    "source_type": "resource",
    "connector": "centreon",
    "connector_name": "centreon-1",
    "component": "srv01",
    "resource": "disk",
    "output": "Disk 95%",
}


def entity(**changes: Any) -> Entity:
    document = {
        "_id": ENTITY_ID,
        "name": "disk",
        "type": "resource",
        "created": NOW - 10 * HOUR,
        "connector": "centreon/centreon-1",
        "component": "srv01",
        **changes,
    }
    return Entity.model_validate(document)


def event(event_type: str = "check", at: int = NOW, **fields: Any) -> Event:
    document = {**CHECK, "event_type": event_type, "timestamp": at, **fields}
    return Event.model_validate(document, context={"now": NOW})


def user_event(event_type: str, at: int = NOW, **fields: Any) -> Event:
    """An event from the UI: initiator user, an author, a user id and a role."""
    fields = {"initiator": "user", "author": "jdoe", "user_id": "u-1", "role": "admin", **fields}
    return event(event_type, at, **fields)


def apply(
    alarm: Alarm | None,
    ev: Event,
    *,
    rules: Rules = RULES,
    ent: Entity | None = None,
    now: int = NOW,
) -> AlarmChange:
    return apply_event(alarm, ev, entity() if ent is None else ent, rules, now, new_id="alarm-2")


def open_alarm(state: int = 2, at: int = NOW - HOUR) -> Alarm:
    """An alarm created by a check of `state` at `at`."""
    change = apply_event(None, event(state=state, at=at), entity(), RULES, at, new_id="alarm-1")
    assert change.alarm is not None
    return change.alarm


def after(alarm: Alarm, *events: Event, rules: Rules = RULES) -> Alarm:
    """`alarm` after `events`, each applied at its own timestamp; each must change the alarm."""
    for ev in events:
        change = apply(alarm, ev, rules=rules, now=ev.timestamp)
        assert change.modified, f"{ev.event_type} was refused"
        assert change.alarm is not None
        alarm = change.alarm
    return alarm


def steps(alarm: Alarm) -> list[tuple[str, int]]:
    return [(step.type, step.value) for step in alarm.value.steps]


def refused(change: AlarmChange, alarm: Alarm | None) -> bool:
    return change.is_noop and change.type == "" and change.alarm is alarm


# --- check: creation -----------------------------------------------------------------------------


def test_problem_check_without_alarm_creates_one_with_canopsis_fields() -> None:
    ev = event(state=2, at=NOW - 30, long_output="sda1 full", tags={"env": "prod", "team": ""})

    change = apply(None, ev)

    assert (change.type, change.forward, change.modified, change.resolved) == (
        "create",
        True,
        True,
        False,
    )
    alarm = change.alarm
    assert alarm is not None
    document = alarm.to_document()
    assert (document["_id"], document["t"], document["d"]) == ("alarm-2", NOW, ENTITY_ID)
    assert document["e"]["_id"] == ENTITY_ID
    assert document["tags"] == document["etags"] == ["env: prod", "team"]
    assert document["not_acked_since"] == NOW
    v = document["v"]
    assert (v["connector"], v["connector_name"], v["component"], v["resource"]) == (
        "centreon",
        "centreon-1",
        "srv01",
        "disk",
    )
    assert (v["creation_date"], v["last_event_date"], v["last_update_date"]) == (NOW, NOW, NOW - 30)
    assert (v["output"], v["initial_output"]) == ("Disk 95%", "Disk 95%")
    assert (v["long_output"], v["initial_long_output"]) == ("sda1 full", "sda1 full")
    assert v["long_output_history"] == ["sda1 full"]
    counters = ("events_count", "total_state_changes", "state_changes_since_status_update")
    assert [v[name] for name in counters] == [1, 1, 0]
    assert "resolved" not in v and "ack" not in v
    assert v["state"] == {
        "_t": "stateinc",
        "t": NOW - 30,
        "a": "centreon.centreon-1",
        "m": "Disk 95%",
        "val": 2,
        "initiator": "external",
    }
    assert v["status"] == {**v["state"], "_t": "statusinc", "val": Status.ONGOING}
    assert v["steps"] == [v["state"], v["status"]]
    assert len(v["display_name"]) == 11 and v["display_name"].count("-") == 2


def test_ok_check_without_alarm_creates_nothing_and_is_forwarded() -> None:
    change = apply(None, event(state=0))

    assert (change.alarm, change.type, change.forward, change.modified) == (None, "", True, False)
    assert change.to_event_field()["EventsCount"] == 0


@pytest.mark.parametrize(
    ("ev", "ent"),
    [
        pytest.param(event(state=2), None, id="no_entity"),
        pytest.param(event(state=2), entity(enabled=False), id="disabled_entity"),
        pytest.param(event(), entity(), id="no_state"),
        pytest.param(event(state=2), entity(state_info={"id": "s"}), id="computed_state_external"),
    ],
)
def test_check_that_cannot_apply_is_dropped(ev: Event, ent: Entity | None) -> None:
    change = apply_event(None, ev, ent, RULES, NOW, "alarm-2")

    assert change.is_noop and change.alarm is None


def test_system_check_may_set_a_computed_entity_state() -> None:
    ev = event(state=3, initiator="system", author="che")

    change = apply(None, ev, ent=entity(state_info={"id": "s"}))

    assert change.type == "create"


@pytest.mark.parametrize(
    ("fields", "changes", "identity"),
    [
        pytest.param({}, {}, ("centreon", "centreon-1", "srv01", "disk"), id="external"),
        pytest.param(
            {"initiator": "user", "connector": "api", "connector_name": "ui"},
            {},
            ("api", "ui", "srv01", "disk"),
            id="user_keeps_event_connector",
        ),
        pytest.param(
            {"initiator": "system", "connector": "axe", "connector_name": "axe"},
            {},
            ("centreon", "centreon-1", "srv01", "disk"),
            id="system_takes_entity_connector",
        ),
        pytest.param(
            {"initiator": "system"},
            {"connector": None},
            ("system", "system", "srv01", "disk"),
            id="system_without_entity_connector",
        ),
        pytest.param(
            {"source_type": "component", "resource": None},
            {"_id": "srv01", "name": "srv01", "type": "component", "component": "srv01"},
            ("centreon", "centreon-1", "srv01", ""),
            id="component",
        ),
        pytest.param(
            {"source_type": "service", "component": "svc-1", "resource": None},
            {"_id": "svc-1", "name": "Web", "type": "service", "connector": None},
            ("centreon", "centreon-1", "svc-1", ""),
            id="service",
        ),
        pytest.param(
            {"source_type": "connector", "component": None, "resource": None},
            {"_id": "centreon/centreon-1", "name": "centreon-1", "type": "connector"},
            ("centreon", "centreon-1", "", ""),
            id="connector_named_by_its_id",
        ),
    ],
)
def test_created_alarm_identity_follows_initiator_and_entity_type(
    fields: dict[str, Any], changes: dict[str, Any], identity: tuple[str, ...]
) -> None:
    ent = entity(**changes)

    change = apply(None, event(state=1, **fields), ent=ent)

    assert change.alarm is not None
    v = change.alarm.value
    assert (v.connector, v.connector_name, v.component, v.resource) == identity
    assert change.alarm.entity_id == ent.id


def test_check_on_resolved_alarm_creates_a_new_alarm() -> None:
    resolved = after(open_alarm(), event(state=0, at=NOW - 100), event("resolve_close", at=NOW))

    change = apply(resolved, event(state=2))

    assert change.type == "create" and change.alarm is not None
    assert change.alarm.id == "alarm-2"


# --- check: update -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "change_type", "new_steps", "status"),
    [
        pytest.param(2, "", [], Status.ONGOING, id="same_state"),
        pytest.param(3, "stateinc", [("stateinc", 3)], Status.ONGOING, id="worse"),
        pytest.param(1, "statedec", [("statedec", 1)], Status.ONGOING, id="better_not_ok"),
        pytest.param(0, "statedec", [("statedec", 0), ("statusdec", Status.OFF)], Status.OFF, id="ok"),
    ],
)
def test_check_on_open_alarm_updates_state_and_status(
    state: int, change_type: str, new_steps: list[tuple[str, int]], status: Status
) -> None:
    alarm = open_alarm(2)

    change = apply(alarm, event(state=state, output="now", at=NOW - 5))

    assert (change.type, change.forward, change.modified) == (change_type, True, True)
    updated = change.alarm
    assert updated is not None
    assert steps(updated) == steps(alarm) + new_steps
    assert (updated.state, updated.status) == (state, status)
    assert updated.value.output == "now"
    assert (updated.value.events_count, updated.value.last_event_date) == (2, NOW - 5)
    assert updated.value.resolved is None  # an OK check never resolves
    changed = change_type != ""
    assert updated.value.total_state_changes == 1 + changed
    assert updated.value.last_update_date == (NOW - 5 if changed else NOW - HOUR)
    # Counts state changes that left the status alone; reset by a status change.
    assert updated.value.state_changes_since_status_update == (1 if changed and state else 0)


def test_problem_check_after_ok_reopens_the_same_alarm() -> None:
    alarm = after(open_alarm(2), event(state=0, at=NOW - 60))

    change = apply(alarm, event(state=3))

    assert change.alarm is not None and change.alarm.id == alarm.id
    assert change.type == "stateinc"
    assert steps(change.alarm)[-2:] == [("stateinc", 3), ("statusinc", Status.ONGOING)]
    assert (change.previous_state, change.previous_status) == (State.OK, Status.OFF)


def test_long_output_history_keeps_distinct_successive_values_up_to_100() -> None:
    alarm = open_alarm()
    for number in range(120):
        for _ in range(2):  # a repeated long output is recorded once
            alarm = after(alarm, event(state=2, long_output=f"long {number}", at=NOW - 200))

    history = alarm.value.long_output_history

    assert len(history) == 100
    assert history[0] == "long 20" and history[-1] == "long 119"


def test_new_event_tags_are_added_once() -> None:
    alarm = after(open_alarm(), event(state=2, tags={"env": "prod"}))

    updated = after(alarm, event(state=2, tags={"env": "prod", "dc": "paris"}))

    assert updated.tags == updated.etags == ["env: prod", "dc: paris"]


def test_changestate_locks_the_state_until_an_ok_check() -> None:
    locked = after(open_alarm(2), user_event("changestate", state=3, at=NOW - 50))

    ignored = apply(locked, event(state=1, at=NOW - 40))
    assert ignored.type == "" and ignored.alarm is not None
    assert (ignored.alarm.state, ignored.alarm.value.events_count) == (3, 2)
    assert ignored.alarm.is_state_locked

    released = apply(ignored.alarm, event(state=0, at=NOW - 30))
    assert released.type == "statedec" and released.alarm is not None
    assert not released.alarm.is_state_locked
    assert steps(released.alarm)[-2:] == [("statedec", 0), ("statusdec", Status.OFF)]

    unlocked = apply(released.alarm, event(state=1, at=NOW - 20))
    assert unlocked.type == "stateinc"


def test_flapping_rule_turns_status_to_flapping_with_the_rule_name() -> None:
    rule = FlappingRule.model_validate(
        {
            "_id": "fr",
            "name": "bouncy",
            "freq_limit": 2,
            "duration": {"value": 1, "unit": "h"},
            "entity_pattern": [[{"field": "name", "cond": {"type": "eq", "value": "disk"}}]],
        }
    )
    rules = Rules(flapping_rules=[rule])
    alarm = after(open_alarm(2, at=NOW - 300), event(state=0, at=NOW - 200), rules=rules)
    assert alarm.status == Status.OFF  # 2 switches: not above the limit

    change = apply(alarm, event(state=2, output="up again"), rules=rules)

    assert change.alarm is not None and change.alarm.status == Status.FLAPPING
    assert change.alarm.value.status.message == "up again\nRule: bouncy"
    assert steps(change.alarm)[-2:] == [("stateinc", 2), ("statusinc", Status.FLAPPING)]


def test_input_alarm_is_never_mutated() -> None:
    alarm = open_alarm()
    before = alarm.to_document()

    for ev in (event(state=3, tags={"x": "y"}), user_event("ack"), event("resolve_cancel")):
        apply(alarm, ev)

    assert alarm.to_document() == before


# --- operator and automation events: guards (reference §5.4 table) ------------------------------


def acked() -> Alarm:
    return after(open_alarm(), user_event("ack", at=NOW - 100))


def snoozed() -> Alarm:
    return after(open_alarm(), user_event("snooze", duration=600, at=NOW - 100))


def cancelled() -> Alarm:
    return after(open_alarm(), user_event("cancel", at=NOW - 100))


def locked() -> Alarm:
    return after(open_alarm(2), user_event("changestate", state=3, at=NOW - 100))


def activated() -> Alarm:
    return after(open_alarm(), event("activate", at=NOW - 100, initiator="system"))


def ok() -> Alarm:
    return after(open_alarm(), event(state=0, at=NOW - 100))


def flapping_expired() -> Alarm:
    """Status flapping (as a rule decided earlier) that no rule supports any more."""
    alarm = open_alarm(2)
    value = alarm.value.model_copy(update={"status": alarm.value.status.model_copy(update={"value": Status.FLAPPING})})
    return alarm.model_copy(update={"value": value})


DOUBLE_ACK: Final = Rules(allow_double_ack=True)
INFO_ALLOWED: Final = Rules(allow_change_severity_to_info=True)
DELETED: Final = entity(soft_deleted=NOW - 60)


@pytest.mark.parametrize(
    ("build", "ev", "rules", "ent", "change_type"),
    [
        pytest.param(open_alarm, user_event("ack"), RULES, None, "ack", id="ack"),
        pytest.param(acked, user_event("ack"), RULES, None, None, id="ack_twice"),
        pytest.param(acked, user_event("ack"), DOUBLE_ACK, None, "doubleack", id="double_ack"),
        pytest.param(acked, user_event("ackremove"), RULES, None, "ackremove", id="ackremove"),
        pytest.param(open_alarm, user_event("ackremove"), RULES, None, None, id="ackremove_no_ack"),
        pytest.param(open_alarm, user_event("snooze", duration=60), RULES, None, "snooze", id="snooze"),
        pytest.param(open_alarm, user_event("snooze"), RULES, None, None, id="snooze_no_duration"),
        pytest.param(snoozed, user_event("snooze", duration=60), RULES, None, None, id="snooze_snoozed"),
        pytest.param(snoozed, event("unsnooze", initiator="system"), RULES, None, "unsnooze", id="unsnooze"),
        pytest.param(open_alarm, event("unsnooze", initiator="system"), RULES, None, None, id="unsnooze_not_snoozed"),
        pytest.param(open_alarm, user_event("cancel"), RULES, None, "cancel", id="cancel"),
        pytest.param(cancelled, user_event("cancel"), RULES, None, None, id="cancel_cancelled"),
        pytest.param(cancelled, user_event("uncancel"), RULES, None, "uncancel", id="uncancel"),
        pytest.param(open_alarm, user_event("uncancel"), RULES, None, None, id="uncancel_not_cancelled"),
        pytest.param(open_alarm, user_event("changestate", state=3), RULES, None, "changestate", id="changestate"),
        pytest.param(
            open_alarm,
            user_event("changestate", state=2),
            RULES,
            None,
            "changestate",
            id="changestate_same_state_locks",
        ),
        pytest.param(locked, user_event("changestate", state=3), RULES, None, None, id="changestate_same_locked_state"),
        pytest.param(
            locked,
            user_event("changestate", state=1),
            RULES,
            None,
            "changestate",
            id="changestate_other_state_when_locked",
        ),
        pytest.param(open_alarm, user_event("changestate"), RULES, None, None, id="changestate_without_state"),
        pytest.param(open_alarm, user_event("changestate", state=0), RULES, None, None, id="changestate_to_ok_refused"),
        pytest.param(
            open_alarm,
            user_event("changestate", state=0),
            INFO_ALLOWED,
            None,
            "changestate",
            id="changestate_to_ok_allowed",
        ),
        pytest.param(ok, user_event("changestate", state=3), RULES, None, None, id="changestate_ok_alarm"),
        pytest.param(open_alarm, user_event("comment"), RULES, None, "comment", id="comment"),
        pytest.param(open_alarm, user_event("assocticket", ticket="T-1"), RULES, None, "assocticket", id="assocticket"),
        pytest.param(open_alarm, event("activate", initiator="system"), RULES, None, "activate", id="activate"),
        pytest.param(activated, event("activate", initiator="system"), RULES, None, None, id="activate_twice"),
        pytest.param(
            flapping_expired, event("updatestatus", initiator="system"), RULES, None, "changestatus", id="updatestatus"
        ),
        pytest.param(
            open_alarm, event("updatestatus", initiator="system"), RULES, None, None, id="updatestatus_unchanged"
        ),
        pytest.param(ok, event("resolve_close", initiator="system"), RULES, None, "resolve", id="resolve_close"),
        pytest.param(
            open_alarm, event("resolve_close", initiator="system"), RULES, None, None, id="resolve_close_not_ok"
        ),
        pytest.param(
            cancelled, event("resolve_cancel", initiator="system"), RULES, None, "resolve", id="resolve_cancel"
        ),
        pytest.param(
            open_alarm,
            event("resolve_cancel", initiator="system"),
            RULES,
            None,
            None,
            id="resolve_cancel_not_cancelled",
        ),
        pytest.param(
            open_alarm, event("resolve_deleted", initiator="system"), RULES, DELETED, "resolve", id="resolve_deleted"
        ),
        pytest.param(
            open_alarm,
            event("resolve_deleted", initiator="system"),
            RULES,
            None,
            None,
            id="resolve_deleted_entity_not_deleted",
        ),
    ],
)
def test_event_applies_only_when_its_guard_holds(
    build: Callable[[], Alarm], ev: Event, rules: Rules, ent: Entity | None, change_type: str | None
) -> None:
    alarm = build()

    change = apply(alarm, ev, rules=rules, ent=ent)

    if change_type is None:
        assert refused(change, alarm)
    else:
        assert (change.type, change.forward, change.modified) == (change_type, True, True)
        assert change.resolved == (change_type == "resolve")
        assert change.alarm is not None and change.alarm.value.steps[-1].timestamp in (NOW, ev.timestamp)


@pytest.mark.parametrize(
    ("build", "ev"),
    [
        (open_alarm, user_event("ack")),
        (acked, user_event("ackremove")),
        (open_alarm, user_event("snooze", duration=60)),
        (snoozed, event("unsnooze", initiator="system")),
        (open_alarm, user_event("cancel")),
        (cancelled, user_event("uncancel")),
        (open_alarm, user_event("changestate", state=3)),
        (open_alarm, user_event("comment")),
        (open_alarm, user_event("assocticket", ticket="T-1")),
    ],
    ids=lambda value: value.event_type if isinstance(value, Event) else "",
)
def test_operator_event_on_disabled_entity_is_dropped(build: Callable[[], Alarm], ev: Event) -> None:
    alarm = build()

    enabled = apply(alarm, ev)
    disabled = apply(alarm, ev, ent=entity(enabled=False))

    assert enabled.modified
    assert refused(disabled, alarm)


@pytest.mark.parametrize(
    ("build", "event_type"),
    [(open_alarm, "activate"), (flapping_expired, "updatestatus"), (ok, "resolve_close")],
)
def test_automation_event_on_disabled_entity_still_applies(build: Callable[[], Alarm], event_type: str) -> None:
    change = apply(build(), event(event_type, initiator="system"), ent=entity(enabled=False))

    assert change.modified and change.forward


@pytest.mark.parametrize("event_type", ["ack", "comment", "resolve_close", "activate"])
def test_event_without_entity_or_alarm_is_dropped(event_type: str) -> None:
    alarm = ok()

    without_entity = apply_event(alarm, user_event(event_type), None, RULES, NOW, "alarm-2")
    without_alarm = apply(None, user_event(event_type))

    assert refused(without_entity, alarm) and refused(without_alarm, None)


@pytest.mark.parametrize("event_type", ["pbhenter", "pbhleave", "noevents", "entityupdated", "declareticketwebhook"])
def test_event_type_axe_does_not_handle_is_dropped(event_type: str) -> None:
    alarm = open_alarm()

    change = apply(alarm, user_event(event_type))

    assert refused(change, alarm)


# --- operator and automation events: what they change --------------------------------------------


def test_ack_records_who_acked_and_clears_not_acked_since() -> None:
    change = apply(open_alarm(), user_event("ack", output="on it"))

    assert change.alarm is not None
    ack = change.alarm.value.ack
    assert ack is not None and ack == change.alarm.value.steps[-1]
    assert ack.model_dump(by_alias=True, exclude_none=True) == {
        "_t": "ack",
        "t": NOW,
        "a": "jdoe",
        "user_id": "u-1",
        "m": "on it",
        "role": "admin",
        "val": 0,
        "initiator": "user",
    }
    assert change.alarm.not_acked_since is None


def test_ackremove_clears_ack_and_restarts_not_acked_since() -> None:
    change = apply(acked(), user_event("ackremove", at=NOW - 5))

    assert change.alarm is not None
    assert change.alarm.value.ack is None and change.alarm.not_acked_since == NOW - 5
    assert change.alarm.value.steps[-1].type == "ackremove"


def test_snooze_then_unsnooze_accounts_the_snoozed_time() -> None:
    snoozing = apply(open_alarm(), user_event("snooze", duration=600, at=NOW - 500))
    assert snoozing.alarm is not None
    snooze = snoozing.alarm.value.snooze
    assert snooze is not None and snooze.value == NOW - 500 + 600
    assert snoozing.alarm.value.inactive_start == NOW - 500
    assert snoozing.alarm.is_snoozed(NOW)

    change = apply(snoozing.alarm, event("unsnooze", initiator="system", at=NOW + 100))

    assert change.alarm is not None
    v = change.alarm.value
    assert (v.snooze, v.inactive_start, v.last_update_date) == (None, None, NOW + 100)
    assert (v.snooze_duration, v.inactive_duration) == (600, 600)
    assert v.steps[-1].type == "unsnooze"


@pytest.mark.parametrize(
    ("state", "cancel_step", "uncancel_step"),
    [
        pytest.param(2, "statusinc", ("statusdec", Status.ONGOING), id="ongoing"),
        pytest.param(0, "statusinc", ("statusdec", Status.OFF), id="off"),
    ],
)
def test_cancel_then_uncancel_moves_status_through_cancelled(
    state: int, cancel_step: str, uncancel_step: tuple[str, int]
) -> None:
    alarm = open_alarm(2) if state else ok()

    cancelling = apply(alarm, user_event("cancel", output="false alarm", at=NOW - 10))
    assert cancelling.alarm is not None
    v = cancelling.alarm.value
    assert v.canceled is not None and v.canceled == v.status == v.steps[-1]
    assert (v.status.type, v.status.value, v.status.message) == (cancel_step, Status.CANCELLED, "false alarm")
    assert (v.last_update_date, v.state_changes_since_status_update) == (NOW - 10, 0)

    change = apply(cancelling.alarm, user_event("uncancel"))

    assert change.alarm is not None
    assert change.alarm.value.canceled is None
    assert steps(change.alarm)[-1] == uncancel_step


def test_changestate_sets_state_and_lock_with_one_step() -> None:
    change = apply(open_alarm(2), user_event("changestate", state=3, output="worse than it looks"))

    assert change.alarm is not None
    v = change.alarm.value
    assert v.state == v.change_state == v.steps[-1]
    assert (v.state.type, v.state.value, v.state.author) == ("changestate", 3, "jdoe")
    assert change.alarm.status == Status.ONGOING  # unchanged: no status step
    assert (change.previous_state, v.total_state_changes) == (2, 1)


def test_comment_becomes_last_comment() -> None:
    change = apply(open_alarm(), user_event("comment", output="looking"))

    assert change.alarm is not None
    comment = change.alarm.value.last_comment
    assert comment is not None and (comment.type, comment.message) == ("comment", "looking")


def test_assocticket_records_ticket_step_in_ticket_and_tickets() -> None:
    fields = {
        "ticket": "T-1",
        "ticket_url": "https://t/1",
        "ticket_system_name": "jira",
        "ticket_data": {"prio": "high"},
    }
    first = after(open_alarm(), user_event("assocticket", at=NOW - 5, **fields))

    change = apply(first, user_event("assocticket", ticket="T-2"))

    assert change.alarm is not None
    v = change.alarm.value
    assert v.ticket is not None and v.ticket.ticket == "T-2" and v.ticket == v.steps[-1]
    assert [step.ticket for step in v.tickets] == ["T-1", "T-2"]
    ticket = v.tickets[0].model_dump(by_alias=True, exclude_none=True)
    assert ticket["_t"] == "assocticket" and {k: ticket[k] for k in fields} == fields


def test_activate_sets_activation_date() -> None:
    change = apply(open_alarm(), event("activate", initiator="system", at=NOW - 3))

    assert change.alarm is not None
    assert change.alarm.value.activation_date == change.alarm.value.last_update_date == NOW - 3
    assert change.alarm.value.steps[-1].author == "system"


def test_updatestatus_records_the_recomputed_status() -> None:
    change = apply(flapping_expired(), event("updatestatus", initiator="system"))

    assert change.alarm is not None
    assert steps(change.alarm)[-1] == ("statusdec", Status.ONGOING)
    assert change.previous_status == Status.FLAPPING


# --- resolution ----------------------------------------------------------------------------------


def test_resolve_finalises_durations_and_closes_open_intervals() -> None:
    created = NOW - 2 * HOUR
    alarm = after(
        open_alarm(2, at=created),
        event(state=0, at=created + 600),
        user_event("snooze", duration=HOUR, at=created + 1000),
    )

    change = apply(alarm, event("resolve_close", initiator="system", output="Rule: r"))

    assert (change.type, change.resolved, change.forward) == ("resolve", True, True)
    assert change.alarm is not None
    v = change.alarm.value
    assert v.resolved == NOW and change.alarm.is_resolved
    assert v.duration == 2 * HOUR
    assert v.current_state_duration == 2 * HOUR - 600
    assert v.snooze_duration == v.inactive_duration == 2 * HOUR - 1000
    assert v.active_duration == 1000
    assert (v.steps[-1].type, v.steps[-1].timestamp, v.steps[-1].message) == ("resolve", NOW, "Rule: r")
    assert change.alarm.not_acked_since is None


def test_events_on_a_resolved_alarm_find_no_alarm() -> None:
    resolved = after(cancelled(), event("resolve_cancel", initiator="system"))

    change = apply(resolved, user_event("uncancel"))

    assert refused(change, None)


# --- step limit ----------------------------------------------------------------------------------


def full(alarm: Alarm) -> Alarm:
    """`alarm` padded with comments up to the step limit."""
    padding = [Step(type="comment", timestamp=NOW - HOUR)] * (STEPS_HARD_LIMIT - len(alarm.value.steps))
    value = alarm.value.model_copy(update={"steps": [*alarm.value.steps, *padding]})
    return alarm.model_copy(update={"value": value})


@pytest.mark.parametrize(
    "ev",
    [
        user_event("ack"),
        user_event("comment"),
        user_event("assocticket", ticket="T"),
        user_event("snooze", duration=60),
        user_event("changestate", state=3),
    ],
    ids=["ack", "comment", "assocticket", "snooze", "changestate"],
)
def test_full_alarm_refuses_operator_steps(ev: Event) -> None:
    alarm = full(open_alarm())

    assert refused(apply(alarm, ev), alarm)


def test_full_alarm_ignores_a_state_change_but_forwards_the_check() -> None:
    alarm = full(open_alarm(2))

    change = apply(alarm, event(state=3))

    assert (change.forward, change.modified, change.type) == (True, False, "")
    assert change.alarm is alarm


def test_full_alarm_still_takes_checks_without_new_steps() -> None:
    alarm = full(open_alarm(2))

    change = apply(alarm, event(state=2, output="still"))

    assert change.modified and change.alarm is not None
    assert change.alarm.value.output == "still" and change.alarm.value.events_count == 2


@pytest.mark.parametrize(
    ("build", "ev", "added"),
    [
        pytest.param(open_alarm, event(state=0), [("statedec", 0), ("statusdec", 0)], id="ok"),
        pytest.param(open_alarm, user_event("cancel"), [("statusinc", 4)], id="cancel"),
        pytest.param(snoozed, event("unsnooze", initiator="system"), [("unsnooze", 0)], id="unsnooze"),
        pytest.param(ok, event("resolve_close", initiator="system"), [("resolve", 0)], id="resolve"),
    ],
)
def test_full_alarm_accepts_the_steps_that_bring_it_to_rest(
    build: Callable[[], Alarm], ev: Event, added: list[tuple[str, int]]
) -> None:
    alarm = full(build())

    change = apply(alarm, ev)

    assert change.alarm is not None and change.modified
    assert steps(change.alarm)[STEPS_HARD_LIMIT:] == added


# --- alarm_change and documents ------------------------------------------------------------------


def test_alarm_change_event_field_has_canopsis_shape() -> None:
    alarm = after(open_alarm(2), event(state=2, at=NOW - 100))

    field = apply(alarm, event(state=3)).to_event_field()

    assert json.loads(json.dumps(field)) == {
        "Type": "stateinc",
        "PreviousState": 2,
        "PreviousStateChange": NOW - HOUR,
        "PreviousStatus": 1,
        "PreviousStatusChange": NOW - HOUR,
        "PreviousPbehaviorTime": None,
        "PreviousEntityPbehaviorTime": None,
        "PreviousPbehaviorTypeID": "",
        "PreviousPbehaviorCannonicalType": "",
        "EventsCount": 3,
    }


def test_alarm_document_round_trip_keeps_unknown_fields() -> None:
    document = open_alarm().to_document()
    document["bookmarks"] = ["u-1"]
    document["v"]["infos"] = {"rule": {"k": "v"}}
    document["v"]["steps"][0]["exec"] = "e-1"

    alarm = Alarm.from_document(document)
    acked_document = after(alarm, user_event("ack")).to_document()

    assert alarm.to_document() == document
    assert acked_document["bookmarks"] == ["u-1"]
    assert acked_document["v"]["infos"] == {"rule": {"k": "v"}}
    assert acked_document["v"]["steps"][0]["exec"] == "e-1"


def test_change_types_and_step_types_use_canopsis_strings() -> None:
    assert (ChangeType.UPDATE_STATUS.value, ChangeType.NONE.value) == ("changestatus", "")
    assert (StepType.STATE_INCREASE.value, StepType.ASSOC_TICKET.value) == ("stateinc", "assocticket")
    assert [int(status) for status in Status] == [0, 1, 2, 3, 4, 5]
