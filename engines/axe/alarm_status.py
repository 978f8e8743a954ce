"""Which status an alarm has: cancelled, flapping, stealthy, ongoing or off (reference §5.3).

Pure: the caller chooses the flapping rule (`engines.axe.rules.first_matching`) and gives `now`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from engines.model.alarm import Alarm, State, Status, StepType

if TYPE_CHECKING:
    from engines.axe.rule_documents import FlappingRule

__all__ = ["RULE_PREFIX", "compute_status", "count_state_switches", "is_stealthy", "rule_message"]

#: Canopsis `RuleNameRulePrefix`: how a rule's name is quoted in step messages and outputs.
RULE_PREFIX: Final = "Rule: "

_STATE_STEPS: Final = frozenset({StepType.STATE_INCREASE, StepType.STATE_DECREASE})


def compute_status(
    alarm: Alarm, flapping_rule: FlappingRule | None, stealthy_interval: int, now: int
) -> tuple[Status, str | None]:
    """The status `alarm` should have at `now`, and the name of the flapping rule that decided it.

    First match wins: cancelled (`v.canceled` set, alarm open) > flapping (more than
    `flapping_rule.freq_limit` switches between `stateinc` and `statedec` within its duration)
    > stealthy (see `is_stealthy`) > ongoing (state ≠ OK) > off. `flapping_rule` is the first
    rule, by priority, whose patterns match the alarm and its entity, or None; like Canopsis
    only that rule is evaluated. The rule name comes back only with FLAPPING.
    """
    if alarm.value.canceled is not None and alarm.value.resolved is None:
        return Status.CANCELLED, None
    if flapping_rule is not None:
        since = flapping_rule.duration.before(now)
        if count_state_switches(alarm, since, stop_above=flapping_rule.freq_limit) > (flapping_rule.freq_limit):
            return Status.FLAPPING, flapping_rule.name
    if is_stealthy(alarm, stealthy_interval, now):
        return Status.STEALTHY, None
    if alarm.state != State.OK:
        return Status.ONGOING, None
    return Status.OFF, None


def count_state_switches(alarm: Alarm, since: int, *, stop_above: int | None = None) -> int:
    """How many runs of `stateinc`/`statedec` steps the steps at or after `since` hold.

    Walks the steps newest first and stops at the first older than `since`. A step counts when
    its type differs from the previous state step counted, so `inc, inc, dec` counts 2 and
    other step types in between neither count nor break a run. With `stop_above`, counting
    stops as soon as the count exceeds it (the answer is then `stop_above + 1`).
    """
    last_type = ""
    switches = 0
    for step in reversed(alarm.value.steps):
        if step.timestamp < since:
            break
        if step.type in _STATE_STEPS and step.type != last_type:
            last_type = step.type
            switches += 1
            if stop_above is not None and switches > stop_above:
                break
    return switches


def is_stealthy(alarm: Alarm, interval: int, now: int) -> bool:
    """True when the alarm is OK now but was not OK at some point of the last `interval` seconds.

    That is, a `stateinc` or `statedec` step with a non-OK value is younger than `interval`
    while the current state is OK: a problem that came and went. This is the Python-era and
    R4.2 rule; Canopsis HEAD looks at `statusinc` steps and ignores the current state, which
    would call every fresh ongoing alarm stealthy. `interval` 0 (the default) disables it.
    """
    if interval <= 0 or alarm.state != State.OK:
        return False
    for step in reversed(alarm.value.steps):
        if now - step.timestamp >= interval:
            break
        if step.type in _STATE_STEPS and step.value != State.OK:
            return True
    return False


def rule_message(output: str, rule_name: str | None) -> str:
    """A status step message: the output, then "Rule: <name>" on its own line when a rule decided.

    Canopsis `ConcatOutputAndRuleName`.
    """
    if not rule_name:
        return output
    quoted = RULE_PREFIX + rule_name
    return f"{output}\n{quoted}" if output else quoted
