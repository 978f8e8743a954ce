"""Executions (`action_execution`): a scenario to run on one alarm, due now or after its delay."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from engines.action.scenarios import Scenario
from engines.model.alarm import Alarm
from engines.model.entity import Entity

__all__ = ["Execution", "execution_id", "new_execution"]


class Execution(BaseModel):
    """A scenario to run on one alarm: a document of `action_execution`.

    `run_at` is when it becomes due (the trigger time, plus the delay of a delayed scenario);
    `step` the next action to run; `alarm` and `entity` the documents at trigger time (a delayed
    execution re-reads the open alarm when it runs); `data` the triggering event's additional
    data as templates see it (`.AdditionalData`); `webhook` the JSON text of what earlier webhook
    actions answered (`.Response`, `.ResponseMap`, `.Header`); `claimed_by`/`claimed_until` the
    process running it and until when its claim holds (renewed on each beat).
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    scenario: str
    scenario_name: str = ""
    priority: int = 0
    alarm_id: str
    entity_id: str
    run_at: float
    delayed: bool = False
    alarm: dict[str, Any]
    entity: dict[str, Any] | None = None
    data: dict[str, str] = Field(default_factory=dict)
    step: int = 0
    webhook: str = ""
    created: float
    claimed_by: str | None = None
    claimed_until: float = 0.0

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def execution_id(scenario: Scenario, alarm: Alarm, alarm_change: Mapping[str, Any]) -> str:
    """A deterministic id: the same alarm change (a redelivered event) yields the same execution."""
    key = "|".join(
        str(part)
        for part in (
            scenario.id,
            alarm.id,
            alarm_change.get("Type") or "",
            len(alarm.value.steps),
            alarm.value.events_count,
            alarm.value.last_update_date,
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def new_execution(
    scenario: Scenario,
    alarm: Alarm,
    entity: Entity | None,
    alarm_change: Mapping[str, Any],
    data: Mapping[str, str],
    now: float,
) -> Execution:
    """The execution of `scenario` triggered by this alarm change; due now, or after its delay."""
    delay = scenario.delay.seconds(now) if scenario.is_delayed and scenario.delay is not None else 0
    return Execution(
        id=execution_id(scenario, alarm, alarm_change),
        scenario=scenario.id,
        scenario_name=scenario.name,
        priority=scenario.priority,
        alarm_id=alarm.id,
        entity_id=alarm.entity_id,
        run_at=now + delay,
        delayed=delay > 0,
        alarm=alarm.to_document(),
        entity=entity.to_document() if entity is not None else None,
        data=dict(data),
        created=now,
    )
