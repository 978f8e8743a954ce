"""engines.action.scenarios: the scenario document, validated on load; durations."""

from __future__ import annotations

from typing import Any

import pytest
from action_factories import NOW, ack_action, any_alarm
from pydantic import ValidationError

from engines.action.scenarios import Action, Duration, Scenario


def test_scenario_document_defaults_and_unknown_fields_are_kept() -> None:
    s = Scenario.model_validate(
        {
            "_id": "s",
            "name": "n",
            "triggers": ["create"],
            "actions": [ack_action()],
            "author": "root",
            "updated": 5,
            "disable_during_periods": None,
        }
    )
    assert s.enabled and s.priority == 0 and not s.is_delayed and s.disable_during_periods == []
    assert s.model_extra == {"updated": 5}


def test_null_parameters_read_as_unset() -> None:
    action = Action.model_validate(
        {**ack_action(), "parameters": {"output": None, "forward_author": None, "duration": None, "ticket_data": None}}
    )
    assert action.parameters.output == "" and action.parameters.forward_author is False


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "declareticket", "alarm_pattern": any_alarm()}, "'declareticket' is not supported"),
        ({"type": "ack"}, "neither alarm_pattern nor entity_pattern"),
        ({"type": "changestate", "alarm_pattern": any_alarm()}, "changestate needs parameters.state"),
        ({"type": "changestate", "alarm_pattern": any_alarm(), "parameters": {"state": 4}}, "less than or equal to 3"),
        ({"type": "snooze", "alarm_pattern": any_alarm()}, "snooze needs parameters.duration"),
        (
            {"type": "pbehavior", "alarm_pattern": any_alarm(), "parameters": {"name": "m"}},
            "needs parameters type, reason",
        ),
        (
            {
                "type": "webhook",
                "alarm_pattern": any_alarm(),
                "parameters": {"request": {"method": "FETCH", "url": "u"}},
            },
            "request.method",
        ),
        (
            {"type": "ack", "alarm_pattern": [[{"field": "v.state.val", "cond": {"type": "gt", "value": "x"}}]]},
            "'gt' needs",
        ),
    ],
)
def test_invalid_actions_are_refused_with_the_reason(action: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Action.model_validate(action)


def test_a_scenario_without_actions_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        Scenario.model_validate({"_id": "s", "triggers": ["create"], "actions": []})


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [(30, "s", 30), (2, "m", 120), (3, "h", 10800), (1, "d", 86400), (2, "w", 1209600), (0, "h", 0)],
)
def test_duration_in_seconds(value: int, unit: str, seconds: int) -> None:
    assert Duration(value=value, unit=unit).seconds(NOW) == seconds  # type: ignore[arg-type]


def test_months_and_years_are_calendar_ones() -> None:
    jan_31 = 1_769_817_600  # 2026-01-31 00:00 UTC
    assert Duration(value=1, unit="M").seconds(jan_31) == 28 * 86400  # to 2026-02-28
    assert Duration(value=1, unit="y").seconds(jan_31) == 365 * 86400
