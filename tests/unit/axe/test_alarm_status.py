"""engines.axe.alarm_status: status precedence, flapping switch counting, stealthy (reference §5.3)."""

from __future__ import annotations

from typing import Any, Final

import pytest

from engines.axe.alarm_status import compute_status, count_state_switches, is_stealthy, rule_message
from engines.axe.rule_documents import FlappingRule
from engines.model.alarm import Alarm, Status

NOW: Final = 1_764_358_800

#: (step type, seconds before NOW, value)
StepSpec = tuple[str, int, int]


def alarm(steps: list[StepSpec], *, cancelled: bool = False, resolved: bool = False) -> Alarm:
    """An alarm whose steps are `steps`; its state and status are the last of each kind."""
    documents = [{"_t": kind, "t": NOW - ago, "val": value} for kind, ago, value in steps]
    state = [d for d in documents if d["_t"] in ("stateinc", "statedec", "changestate")][-1]
    status = [d for d in documents if d["_t"] in ("statusinc", "statusdec")] or [
        {"_t": "statusinc", "t": NOW - 3600, "val": 1}
    ]
    value: dict[str, Any] = {
        "state": state,
        "status": status[-1],
        "steps": documents,
        "creation_date": NOW - 3600,
        "last_update_date": NOW - 3600,
    }
    if cancelled:
        value["canceled"] = {"_t": "statusinc", "t": NOW - 10, "val": Status.CANCELLED}
    if resolved:
        value["resolved"] = NOW
    return Alarm.from_document({"_id": "a", "t": NOW - 3600, "d": "e", "v": value})


def flapping_rule(freq_limit: int = 2, minutes: int = 10, name: str = "bouncy") -> FlappingRule:
    return FlappingRule.model_validate(
        {
            "_id": "fr",
            "name": name,
            "freq_limit": freq_limit,
            "duration": {"value": minutes, "unit": "m"},
        }
    )


INC: Final = "stateinc"
DEC: Final = "statedec"


@pytest.mark.parametrize(
    ("steps", "since_ago", "switches"),
    [
        pytest.param([(INC, 60, 2)], 600, 1, id="one_state_step"),
        pytest.param([(INC, 90, 1), (INC, 60, 2), (DEC, 30, 1)], 600, 2, id="inc_inc_dec"),
        pytest.param([(INC, 90, 2), (DEC, 60, 0), (INC, 30, 2), (DEC, 10, 0)], 600, 4, id="alternating"),
        pytest.param(
            [(INC, 90, 2), ("comment", 70, 0), ("statusinc", 65, 1), (DEC, 60, 0)],
            600,
            2,
            id="other_steps_neither_count_nor_break_a_run",
        ),
        pytest.param([(INC, 900, 2), (DEC, 800, 0), (INC, 30, 2)], 600, 1, id="steps_older_than_window_ignored"),
        pytest.param([(DEC, 600, 0), (INC, 30, 2)], 600, 2, id="step_at_window_start_counts"),
        pytest.param([(DEC, 601, 0), (INC, 30, 2)], 600, 1, id="step_before_window_start"),
        pytest.param([("comment", 30, 0)], 600, 0, id="no_state_steps"),
    ],
)
def test_state_switches_are_counted_newest_first_within_the_window(
    steps: list[StepSpec], since_ago: int, switches: int
) -> None:
    subject = alarm([(INC, 3000, 2), ("statusinc", 3000, 1), *steps])

    assert count_state_switches(subject, NOW - since_ago) == switches


def test_switch_counting_stops_once_above_the_limit() -> None:
    subject = alarm([(INC, 50, 2), (DEC, 40, 0), (INC, 30, 2), (DEC, 20, 0), (INC, 10, 2)])

    assert count_state_switches(subject, NOW - 600, stop_above=1) == 2


FLAPPING_STEPS: Final[list[StepSpec]] = [
    (INC, 300, 2),
    ("statusinc", 300, 1),
    (DEC, 200, 0),
    ("statusdec", 200, 0),
    (INC, 100, 2),
]


@pytest.mark.parametrize(
    ("freq_limit", "minutes", "expected"),
    [
        pytest.param(2, 10, (Status.FLAPPING, "bouncy"), id="three_switches_above_limit_two"),
        pytest.param(3, 10, (Status.ONGOING, None), id="three_switches_not_above_limit_three"),
        pytest.param(0, 10, (Status.FLAPPING, "bouncy"), id="limit_zero"),
        pytest.param(2, 4, (Status.ONGOING, None), id="window_holds_two_switches"),
    ],
)
def test_flapping_needs_more_switches_than_the_rule_limit_within_its_duration(
    freq_limit: int, minutes: int, expected: tuple[Status, str | None]
) -> None:
    rule = flapping_rule(freq_limit, minutes)

    assert compute_status(alarm(FLAPPING_STEPS), rule, 0, NOW) == expected


OK_AFTER_PROBLEM: Final[list[StepSpec]] = [(INC, 100, 2), ("statusinc", 100, 1), (DEC, 50, 0)]


@pytest.mark.parametrize(
    ("steps", "cancelled", "resolved", "rule", "stealthy_interval", "expected"),
    [
        pytest.param(
            FLAPPING_STEPS, True, False, flapping_rule(), 600, Status.CANCELLED, id="cancelled_beats_flapping"
        ),
        pytest.param(FLAPPING_STEPS, True, True, None, 0, Status.ONGOING, id="resolved_alarm_is_not_cancelled"),
        pytest.param(
            [*FLAPPING_STEPS, (DEC, 5, 0)],
            False,
            False,
            flapping_rule(),
            600,
            Status.FLAPPING,
            id="flapping_beats_stealthy",
        ),
        pytest.param(OK_AFTER_PROBLEM, False, False, None, 600, Status.STEALTHY, id="stealthy_beats_off"),
        pytest.param(OK_AFTER_PROBLEM, False, False, None, 0, Status.OFF, id="stealthy_disabled_by_default"),
        pytest.param(
            OK_AFTER_PROBLEM, False, False, None, 100, Status.OFF, id="problem_as_old_as_the_interval_is_not_stealthy"
        ),
        pytest.param(
            OK_AFTER_PROBLEM,
            False,
            False,
            None,
            101,
            Status.STEALTHY,
            id="problem_younger_than_the_interval_is_stealthy",
        ),
        pytest.param(
            [(INC, 100, 2)], False, False, None, 600, Status.ONGOING, id="problem_state_is_ongoing_not_stealthy"
        ),
        pytest.param(
            [(INC, 100, 2)], False, False, flapping_rule(), 0, Status.ONGOING, id="rule_not_reached_gives_ongoing"
        ),
        pytest.param([(INC, 900, 2), (DEC, 800, 0)], False, False, None, 600, Status.OFF, id="ok_and_calm_is_off"),
    ],
)
def test_status_precedence_is_cancelled_flapping_stealthy_ongoing_off(
    steps: list[StepSpec],
    cancelled: bool,
    resolved: bool,
    rule: FlappingRule | None,
    stealthy_interval: int,
    expected: Status,
) -> None:
    subject = alarm(steps, cancelled=cancelled, resolved=resolved)

    status, rule_name = compute_status(subject, rule, stealthy_interval, NOW)

    assert status == expected
    assert rule_name == ("bouncy" if expected == Status.FLAPPING else None)


def test_stealthy_ignores_steps_that_are_not_state_changes() -> None:
    subject = alarm([(INC, 900, 2), (DEC, 800, 0), ("statusinc", 10, 1), ("ack", 5, 1)])

    assert not is_stealthy(subject, 600, NOW)


@pytest.mark.parametrize(
    ("output", "rule_name", "message"),
    [
        ("Disk 95%", None, "Disk 95%"),
        ("Disk 95%", "bouncy", "Disk 95%\nRule: bouncy"),
        ("", "bouncy", "Rule: bouncy"),
        ("", None, ""),
    ],
)
def test_status_step_message_appends_the_rule_name(output: str, rule_name: str | None, message: str) -> None:
    assert rule_message(output, rule_name) == message
