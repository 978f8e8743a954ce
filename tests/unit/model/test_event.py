"""engines.model.Event: engine-fifo's IsValid and Format, entity ids, and faithful round trips."""

from __future__ import annotations

import json
import time
from typing import Any, Final

import pytest

from engines.model import EVENT_TYPES, MAX_TIMESTAMP_VARIATION, Event, SourceType, State
from framework.errors import InvalidEvent, UndecodableBody
from framework.message import decode

NOW: Final = 1_764_358_800.0
CONTEXT: Final = {"now": NOW}
HOUR: Final = 3600
ABSENT: Final = object()  # marks a key to remove from the base event

BASE: Final[dict[str, Any]] = {
    "event_type": "check",
    "source_type": "resource",
    "connector": "centreon",
    "connector_name": "centreon-1",
    "component": "srv01",
    "resource": "disk_/",
    "state": 2,
    "output": "Disk 95%",
    "timestamp": int(NOW) - 60,
}


def event_dict(**changes: Any) -> dict[str, Any]:
    """BASE with `changes` applied; a value of ABSENT removes the key."""
    merged = {**BASE, **changes}
    return {key: value for key, value in merged.items() if value is not ABSENT}


def parse(document: dict[str, Any]) -> Event:
    event = decode(Event, json.dumps(document).encode(), CONTEXT)
    assert isinstance(event, Event)
    return event


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode(Event, json.dumps(document).encode(), CONTEXT)
    return caught.value.reason


def written(event: Event) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(event.to_json())
    return result


# --- validation (IsValid) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"source_type": "connector", "component": ABSENT, "resource": ABSENT}, id="connector"),
        pytest.param({"source_type": "component", "resource": ABSENT}, id="component"),
        pytest.param({}, id="resource"),
        pytest.param({"source_type": "service", "resource": ABSENT}, id="service"),
        pytest.param({"source_type": "metaalarm", "resource": ABSENT}, id="metaalarm"),
        pytest.param({"state": ABSENT}, id="state_absent"),
        pytest.param({"state": 0}, id="state_0"),
        pytest.param({"state": 3}, id="state_3"),
        pytest.param({"state": None}, id="state_null"),
        pytest.param({"duration": 600, "event_type": "snooze"}, id="snooze_with_duration"),
        pytest.param({"debug": True, "tags": {"env": "prod"}}, id="debug_and_tags"),
    ],
)
def test_event_meeting_every_rule_is_accepted(changes: dict[str, Any]) -> None:
    document = event_dict(**changes)

    event = parse(document)

    assert event.source_type == document["source_type"]
    assert event.event_type == document["event_type"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"connector": ""}, "connector: must not be empty", id="empty_connector"),
        pytest.param({"connector": ABSENT}, "connector: Field required", id="missing_connector"),
        pytest.param({"connector_name": ""}, "connector_name: must not be empty", id="empty_connector_name"),
        pytest.param(
            {"connector_name": ABSENT},
            "connector_name: Field required",
            id="missing_connector_name",
        ),
        pytest.param(
            {"source_type": "resources"},
            "source_type: 'resources' is not one of connector, component, resource, service, metaalarm",
            id="unknown_source_type",
        ),
        pytest.param(
            {"source_type": ""},
            "source_type: '' is not one of connector, component, resource, service, metaalarm",
            id="empty_source_type",
        ),
        pytest.param(
            {"source_type": ["resource"]},
            "source_type: ['resource'] is not one of connector, component, resource, service, metaalarm",
            id="list_source_type",
        ),
        pytest.param({"source_type": ABSENT}, "source_type: Field required", id="missing_source_type"),
        pytest.param(
            {"source_type": "component", "component": ABSENT, "resource": ABSENT},
            "component: missing, required when source_type is 'component'",
            id="component_event_without_component",
        ),
        pytest.param(
            {"source_type": "service", "component": "", "resource": ABSENT},
            "component: empty, required when source_type is 'service'",
            id="service_event_with_empty_component",
        ),
        pytest.param(
            {"source_type": "metaalarm", "component": ABSENT, "resource": ABSENT},
            "component: missing, required when source_type is 'metaalarm'",
            id="metaalarm_event_without_component",
        ),
        pytest.param(
            {"component": ABSENT},
            "component: missing, required when source_type is 'resource'",
            id="resource_event_without_component",
        ),
        pytest.param(
            {"resource": ABSENT},
            "resource: missing, required when source_type is 'resource'",
            id="resource_event_without_resource",
        ),
        pytest.param(
            {"resource": ""},
            "resource: empty, required when source_type is 'resource'",
            id="resource_event_with_empty_resource",
        ),
        pytest.param({"event_type": ABSENT}, "event_type: Field required", id="missing_event_type"),
        pytest.param(
            {"event_type": ""},
            "event_type: '' is not an event type Canopsis accepts",
            id="empty_event_type",
        ),
        pytest.param({"state": "2"}, "state: '2' is not a number", id="string_state"),
        pytest.param({"state": True}, "state: True is not a number", id="boolean_state"),
        pytest.param(
            {"state": 4},
            "state: 4 is out of range: 0 (ok), 1 (minor), 2 (major) or 3 (critical)",
            id="state_4",
        ),
        pytest.param(
            {"state": -1},
            "state: -1 is out of range: 0 (ok), 1 (minor), 2 (major) or 3 (critical)",
            id="state_minus_1",
        ),
        pytest.param(
            {"state": 4.5},
            "state: 4.5 is out of range: 0 (ok), 1 (minor), 2 (major) or 3 (critical)",
            id="state_4_5",
        ),
        pytest.param(
            {"timestamp": "1764358800"},
            "timestamp: '1764358800' is not a number",
            id="string_timestamp",
        ),
        pytest.param({"timestamp": False}, "timestamp: False is not a number", id="boolean_timestamp"),
        pytest.param({"duration": "600"}, "duration: '600' is not a number", id="string_duration"),
        pytest.param({"debug": "true"}, "debug: Input should be a valid boolean", id="string_debug"),
        pytest.param({"rt": 1.5}, "rt: Input should be a valid integer", id="float_rt"),
    ],
)
def test_event_breaking_a_rule_is_refused_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    assert refusal(event_dict(**changes)) == reason


def test_several_broken_rules_are_all_reported() -> None:
    reason = refusal(event_dict(connector="", state="2", event_type="perf"))

    assert reason == (
        "connector: must not be empty; event_type: 'perf' is not an event type Canopsis accepts; "
        "state: '2' is not a number"
    )


def test_braces_in_a_refused_value_are_reported_verbatim() -> None:
    assert refusal(event_dict(event_type="{x}")) == "event_type: '{x}' is not an event type Canopsis accepts"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_whitelisted_event_type_is_accepted(event_type: str) -> None:
    assert parse(event_dict(event_type=event_type)).event_type == event_type


def test_whitelist_is_the_fifty_types_of_canopsis_head() -> None:
    assert len(EVENT_TYPES) == 50
    assert {"check", "ack", "junittestcaseeupdated", "metaalarmchilddeactivate"} <= EVENT_TYPES


@pytest.mark.parametrize(
    "event_type",
    [
        # legacy types HEAD drops (domain reference §1.7)
        "declareticket",
        "perf",
        "log",
        "trap",
        "snmp",
        "downtime",
        "calendar",
        "eue",
        "selector",
        "sla",
        "topology",
        "consolidation",
        "user",
        "statcounterinc",
        "statduration",
        "statstateinterval",
        "updatewatcher",
        "done",
        # constants at HEAD that isValidEventType does not list
        "updatecounters",
        "webhookstarted",
        "autowebhookfailed",
        # spelling and case are exact
        "CHECK",
        "Check",
        " check",
        "junittestcaseupdated",
    ],
)
def test_event_type_outside_the_whitelist_is_refused(event_type: str) -> None:
    assert refusal(event_dict(event_type=event_type)) == (
        f"event_type: {event_type!r} is not an event type Canopsis accepts"
    )


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "state"),
    [
        (0.0, State.OK),
        (1.9, State.MINOR),
        (2.5, State.MAJOR),
        (3.99, State.CRITICAL),
        (-0.5, State.OK),
    ],
)
def test_float_state_is_truncated_toward_zero(received: float, state: State) -> None:
    event = parse(event_dict(state=received))

    assert event.state is state
    assert written(event)["state"] == int(state)


def test_float_timestamp_and_duration_are_truncated() -> None:
    event = parse(event_dict(timestamp=int(NOW) - 60 + 0.9, duration=600.7))

    assert (event.timestamp, event.duration) == (int(NOW) - 60, 600)


def test_mongo_extended_json_timestamp_is_read_as_seconds() -> None:
    seconds = int(NOW) - HOUR

    assert parse(event_dict(timestamp={"$numberLong": str(seconds)})).timestamp == seconds


def test_malformed_mongo_extended_json_timestamp_is_refused() -> None:
    assert refusal(event_dict(timestamp={"$numberLong": "soon"})) == (
        "timestamp: {'$numberLong': 'soon'} is not a number"
    )


# --- normalisation (Format) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(ABSENT, id="missing"),
        pytest.param(None, id="null"),
        pytest.param(0, id="zero"),
        pytest.param(NOW - 25 * HOUR, id="25h_ago"),
        pytest.param(NOW + 25 * HOUR, id="25h_ahead"),
        pytest.param(NOW - MAX_TIMESTAMP_VARIATION - 1, id="just_over_24h_ago"),
        pytest.param(-5, id="negative"),
    ],
)
def test_timestamp_out_of_range_is_replaced_by_now(timestamp: object) -> None:
    event = parse(event_dict(timestamp=timestamp))

    assert event.timestamp == int(NOW)
    assert written(event)["timestamp"] == int(NOW)


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(NOW - 23 * HOUR, id="23h_ago"),
        pytest.param(NOW + 23 * HOUR, id="23h_ahead"),
        pytest.param(NOW - MAX_TIMESTAMP_VARIATION, id="exactly_24h_ago"),
        pytest.param(NOW, id="now"),
    ],
)
def test_timestamp_within_24_hours_is_kept(timestamp: float) -> None:
    assert parse(event_dict(timestamp=timestamp)).timestamp == int(timestamp)


def test_timestamp_uses_the_clock_when_no_now_is_given() -> None:
    event = Event.model_validate(event_dict(timestamp=ABSENT))

    assert abs(event.timestamp - time.time()) < 60


@pytest.mark.parametrize(
    ("changes", "initiator", "author"),
    [
        pytest.param({}, "external", "centreon.centreon-1", id="external_by_default"),
        pytest.param({"initiator": ""}, "external", "centreon.centreon-1", id="empty_initiator"),
        pytest.param(
            {"initiator": "external", "author": ""},
            "external",
            "centreon.centreon-1",
            id="empty_author",
        ),
        pytest.param({"author": "bob"}, "external", "bob", id="external_with_author"),
        pytest.param({"initiator": "user"}, "user", None, id="user_without_author"),
        pytest.param({"initiator": "user", "author": "alice"}, "user", "alice", id="user_with_author"),
        pytest.param({"initiator": "system"}, "system", None, id="system_without_author"),
    ],
)
def test_initiator_and_author_get_canopsis_defaults(
    changes: dict[str, Any], initiator: str, author: str | None
) -> None:
    event = parse(event_dict(**changes))

    assert (event.initiator, event.author) == (initiator, author)
    assert written(event).get("author") == author


def test_missing_event_type_is_not_defaulted_to_check() -> None:
    assert refusal(event_dict(event_type=ABSENT)) == "event_type: Field required"


def test_normalisation_does_not_mutate_the_callers_dict() -> None:
    document = event_dict(timestamp=ABSENT)

    Event.model_validate(document, context=CONTEXT)

    assert "timestamp" not in document and "initiator" not in document


# --- entity id and ordering key -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "entity_id"),
    [
        pytest.param({}, "disk_//srv01", id="resource"),
        pytest.param({"source_type": "component", "resource": ABSENT}, "srv01", id="component"),
        pytest.param(
            {"source_type": "service", "component": "svc-web", "resource": ABSENT},
            "svc-web",
            id="service",
        ),
        pytest.param(
            {"source_type": "metaalarm", "component": "ma-1", "resource": ABSENT},
            "ma-1",
            id="metaalarm",
        ),
        pytest.param(
            {"source_type": "connector", "component": ABSENT, "resource": ABSENT},
            "centreon/centreon-1",
            id="connector",
        ),
        pytest.param(
            {"source_type": "component", "resource": ""},
            "srv01",
            id="component_with_empty_resource",
        ),
        pytest.param({"source_type": "component"}, "disk_//srv01", id="component_naming_a_resource"),
        pytest.param(
            {"source_type": "connector", "component": ABSENT},
            "disk_//",
            id="connector_naming_only_a_resource",
        ),
    ],
)
def test_entity_id_follows_canopsis_get_eid(changes: dict[str, Any], entity_id: str) -> None:
    event = parse(event_dict(**changes))

    assert event.entity_id == entity_id
    assert event.key == entity_id


# --- round trip -----------------------------------------------------------------------------------


def test_unknown_keys_survive_a_round_trip_unchanged() -> None:
    document = event_dict(
        initiator="external",
        author="centreon.centreon-1",
        routing_key="centreon.centreon-1.check.resource.srv01.disk_/",
        hostgroups=["linux", "paris"],
        custom={"nested": {"list": [1, 2.5, None, True, "é"]}, "empty": {}},
        ref_rk="x",
        current_entity={"_id": "disk_//srv01", "infos": {"site": {"value": "paris"}}},
        rt=1_764_358_799_123_456,
        tags={"env": "prod"},
    )

    event = parse(document)

    assert written(event) == document
    assert event.model_extra is not None and event.model_extra["hostgroups"] == ["linux", "paris"]


def test_fields_not_received_are_not_written() -> None:
    document = event_dict(initiator="external", author="a", state=ABSENT, output=ABSENT)

    event = parse(document)

    assert set(written(event)) == set(document)
    assert event.state is None and event.output is None


def test_received_null_is_written_back_as_null() -> None:
    document = event_dict(initiator="external", author="a", long_output=None, resource=None, source_type="component")

    assert written(parse(document)) == document


def test_assigned_field_is_written() -> None:
    event = parse(event_dict(initiator="external", author="a"))

    event.current_alarm = {"_id": "alarm-1"}

    assert written(event)["current_alarm"] == {"_id": "alarm-1"}


def test_state_and_source_type_are_written_as_plain_json() -> None:
    event = parse(event_dict())

    assert isinstance(event.source_type, SourceType) and isinstance(event.state, State)
    assert b'"source_type":"resource"' in event.to_json() and b'"state":2' in event.to_json()


# --- decode() -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not_json"),
        pytest.param(b'{"event_type": "check"', id="truncated"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"check"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"\xff\xfe{}", id="not_utf8"),
    ],
)
def test_garbage_body_is_undecodable(body: bytes) -> None:
    with pytest.raises(UndecodableBody):
        decode(Event, body, CONTEXT)


def test_bad_event_raises_invalid_event_carrying_the_body() -> None:
    body = json.dumps(event_dict(source_type="resources")).encode()

    with pytest.raises(InvalidEvent) as caught:
        decode(Event, body, CONTEXT)

    assert caught.value.body == body
    assert caught.value.reason.startswith("source_type: 'resources' is not one of")
