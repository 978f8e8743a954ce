"""The `action_scenario` document: a scenario, its actions and their parameters, validated on load.

Canopsis HEAD `GO/lib/canopsis/action/` (scenario); reference §6.3.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engines.action.webhook import WebhookRequest
from engines.model.pattern import Pattern

__all__ = ["ACTION_TYPES", "ALARM_ACTION_TYPES", "Action", "Duration", "Parameters", "Scenario"]

#: Actions whose effect is an event for axe (sent to the head of the chain).
ALARM_ACTION_TYPES: Final = ("ack", "ackremove", "assocticket", "cancel", "changestate", "snooze")
ACTION_TYPES: Final = (*ALARM_ACTION_TYPES, "pbehavior", "webhook")

_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Duration(BaseModel):
    """Canopsis `DurationWithUnit` `{value, unit}`; months and years are calendar ones."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    value: int = Field(ge=0)
    unit: Literal["s", "m", "h", "d", "w", "M", "y"]

    def seconds(self, now: float) -> int:
        """The length in seconds, counted from `now` (which matters for M and y only)."""
        if self.unit in _UNIT_SECONDS:
            return self.value * _UNIT_SECONDS[self.unit]
        start = datetime.fromtimestamp(int(now), UTC)
        shift = relativedelta(months=self.value) if self.unit == "M" else relativedelta(years=self.value)
        return int((start + shift).timestamp()) - int(now)


class Parameters(BaseModel):
    """An action's `parameters`; which ones matter depends on the action type (see `Action`).

    Unknown keys are kept (Pro fields such as `skip_for_child`).
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    output: str = ""
    author: str = ""
    forward_author: bool = False
    state: int | None = Field(default=None, ge=0, le=3)  # changestate
    duration: Duration | None = None  # snooze, pbehavior
    ticket: str = ""  # assocticket
    ticket_url: str = ""
    ticket_system_name: str = ""
    ticket_data: dict[str, str] | None = None
    name: str = ""  # pbehavior
    reason: str = ""
    type: str = ""
    rrule: str = ""
    tstart: int | None = None
    tstop: int | None = None
    start_on_trigger: bool | None = None
    color: str = ""
    request: dict[str, Any] | None = None  # webhook (WebhookRequest.from_parameters reads these)
    retry_count: int | None = None
    retry_delay: dict[str, Any] | None = None
    declare_ticket: dict[str, Any] | None = None  # webhook; assocticket after a webhook

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        """Canopsis' API may write `"state": null`, `"forward_author": null`: read them as unset."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class Action(BaseModel):
    """One step of a scenario: `{type, parameters, alarm_pattern, entity_pattern, comment,
    drop_scenario_if_not_matched, emit_trigger}`.

    Validated on load, as Canopsis' API does: the type is one of ACTION_TYPES, at least one of
    the two patterns is set (Canopsis skips a scenario whose action has none), and the parameters
    the type needs are present (`state` for changestate, `duration` for snooze, `name`, `type`,
    `reason` and a start for pbehavior, a valid `request` for webhook).
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    type: str
    comment: str = ""
    parameters: Parameters = Field(default_factory=Parameters)
    alarm_pattern: Pattern = Field(default_factory=Pattern)
    entity_pattern: Pattern = Field(default_factory=Pattern)
    drop_scenario_if_not_matched: bool = False
    emit_trigger: bool = False

    @field_validator("alarm_pattern", "entity_pattern", mode="before")
    @classmethod
    def _parse_pattern(cls, raw: Any) -> Pattern:
        return raw if isinstance(raw, Pattern) else Pattern.parse(raw)

    @field_validator("parameters", mode="before")
    @classmethod
    def _no_null_parameters(cls, raw: Any) -> Any:
        return {} if raw is None else raw

    @model_validator(mode="after")
    def _check(self) -> Action:
        if self.type not in ACTION_TYPES:
            raise ValueError(f"action type {self.type!r} is not supported (one of {', '.join(ACTION_TYPES)})")
        if self.alarm_pattern.is_empty and self.entity_pattern.is_empty:
            raise ValueError("the action has neither alarm_pattern nor entity_pattern")
        p = self.parameters
        if self.type == "changestate" and p.state is None:
            raise ValueError("changestate needs parameters.state (0 to 3)")
        if self.type == "snooze" and p.duration is None:
            raise ValueError("snooze needs parameters.duration {value, unit}")
        if self.type == "pbehavior":
            missing = [k for k in ("name", "type", "reason") if not getattr(p, k)]
            if missing:
                raise ValueError(f"pbehavior needs parameters {', '.join(missing)}")
            if p.duration is None and p.tstart is None:
                raise ValueError("pbehavior needs parameters.duration (start on trigger) or tstart")
        if self.type == "webhook":
            WebhookRequest.from_parameters(p.model_dump())  # raises ValueError naming the field
        return self

    def webhook_request(self) -> WebhookRequest:
        """The request of a webhook action (validated on load)."""
        return WebhookRequest.from_parameters(self.parameters.model_dump())


class Scenario(BaseModel):
    """An `action_scenario` document; unknown fields are kept.

    A missing `enabled` counts as enabled (Canopsis `GetEnabled`); a `delay` of 0 is no delay.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    name: str = ""
    author: str = ""
    enabled: bool = True
    priority: int = 0
    triggers: list[str] = Field(default_factory=list)
    delay: Duration | None = None
    disable_during_periods: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1)
    created: int | None = None

    @field_validator("disable_during_periods", "triggers", mode="before")
    @classmethod
    def _no_null_list(cls, raw: Any) -> Any:
        return [] if raw is None else raw

    @property
    def is_delayed(self) -> bool:
        return self.delay is not None and self.delay.value > 0

    def triggered_by(self, triggers: Iterable[str]) -> bool:
        return not set(self.triggers).isdisjoint(triggers)
