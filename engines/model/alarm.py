"""The alarm document of `periodical_alarm` (and `resolved_alarms`), its steps and vocabulary.

Reference §5.1 (document), §5.2 (steps), §5.3 (states and statuses), §5.5 (change types).
Unknown fields, at every level, are kept so a read-modify-write never loses what Canopsis or a
Pro feature stored. Times are unix seconds, as Canopsis stores them. Over 400 lines on purpose: the
document, its steps and the vocabulary of reference §5 belong together.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, Field

from engines.model.event import SYSTEM_AUTHOR, Event, State
from engines.model.pbehavior_info import PbhInfo, in_pbehavior

__all__ = [
    "LONG_OUTPUT_HISTORY_LIMIT",
    "STEPS_HARD_LIMIT",
    "Alarm",
    "AlarmChange",
    "AlarmValue",
    "ChangeType",
    "State",
    "Status",
    "Step",
    "StepType",
    "alarm_tags",
    "display_name",
    "step_allowed",
    "steps_allowed",
]

#: Canopsis `AlarmStepsHardLimit`: past this many steps only the steps of `step_allowed` are added.
STEPS_HARD_LIMIT: Final = 2000
#: Canopsis `AlarmLongOutputHistoryLimit`: distinct successive long outputs kept.
LONG_OUTPUT_HISTORY_LIMIT: Final = 100

_DISPLAY_ALPHABET: Final = string.ascii_uppercase + string.digits


class Status(IntEnum):
    """`v.status.val`. NOEVENTS has no title constant in Canopsis; idle rules use it."""

    OFF = 0
    ONGOING = 1
    STEALTHY = 2
    FLAPPING = 3
    CANCELLED = 4
    NOEVENTS = 5


class StepType(StrEnum):
    """`_t` of a step (Canopsis `GetAlarmStepTypes`). Steps of other types are still read."""

    STATE_INCREASE = "stateinc"
    STATE_DECREASE = "statedec"
    STATUS_INCREASE = "statusinc"
    STATUS_DECREASE = "statusdec"
    ACK = "ack"
    ACK_REMOVE = "ackremove"
    COMMENT = "comment"
    SNOOZE = "snooze"
    UNSNOOZE = "unsnooze"
    STATE_COUNTER = "statecounter"
    CHANGE_STATE = "changestate"
    PBH_ENTER = "pbhenter"
    PBH_LEAVE = "pbhleave"
    META_ALARM_ATTACH = "metaalarmattach"
    META_ALARM_DETACH = "metaalarmdetach"
    ACTIVATE = "activate"
    RESOLVE = "resolve"
    ASSOC_TICKET = "assocticket"
    DECLARE_TICKET = "declareticket"
    DECLARE_TICKET_FAIL = "declareticketfail"
    WEBHOOK_START = "webhookstart"
    WEBHOOK_COMPLETE = "webhookcomplete"
    WEBHOOK_FAIL = "webhookfail"
    INSTRUCTION_START = "instructionstart"
    INSTRUCTION_PAUSE = "instructionpause"
    INSTRUCTION_RESUME = "instructionresume"
    INSTRUCTION_COMPLETE = "instructioncomplete"
    INSTRUCTION_FAIL = "instructionfail"
    INSTRUCTION_ABORT = "instructionabort"
    AUTO_INSTRUCTION_START = "autoinstructionstart"
    AUTO_INSTRUCTION_COMPLETE = "autoinstructioncomplete"
    AUTO_INSTRUCTION_FAIL = "autoinstructionfail"
    JUNIT_TEST_SUITE_UPDATE = "junittestsuiteupdate"
    JUNIT_TEST_CASE_UPDATE = "junittestcaseupdate"


class ChangeType(StrEnum):
    """`alarm_change.Type`: what an event did to the alarm; NONE ("") means nothing notable."""

    NONE = ""
    STATE_INCREASE = "stateinc"
    STATE_DECREASE = "statedec"
    CREATE = "create"
    CREATE_AND_PBH_ENTER = "createandpbhenter"
    ACK = "ack"
    DOUBLE_ACK = "doubleack"
    ACK_REMOVE = "ackremove"
    CANCEL = "cancel"
    UNCANCEL = "uncancel"
    ASSOC_TICKET = "assocticket"
    SNOOZE = "snooze"
    UNSNOOZE = "unsnooze"
    RESOLVE = "resolve"
    COMMENT = "comment"
    CHANGE_STATE = "changestate"
    PBH_ENTER = "pbhenter"
    PBH_LEAVE = "pbhleave"
    PBH_LEAVE_AND_ENTER = "pbhleaveandenter"
    UPDATE_STATUS = "changestatus"  # sic: the `updatestatus` event yields `changestatus`
    ACTIVATE = "activate"
    ENABLED = "enabled"


class Step(BaseModel):
    """One entry of `v.steps`; also the value of `v.state`, `v.status`, `v.ack`, `v.snooze`…

    Frozen: a step, once written, never changes, so copies of an alarm may share them.
    Python names are spelled out; the document keys are Canopsis' (`_t`, `t`, `a`, `m`, `val`).
    Either spelling is accepted on input.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="allow", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    type: str = Field(alias="_t")
    timestamp: int = Field(alias="t")
    author: str = Field(default=SYSTEM_AUTHOR, alias="a")
    user_id: str | None = None
    message: str = Field(default="", alias="m")
    role: str | None = None
    value: int = Field(default=0, alias="val")
    initiator: str | None = None
    in_pbh: bool | None = None
    ticket: str | None = None
    ticket_url: str | None = None
    ticket_comment: str | None = None
    ticket_system_name: str | None = None
    ticket_meta_alarm_id: str | None = None
    ticket_rule_id: str | None = None
    ticket_rule_name: str | None = None
    ticket_data: dict[str, str] | None = None

    @classmethod
    def from_event(
        cls,
        kind: str,
        event: Event,
        author: str,
        *,
        alarm: Alarm | None = None,
        value: int = 0,
        message: str | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> Self:
        """A step recording `event`: its time (unless `timestamp`), user, role and initiator,
        `m` = its output unless `message`. `in_pbh` is set while `alarm` has a pbehavior, as
        Canopsis does; extra `fields` (ticket fields) are kept when not None."""
        in_pbh = alarm is not None and in_pbehavior(alarm.value.pbehavior_info)
        return cls(
            type=kind,
            timestamp=event.timestamp if timestamp is None else timestamp,
            author=author,
            user_id=event.user_id,
            message=(event.output or "") if message is None else message,
            role=event.role,
            value=value,
            initiator=event.initiator,
            in_pbh=True if in_pbh else None,
            **{name: field for name, field in fields.items() if field is not None},
        )


class AlarmValue(BaseModel):
    """`v`: the alarm proper. `state` and `status` are the last state and status steps."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    state: Step
    status: Step
    steps: list[Step] = Field(default_factory=list)
    ack: Step | None = None
    canceled: Step | None = None
    snooze: Step | None = None
    change_state: Step | None = None
    ticket: Step | None = None
    tickets: list[Step] = Field(default_factory=list)
    last_comment: Step | None = None
    component: str = ""
    resource: str = ""
    connector: str = ""
    connector_name: str = ""
    creation_date: int
    activation_date: int | None = None
    display_name: str = ""
    output: str = ""
    long_output: str = ""
    initial_output: str = ""
    initial_long_output: str = ""
    long_output_history: list[str] = Field(default_factory=list)
    last_update_date: int
    last_event_date: int | None = None
    resolved: int | None = None
    state_changes_since_status_update: int = 0
    total_state_changes: int = 0
    events_count: int = 0
    pbehavior_info: dict[str, Any] | None = None
    inactive_start: int | None = None
    duration: int | None = None
    current_state_duration: int | None = None
    active_duration: int | None = None
    inactive_duration: int = 0
    snooze_duration: int = 0
    pbh_inactive_duration: int = 0


class Alarm(BaseModel):
    """A `periodical_alarm` document: `{_id, t, d, e, v, tags, …}` (reference §5.1).

    `id` is a UUID chosen by the caller; `entity_id` the entity id ("eid"); `entity` the
    embedded entity document. The open alarm of an entity is the one with `v.resolved` null.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True)

    id: str = Field(alias="_id")
    time: int = Field(alias="t")
    entity_id: str = Field(alias="d")
    entity: dict[str, Any] | None = Field(default=None, alias="e")
    value: AlarmValue = Field(alias="v")
    tags: list[str] = Field(default_factory=list)
    etags: list[str] = Field(default_factory=list)
    not_acked_since: int | None = None
    #: Message ids of the last events applied (ours, not Canopsis'): see engines/axe/replay.py.
    applied: list[str] | None = Field(default=None, alias="cps_applied")

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Self:
        """Read a stored document; raises pydantic.ValidationError if it is not an alarm."""
        return cls.model_validate(document)

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document (and the `current_alarm` an event carries): JSON-compatible,
        Canopsis keys, None fields left out (so `v.resolved` is absent while open)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def state(self) -> State:
        """Current severity, `v.state.val` (an out-of-range stored value is clamped to 0..3)."""
        return State(min(max(self.value.state.value, State.OK), State.CRITICAL))

    @property
    def status(self) -> int:
        """Current status, `v.status.val`; a plain int because Pro statuses exist beyond 5."""
        return self.value.status.value

    @property
    def is_resolved(self) -> bool:
        return self.value.resolved is not None

    @property
    def is_acked(self) -> bool:
        return self.value.ack is not None

    @property
    def is_cancelled(self) -> bool:
        return self.value.canceled is not None

    @property
    def is_state_locked(self) -> bool:
        """True while an operator's `changestate` holds the state (until an OK check)."""
        return self.value.change_state is not None

    def edited(self) -> Alarm:
        """A copy to change: its lists are new, its steps shared (they are frozen)."""
        value = self.value.model_copy(
            update={
                "steps": list(self.value.steps),
                "tickets": list(self.value.tickets),
                "long_output_history": list(self.value.long_output_history),
            }
        )
        return self.model_copy(update={"value": value, "tags": list(self.tags), "etags": list(self.etags)})

    def is_snoozed(self, now: int) -> bool:
        """True while a snooze is set and its end (`v.snooze.val`) is still ahead of `now`."""
        snooze = self.value.snooze
        return snooze is not None and snooze.value > now


@dataclass(frozen=True)
class AlarmChange:
    """What an event did: the alarm after it, the change type, and what the alarm was before.

    `alarm`: the alarm after the event, None when there is none (an OK check on an entity
    without alarm, a pbehavior event on an entity without alarm). `type`: a ChangeType value;
    "" when nothing notable happened (a check that only refreshed the output still modifies the
    alarm). `previous_*`: the alarm before the event (OK, off and `now` when there was none;
    `previous_pbehavior_info` its `v.pbehavior_info`). `modified`: the alarm must be written
    (inserted when `type` is "create"). `resolved`: the event resolved it, so the store also
    copies it into `resolved_alarms`. `forward`: the event goes on to the next engine with
    `current_alarm` and `alarm_change`; otherwise it stops here.
    """

    alarm: Alarm | None
    type: str = ChangeType.NONE
    previous_state: int = State.OK
    previous_status: int = Status.OFF
    previous_state_change: int = 0
    previous_status_change: int = 0
    previous_pbehavior_info: dict[str, Any] | None = None
    resolved: bool = False
    forward: bool = False
    modified: bool = False

    @property
    def is_noop(self) -> bool:
        """Nothing to write and nothing to forward."""
        return not self.modified and not self.forward

    def to_event_field(self) -> dict[str, Any]:
        """The event's `alarm_change` object, keyed in CamelCase as Canopsis' Go struct is.

        The `PreviousPbehavior*` keys describe the pbehavior the alarm was in before the event
        (null/empty when none); `PreviousEntityPbehaviorTime` stays null (axe does not read the
        entity's own copy). Built by `engines.axe.lifecycle.apply_event`.
        """
        before = PbhInfo.read(self.previous_pbehavior_info)
        return {
            "Type": str(self.type),
            "PreviousState": int(self.previous_state),
            "PreviousStateChange": self.previous_state_change,
            "PreviousStatus": int(self.previous_status),
            "PreviousStatusChange": self.previous_status_change,
            "PreviousPbehaviorTime": before.timestamp if before else None,
            "PreviousEntityPbehaviorTime": None,
            "PreviousPbehaviorTypeID": before.type if before else "",
            "PreviousPbehaviorCannonicalType": before.canonical_type if before else "",  # sic
            "EventsCount": 0 if self.alarm is None else self.alarm.value.events_count,
        }


def steps_allowed(steps: Sequence[Step], start: int) -> bool:
    """Whether `step_allowed` accepts each of `steps[start:]`, appended after `steps[:start]`."""
    return all(step_allowed(count, steps[count]) for count in range(start, len(steps)))


def step_allowed(step_count: int, step: Step) -> bool:
    """Whether `step` may be appended to a list already holding `step_count` steps.

    Past STEPS_HARD_LIMIT only the steps that bring an alarm back to rest are accepted, as
    Canopsis' `AlarmSteps.Add` does (a `statedec` to OK, a `statusdec` to off, a cancel status
    step), plus `resolve` and `unsnooze`, which Canopsis appends without the size condition:
    refusing them would leave a full alarm open or snoozed for ever.
    """
    if step_count < STEPS_HARD_LIMIT:
        return True
    kind, value = step.type, step.value
    return (
        (kind == StepType.STATE_DECREASE and value == State.OK)
        or (kind == StepType.STATUS_DECREASE and value == Status.OFF)
        or (kind in (StepType.STATUS_INCREASE, StepType.STATUS_DECREASE) and value == Status.CANCELLED)
        or kind in (StepType.RESOLVE, StepType.UNSNOOZE)
    )


def alarm_tags(tags: Mapping[str, str] | None) -> list[str]:
    """An event's `tags` map as alarm tags: "key: value", or "key" alone when the value is empty.

    Canopsis `TransformEventTags`; keys and values are trimmed and empty keys dropped.
    """
    result = []
    for key, value in (tags or {}).items():
        key, value = key.strip(), value.strip()
        if key:
            result.append(f"{key}: {value}" if value else key)
    return result


def display_name(alarm_id: str) -> str:
    """A short human handle like "A1B-2C3-D4E" for `v.display_name`.

    Canopsis draws it at random; here it is derived from the alarm id, so the pure code stays
    deterministic. Like Canopsis', it is not guaranteed unique.
    """
    digest = hashlib.sha256(alarm_id.encode()).digest()
    letters = "".join(_DISPLAY_ALPHABET[byte % len(_DISPLAY_ALPHABET)] for byte in digest[:9])
    return f"{letters[:3]}-{letters[3:6]}-{letters[6:]}"
