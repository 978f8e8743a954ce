"""The Canopsis event: the JSON object every engine consumes and forwards (domain reference §1)."""

from __future__ import annotations

import math
import re
import time
from enum import IntEnum, StrEnum
from typing import Any, Final, Self

from pydantic import StrictBool, StrictInt, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from framework import Message

__all__ = ["EVENT_TYPES", "MAX_TIMESTAMP_VARIATION", "SYSTEM_AUTHOR", "Event", "Initiator", "SourceType", "State"]

#: Any JSON object carried through untouched (entity, alarm, pbehavior documents).
JsonObject = dict[str, Any]


class SourceType(StrEnum):
    """What an event is about; decides which of component and resource are required."""

    CONNECTOR = "connector"
    COMPONENT = "component"
    RESOURCE = "resource"
    SERVICE = "service"
    METAALARM = "metaalarm"


class Initiator(StrEnum):
    """Who sent an event (`initiator`): an operator, an engine, or anything else (a connector).

    Canopsis `types.Initiator*`. An event received without one is external.
    """

    USER = "user"
    SYSTEM = "system"
    EXTERNAL = "external"


#: The author of what engines do themselves (the events they send, the steps they write), as
#: Canopsis' `DefaultEventAuthor`; not to be confused with the initiator of the same spelling.
SYSTEM_AUTHOR: Final = "system"


class State(IntEnum):
    """Severity; alarms order by this number, 3 being the worst."""

    OK = 0
    MINOR = 1
    MAJOR = 2
    CRITICAL = 3


#: `isValidEventType` at Canopsis HEAD e029897678 (GO/lib/canopsis/types/event.go), verbatim.
#: `updatecounters` and the `webhook*`/`autowebhook*` types exist as constants there but are not
#: in the whitelist: Canopsis sends them engine to engine without re-validating.
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "check",
        "activate",
        "ack",
        "ackremove",
        "assocticket",
        "cancel",
        "comment",
        "declareticketwebhook",
        "changestate",
        "snooze",
        "unsnooze",
        "uncancel",
        "resolve_cancel",
        "resolve_close",
        "resolve_deleted",
        "pbhenter",
        "pbhleaveandenter",
        "pbhleave",
        "updatestatus",
        "metaalarm",
        "metaalarmattachchildren",
        "metaalarmdetachchildren",
        "metaalarm_ungroup",
        "metaalarm_update",
        "manual_metaalarm_group",
        "manual_metaalarm_ungroup",
        "manual_metaalarm_update",
        "recomputeentityservice",
        "entityupdated",
        "entitytoggled",
        "noevents",
        "run_delayed_scenario",
        "instructionstarted",
        "instructionpaused",
        "instructionresumed",
        "instructioncompleted",
        "instructionfailed",
        "instructionaborted",
        "autoinstructionstarted",
        "autoinstructioncompleted",
        "autoinstructionfailed",
        "instructionjobstarted",
        "instructionjobcompleted",
        "instructionjobfailed",
        "junittestsuiteupdated",
        "junittestcaseeupdated",  # sic: Canopsis spells it with "ee"
        "trigger",
        "autoinstructionactivate",
        "metaalarmchildactivate",
        "metaalarmchilddeactivate",
    }
)

#: A timestamp further than this from `now` (seconds, either way) is replaced by `now`.
MAX_TIMESTAMP_VARIATION: Final = 24 * 60 * 60

_SOURCE_TYPE_VALUES: Final = frozenset(SourceType)
_STATE_VALUES: Final = frozenset(State)
_DIGITS: Final = re.compile(r"-?[0-9]+")
_REQUIRED_BY_SOURCE: Final[dict[SourceType, tuple[str, ...]]] = {
    SourceType.CONNECTOR: (),
    SourceType.COMPONENT: ("component",),
    SourceType.SERVICE: ("component",),
    SourceType.METAALARM: ("component",),
    SourceType.RESOURCE: ("component", "resource"),
}


class Event(Message):
    """One Canopsis event, validated as engine-fifo's `IsValid` and normalised as its `Format`.

    Parse with `Event.model_validate_json(body, context={"now": unix_seconds})` (or
    `framework.message.decode`, which passes the engine's context): the engine always gives
    `now`, so the timestamp rule is deterministic; without it `time.time()` is used.

    Normalisation (applied to the received object, so the keys it adds are written back out):
    `timestamp` missing, 0 or more than 24 h from `now` becomes `int(now)`; an empty `initiator`
    becomes "external"; an external event with an empty `author` gets
    "<connector>.<connector_name>". `event_type` is never defaulted: Canopsis refuses an event
    without one. Numbers are read as Canopsis does: floats truncate toward zero, strings and
    booleans are refused.

    Validation errors name the field and the value, e.g.
    `source_type: 'resources' is not one of connector, component, resource, service, metaalarm`.
    Keys not declared here are kept and written back by `to_json()`; declared optional fields
    stay absent from the output unless received or assigned.
    """

    connector: str
    connector_name: str
    event_type: str
    source_type: SourceType
    component: str | None = None
    resource: str | None = None
    state: State | None = None
    output: str | None = None
    long_output: str | None = None
    timestamp: int
    author: str | None = None
    initiator: str
    user_id: str | None = None
    role: str | None = None
    perf_data: str | None = None
    perf_data_array: list[JsonObject] | None = None
    duration: int | None = None
    status: int | None = None
    ticket: str | None = None
    ticket_url: str | None = None
    ticket_comment: str | None = None
    ticket_system_name: str | None = None
    ticket_data: dict[str, str] | None = None
    ticket_meta_alarm_id: str | None = None
    ticket_rule_id: str | None = None
    ticket_rule_name: str | None = None
    tags: dict[str, str] | None = None
    aid: str | None = None
    debug: StrictBool | None = None
    rt: StrictInt | None = None  # receive time in unix microseconds, set by fifo
    extra: JsonObject | None = None
    current_entity: JsonObject | None = None
    current_alarm: JsonObject | None = None
    alarm_change: JsonObject | None = None
    pbehavior_info: JsonObject | None = None

    @property
    def entity_id(self) -> str:
        """The entity id ("eid"): `resource/component`, `component` or `connector/connector_name`.

        Like Canopsis `GetEID`, this looks only at which fields are non-empty, not at
        `source_type`: a connector event that names a resource still gets `resource/component`.
        """
        if self.resource:
            return f"{self.resource}/{self.component or ''}"
        if self.component:
            return self.component
        return f"{self.connector}/{self.connector_name}"

    @property
    def key(self) -> str:
        """Ordering key: events about the same entity are handled in the order received."""
        return self.entity_id

    @model_validator(mode="before")
    @classmethod
    def _format(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic then refuses it as "not an object"
        data = dict(data)  # never mutate a caller's dict
        now = _now(info)
        seconds = _seconds(data.get("timestamp"))
        if seconds is not None:  # else left for the field validator to refuse
            too_far = abs(seconds - now) > MAX_TIMESTAMP_VARIATION
            data["timestamp"] = int(now) if seconds == 0 or too_far else seconds
        if data.get("initiator") in (None, ""):
            data["initiator"] = Initiator.EXTERNAL.value
        if data.get("author") in (None, "") and data["initiator"] == Initiator.EXTERNAL:
            connector, name = data.get("connector"), data.get("connector_name")
            if isinstance(connector, str) and isinstance(name, str):
                data["author"] = f"{connector}.{name}"
        return data

    @field_validator("connector", "connector_name", mode="before")
    @classmethod
    def _check_not_empty(cls, value: object) -> object:
        if value == "":
            raise _invalid("must not be empty")
        return value

    @field_validator("event_type")
    @classmethod
    def _check_event_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise _invalid(f"{value!r} is not an event type Canopsis accepts")
        return value

    @field_validator("source_type", mode="before")
    @classmethod
    def _check_source_type(cls, value: object) -> SourceType:
        if not isinstance(value, str) or value not in _SOURCE_TYPE_VALUES:
            raise _invalid(f"{value!r} is not one of {', '.join(SourceType)}")
        return SourceType(value)

    @field_validator("state", mode="before")
    @classmethod
    def _check_state(cls, value: object) -> State | None:
        if value is None:
            return None
        number = _integer(value)
        if number not in _STATE_VALUES:
            raise _invalid(f"{value!r} is out of range: 0 (ok), 1 (minor), 2 (major) or 3 (critical)")
        return State(number)

    @field_validator("timestamp", "duration", "status", mode="before")
    @classmethod
    def _truncate(cls, value: object) -> int | None:
        return None if value is None else _integer(value)

    @model_validator(mode="after")
    def _check_source_fields(self) -> Self:
        for name in _REQUIRED_BY_SOURCE[self.source_type]:
            value = getattr(self, name)
            if not value:
                problem = "missing" if value is None else "empty"
                raise _invalid(f"{name}: {problem}, required when source_type is '{self.source_type}'")
        return self


def _invalid(reason: str) -> PydanticCustomError:
    # The reason goes through a placeholder so braces in a received value are not a template.
    return PydanticCustomError("invalid_event", "{reason}", {"reason": reason})


def _integer(value: object) -> int:
    """A JSON number read as Go's CpsNumber reads it: floats truncate toward zero."""
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{value!r} is not a number")
    return value


def _seconds(value: object) -> int | None:
    """A received timestamp in seconds (absent counts as 0), or None if it is not one."""
    if value is None:
        return 0
    if isinstance(value, dict) and value.keys() == {"$numberLong"}:
        # Canopsis also accepts the Mongo extended-JSON form {"$numberLong": "1764358800"}.
        text = value["$numberLong"]
        return int(text) if isinstance(text, str) and _DIGITS.fullmatch(text) else None
    try:
        return _integer(value)
    except PydanticCustomError:
        return None


def _now(info: ValidationInfo) -> float:
    context = info.context
    if isinstance(context, dict) and "now" in context:
        return float(context["now"])
    return time.time()
