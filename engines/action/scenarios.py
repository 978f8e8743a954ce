"""Action scenarios (`action_scenario`): which ones an alarm change triggers, and what each action does.

Pure: every function takes models and `now` and returns models, events or documents; nothing
here awaits, logs or reads the clock. Semantics follow Canopsis HEAD `GO/lib/canopsis/action/`
(scenario, storage, worker pool) and `types/alarm_change.go` (`GetTriggers`); reference §6.3, §5.5.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engines.action.view import template_data
from engines.action.webhook import WebhookRequest
from engines.model.template import render
from engines.model.address import SYSTEM_CONNECTOR, event_address
from engines.model.alarm import Alarm
from engines.model.entity import Entity
from engines.model.event import SYSTEM_AUTHOR, Event, Initiator
from engines.model.pattern import Pattern, entity_document
from engines.model.pbehavior_info import ACTIVE, PbhInfo

__all__ = [
    "ACTION_TYPES",
    "ALARM_ACTION_TYPES",
    "EXECUTION_KEY",
    "Action",
    "Duration",
    "Execution",
    "Parameters",
    "Scenario",
    "alarm_action_event",
    "alarm_document",
    "canonical_type",
    "execution_id",
    "is_runnable",
    "matching",
    "new_execution",
    "pbehavior_document",
    "triggers_of",
]

#: Actions whose effect is an event for axe (sent to the head of the chain).
ALARM_ACTION_TYPES: Final = ("ack", "ackremove", "assocticket", "cancel", "changestate", "snooze")
ACTION_TYPES: Final = (*ALARM_ACTION_TYPES, "pbehavior", "webhook")
#: Top-level key of the events an action sends, so that the action engine recognises them when
#: axe forwards them back: their change triggers scenarios only when the action says `emit_trigger`.
EXECUTION_KEY: Final = "scenario_execution"
#: Canopsis `RuleNameScenarioPrefix`: outputs and ticket rule names of scenario actions start so.
SCENARIO_PREFIX: Final = "Scenario: "
#: Canopsis `PbehaviorOrigin` for pbehaviors created by a scenario.
PBEHAVIOR_ORIGIN: Final = "scenario"
#: Canopsis `MinimalEventsCountThreshold`: `eventscount<N>` triggers start at N = 2.
EVENTS_COUNT_THRESHOLD: Final = 2

_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Change types that trigger nothing (Canopsis `GetTriggers`).
_NOT_TRIGGERS: Final = frozenset({
    "webhookstart", "webhookcomplete", "webhookfail", "declareticketwebhookfail",
    "autowebhookstart", "autowebhookcomplete", "autowebhookfail", "autodeclareticketwebhookfail",
    "autoinstructionactivate", "metaalarmchildactivate", "metaalarmchilddeactivate",
})  # fmt: skip


# --- the scenario document -----------------------------------------------------------------------


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


# --- triggers and matching -----------------------------------------------------------------------


def triggers_of(alarm_change: Mapping[str, Any]) -> list[str]:
    """The scenario triggers of an event's `alarm_change` (Canopsis `AlarmChange.GetTriggers`).

    The change type itself, except: `createandpbhenter` → create, pbhenter; `pbhleaveandenter` →
    pbhenter, pbhleave; `doubleack` → ack; `(auto)declareticketwebhook` → declareticketwebhook;
    webhook/instruction-activation/meta-alarm-child types → none. A check with no notable change,
    `stateinc` and `statedec` also give `eventscount<N>` once `EventsCount` ≥ 2, and `eventscount`
    once it is ≥ 1.

    >>> triggers_of({"Type": "stateinc", "EventsCount": 3})
    ['stateinc', 'eventscount3', 'eventscount']
    """
    change = str(alarm_change.get("Type") or "")
    count = alarm_change.get("EventsCount")
    count = count if isinstance(count, int) and not isinstance(count, bool) else 0
    if change in ("", "stateinc", "statedec"):
        triggers = [change] if change else []
        if count >= EVENTS_COUNT_THRESHOLD:
            triggers.append(f"eventscount{count}")
        if count > 0:
            triggers.append("eventscount")
        return triggers
    if change == "createandpbhenter":
        return ["create", "pbhenter"]
    if change == "pbhleaveandenter":
        return ["pbhenter", "pbhleave"]
    if change == "doubleack":
        return ["ack"]
    if change in ("declareticketwebhook", "autodeclareticketwebhook"):
        return ["declareticketwebhook"]
    if change in _NOT_TRIGGERS:
        return []
    return [change]


def canonical_type(alarm: Alarm) -> str:
    """The canonical type of the pbehavior in force on the alarm; "active" when there is none."""
    info = PbhInfo.read(alarm.value.pbehavior_info)
    return (info.canonical_type if info is not None else "") or ACTIVE


def alarm_document(alarm: Alarm, now: float) -> dict[str, Any]:
    """The alarm as alarm patterns see it: the stored document, with `v.duration` computed for an
    open alarm (seconds since creation), as Canopsis fills it before matching."""
    doc = alarm.to_document()
    value = doc["v"]
    if value.get("duration") is None:
        value["duration"] = int(now) - alarm.value.creation_date
    return doc


def is_runnable(action: Action, alarm: Alarm, entity: Entity | None, now: float) -> bool:
    """Whether the action's patterns accept the alarm and its entity; an empty pattern accepts."""
    if not action.alarm_pattern.is_empty and action.alarm_pattern.match(alarm_document(alarm, now), now=now) is None:
        return False
    if action.entity_pattern.is_empty:
        return True
    return entity is not None and action.entity_pattern.match(entity_document(entity), now=now) is not None


def _would_run(scenario: Scenario, alarm: Alarm, entity: Entity | None, now: float) -> bool:
    """True when some action would run: the first runnable one comes before any non-matching
    action that drops the scenario (Canopsis checks delayed scenarios so before storing them)."""
    for action in scenario.actions:
        if is_runnable(action, alarm, entity, now):
            return True
        if action.drop_scenario_if_not_matched:
            return False
    return False


def matching(
    scenarios: Iterable[Scenario], triggers: Sequence[str], alarm: Alarm, entity: Entity | None, now: float
) -> list[Scenario]:
    """The scenarios to run for this alarm change, by priority (lowest first), then id.

    A scenario runs when it is enabled, one of its triggers is in `triggers`, the alarm is not in
    a pbehavior whose canonical type is in its `disable_during_periods` (no pbehavior counts as
    "active"), and at least one of its actions would run on this alarm and entity (patterns are
    checked again, action by action, when it runs).
    """
    period = canonical_type(alarm)
    found = [
        s for s in scenarios
        if s.enabled and s.triggered_by(triggers) and period not in s.disable_during_periods
        and _would_run(s, alarm, entity, now)
    ]  # fmt: skip
    return sorted(found, key=lambda s: (s.priority, s.id))


# --- what an action does -------------------------------------------------------------------------


def _author(action: Action, data: Mapping[str, Any], view: Mapping[str, object]) -> str:
    """Canopsis `resolveAuthor`: the triggering event's author with `forward_author`, else the
    rendered `author` parameter, else "system"."""
    params = action.parameters
    if params.forward_author:
        return str(data.get("Author") or SYSTEM_AUTHOR)
    return render(params.author, view) if params.author else SYSTEM_AUTHOR


def _output(action: Action, scenario: Scenario | None, view: Mapping[str, object]) -> str:
    """"Scenario: <name>. Comment: <output>." as Canopsis writes it; the output is a template."""
    comment = render(action.parameters.output, view) if action.parameters.output else ""
    if scenario is None:
        return comment
    return f"{SCENARIO_PREFIX}{scenario.name}" + (f". Comment: {comment}." if comment else "")


def alarm_action_event(
    action: Action,
    alarm: Alarm,
    entity: Entity | None,
    now: float,
    *,
    scenario: Scenario | None = None,
    data: Mapping[str, Any] | None = None,
    ticket: Mapping[str, Any] | None = None,
    execution: Mapping[str, Any] | None = None,
) -> Event:
    """The event that performs an alarm action (ACTION_TYPES but pbehavior and webhook).

    A system event (`initiator` "system", `timestamp` now) of the action's type aimed at the
    alarm's entity (`event_address`): connector, connector_name, component and resource from the
    alarm's `v` (connector "system" when it has none), `source_type` from the entity type; `author` per `_author`; `output` "Scenario: <name>.
    Comment: <output>." (the output parameter alone without `scenario`); `state` for changestate,
    `duration` in seconds for snooze, the ticket fields for assocticket (`ticket` overrides the
    parameters' ticket, ticket_url and ticket_data, e.g. with what a webhook answered).
    `data` is the triggering event's additional data (`Author` for forward_author); `execution`
    is written under EXECUTION_KEY.

    Raises TemplateError when the output or author template fails, ValueError for a pbehavior or
    webhook action.
    """
    if action.type not in ALARM_ACTION_TYPES:
        raise ValueError(f"a {action.type} action is not performed by an event")
    data = data or {}
    view = template_data(alarm, entity, additional=data)
    params = action.parameters
    address = event_address(entity, SYSTEM_CONNECTOR, keep_entity_connector=False, recorded=alarm.value)
    fields: dict[str, Any] = {
        **address.fields(),
        "event_type": action.type,
        "author": _author(action, data, view),
        "initiator": Initiator.SYSTEM,
        "output": _output(action, scenario, view),
        "timestamp": int(now),
    }
    if action.type == "changestate":
        fields["state"] = params.state
    elif action.type == "snooze":
        assert params.duration is not None, "validated with the action"
        fields["duration"] = params.duration.seconds(now)
    elif action.type == "assocticket":
        given = dict(ticket or {})
        fields.update(
            ticket=given.get("ticket", params.ticket),
            ticket_url=given.get("ticket_url", params.ticket_url) or None,
            ticket_system_name=params.ticket_system_name or None,
            ticket_data=given.get("ticket_data", params.ticket_data) or None,
            ticket_comment=action.comment or None,
            ticket_rule_id=scenario.id if scenario else None,
            ticket_rule_name=f"{SCENARIO_PREFIX}{scenario.name}" if scenario else None,
        )
    if execution is not None:
        fields[EXECUTION_KEY] = dict(execution)
    return Event.model_validate({k: f for k, f in fields.items() if f is not None}, context={"now": now})


def pbehavior_document(
    action: Action,
    alarm: Alarm,
    entity: Entity | None,
    now: float,
    *,
    pbehavior_id: str,
    scenario: Scenario | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `pbehavior` document a pbehavior action inserts, for the pbehavior engine's next beat.

    Targets the alarm's entity with an entity pattern `_id eq <entity id>`. With
    `start_on_trigger` (or without `tstart`) it runs from `now` for `duration`; otherwise from
    the `tstart` to the `tstop` parameters. `type_` and `reason` are the ids of a pbehavior type
    and reason, as Canopsis stores them. Raises TemplateError when the author template fails.
    """
    if action.type != "pbehavior":
        raise ValueError(f"a {action.type} action does not create a pbehavior")
    params = action.parameters
    view = template_data(alarm, entity, additional=data or {})
    start_now = params.start_on_trigger or params.tstart is None
    if start_now:
        tstart = int(now)
        tstop = tstart + params.duration.seconds(now) if params.duration is not None else params.tstop
    else:
        tstart, tstop = int(params.tstart or now), params.tstop
    document: dict[str, Any] = {
        "_id": pbehavior_id,
        "name": params.name,
        "author": _author(action, data or {}, view),
        "enabled": True,
        "type_": params.type,
        "reason": params.reason,
        "tstart": tstart,
        "rrule": params.rrule,
        "color": params.color,
        "comments": [],
        "exdates": [],
        "exceptions": [],
        "entity_pattern": [[{"field": "_id", "cond": {"type": "eq", "value": alarm.entity_id}}]],
        "origin": PBEHAVIOR_ORIGIN,
        "created": int(now),
        "updated": int(now),
    }
    if tstop is not None:
        document["tstop"] = int(tstop)
    if scenario is not None:
        document["scenario"] = scenario.id
    return document


# --- executions ----------------------------------------------------------------------------------


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
        str(part) for part in (
            scenario.id, alarm.id, alarm_change.get("Type") or "", len(alarm.value.steps),
            alarm.value.events_count, alarm.value.last_update_date,
        )
    )  # fmt: skip
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
