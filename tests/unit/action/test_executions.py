"""engines.action.executions: when an execution is due, and its id."""

from __future__ import annotations

from action_factories import NOW, change, entity, scenario

from engines.action.executions import execution_id, new_execution


def test_an_execution_is_due_now_or_after_the_delay() -> None:
    created = change()
    assert created.alarm is not None
    now_run = new_execution(scenario(), created.alarm, entity(), created.to_event_field(), {"Trigger": "create"}, NOW)
    assert (now_run.run_at, now_run.delayed, now_run.step) == (NOW, False, 0)
    assert now_run.alarm_id == created.alarm.id and now_run.entity_id == "disk/web01" and now_run.alarm["_id"]
    later = new_execution(
        scenario(delay={"value": 10, "unit": "m"}), created.alarm, entity(), created.to_event_field(), {}, NOW
    )
    assert (later.run_at, later.delayed) == (NOW + 600, True)


def test_execution_ids_are_the_same_for_the_same_alarm_change_only() -> None:
    created = change()
    assert created.alarm is not None
    field = created.to_event_field()
    assert execution_id(scenario(), created.alarm, field) == execution_id(scenario(), created.alarm, field)
    assert execution_id(scenario(_id="other"), created.alarm, field) != execution_id(scenario(), created.alarm, field)
    updated = change(alarm=created.alarm, state=3)
    assert updated.alarm is not None
    assert execution_id(scenario(), updated.alarm, updated.to_event_field()) != execution_id(
        scenario(), created.alarm, field
    )
