"""engines.model.pattern: condition types, OR of ANDs, regexp groups, documents, parse errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import pytest
from pydantic import ValidationError

from engines.model import Entity, Event
from engines.model.pattern import (
    CONDITION_TYPES,
    Condition,
    Match,
    Pattern,
    PatternError,
    entity_document,
    event_document,
)
from framework.message import decode

NOW: Final = 1_764_358_800.0
MISSING: Final[dict[str, Any]] = {}  # a document without the field under test

DOC: Final[dict[str, Any]] = {
    "output": "CPU load 95%",
    "component": "srv01",
    "state": 2,
    "tags": ["env:prod", "team:ops"],
    "last_event_date": int(NOW) - 300,
    "ack": {"a": "bob", "t": int(NOW) - 60},
    "empty": "",
    "v": {"duration": 700, "state": {"val": 3}},
    "extra": {"count": 7, "ratio": 7.0, "flag": True, "site": "paris", "roles": ["db", "web"]},
}


def condition(field: str, type_: str, value: Any, field_type: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"field": field, "cond": {"type": type_, "value": value}}
    if field_type is not None:
        raw["field_type"] = field_type
    return raw


def single(field: str, type_: str, value: Any, field_type: str | None = None) -> Pattern:
    return Pattern.parse([[condition(field, type_, value, field_type)]])


def parse_error(raw: Any) -> str:
    with pytest.raises(PatternError) as caught:
        Pattern.parse(raw, what="event_pattern")
    return str(caught.value)


# --- every condition type on built-in (untyped) fields ------------------------------------------

# (field, type, value, document, matches)
UNTYPED: Final[list[tuple[str, str, Any, dict[str, Any], bool]]] = [
    ("component", "eq", "srv01", DOC, True),
    ("component", "eq", "srv02", DOC, False),
    ("component", "eq", "srv01", MISSING, False),
    ("component", "eq", "", MISSING, True),  # a missing string reads as "" (Go zero value)
    ("state", "eq", 2, DOC, True),
    ("state", "eq", 2.0, DOC, True),
    ("state", "eq", 3, DOC, False),
    ("state", "eq", 0, MISSING, True),  # a missing number reads as 0, as Go's event.State
    ("state", "eq", "2", DOC, False),  # a string condition never matches a number
    ("extra.flag", "eq", True, DOC, True),
    ("extra.flag", "eq", False, DOC, False),
    ("extra.flag", "eq", False, MISSING, True),
    ("component", "neq", "srv02", DOC, True),
    ("component", "neq", "srv01", DOC, False),
    ("component", "neq", "srv01", MISSING, True),
    ("state", "neq", 3, DOC, True),
    ("state", "neq", 2, DOC, False),
    ("state", "gt", 1, DOC, True),
    ("state", "gt", 2, DOC, False),
    ("state", "gt", 0, MISSING, False),
    ("output", "gt", 1, DOC, False),  # a string field compared with gt never matches
    ("state", "lt", 3, DOC, True),
    ("state", "lt", 2, DOC, False),
    ("state", "lt", 1, MISSING, True),
    ("v.duration", "gt", {"value": 10, "unit": "m"}, DOC, True),
    ("v.duration", "gt", {"value": 12, "unit": "m"}, DOC, False),
    ("v.duration", "lt", {"value": 1, "unit": "h"}, DOC, True),
    ("v.state.val", "eq", 3, DOC, True),
    ("output", "regexp", r"load \d+%$", DOC, True),
    ("output", "regexp", r"^load", DOC, False),
    ("output", "regexp", "load", MISSING, False),
    ("output", "regexp", "^$", MISSING, True),  # "" is what a missing string reads as
    ("output", "contain", "load", DOC, True),
    ("output", "contain", "memory", DOC, False),
    ("output", "contain", "load", MISSING, False),
    ("output", "contain", "(", {"output": "f(x)"}, True),  # plain text, not a regexp
    ("output", "not_contain", "memory", DOC, True),
    ("output", "not_contain", "load", DOC, False),
    ("output", "not_contain", "load", MISSING, True),
    ("output", "not_contain", "x", {"output": "line 1\nline 2"}, True),
    ("output", "begin_with", "CPU", DOC, True),
    ("output", "begin_with", "load", DOC, False),
    ("output", "begin_with", "CPU", MISSING, False),
    ("output", "not_begin_with", "load", DOC, True),
    ("output", "not_begin_with", "CPU", DOC, False),
    ("output", "not_begin_with", "CPU", MISSING, True),
    ("output", "end_with", "95%", DOC, True),
    ("output", "end_with", "CPU", DOC, False),
    ("output", "end_with", "%", MISSING, False),
    ("output", "not_end_with", "CPU", DOC, True),
    ("output", "not_end_with", "95%", DOC, False),
    ("output", "not_end_with", "%", MISSING, True),
    ("tags", "has_every", ["env:prod", "team:ops"], DOC, True),
    ("tags", "has_every", ["env:prod", "team:dev"], DOC, False),
    ("tags", "has_every", ["env:prod"], MISSING, False),
    ("tags", "has_one_of", ["team:dev", "team:ops"], DOC, True),
    ("tags", "has_one_of", ["team:dev"], DOC, False),
    ("tags", "has_one_of", ["team:dev"], MISSING, False),
    ("tags", "has_not", ["team:dev"], DOC, True),
    ("tags", "has_not", ["team:dev", "team:ops"], DOC, False),
    ("tags", "has_not", ["team:dev"], MISSING, True),
    ("output", "has_one_of", ["CPU"], DOC, False),  # a string is not an array
    ("tags", "is_empty", False, DOC, True),
    ("tags", "is_empty", True, DOC, False),
    ("tags", "is_empty", True, MISSING, True),
    ("tags", "is_empty", True, {"tags": []}, True),
    ("output", "exist", True, DOC, True),
    ("output", "exist", False, DOC, False),
    ("output", "exist", False, MISSING, True),
    ("output", "exist", True, MISSING, False),
    ("empty", "exist", False, DOC, True),  # "" counts as absent, as for Canopsis string fields
    ("ack", "exist", True, DOC, True),  # any present value exists (alarm v.ack step)
    ("ack", "exist", True, {"ack": None}, False),
    ("last_event_date", "relative_time", {"value": 10, "unit": "m"}, DOC, True),
    ("last_event_date", "relative_time", {"value": 1, "unit": "m"}, DOC, False),
    ("last_event_date", "relative_time", {"value": 5, "unit": "m"}, DOC, False),  # strict
    ("last_event_date", "relative_time", {"value": 1, "unit": "w"}, MISSING, False),
    ("ack.t", "relative_time", {"value": 2, "unit": "m"}, DOC, True),
    (
        "last_event_date",
        "relative_time",
        {"value": 1, "unit": "h"},
        {"last_event_date": "x"},
        False,
    ),
    ("last_event_date", "absolute_time", {"from": NOW - 600, "to": NOW}, DOC, True),
    ("last_event_date", "absolute_time", {"from": NOW - 60, "to": NOW}, DOC, False),
    ("last_event_date", "absolute_time", {"from": NOW - 300, "to": NOW}, DOC, False),  # strict
    ("last_event_date", "absolute_time", {"from": 0, "to": NOW}, MISSING, False),
    ("component", "is_one_of", ["srv01", "srv02"], DOC, True),
    ("component", "is_one_of", ["srv02"], DOC, False),
    ("component", "is_one_of", ["srv01"], MISSING, False),
    ("component", "is_not_one_of", ["srv02"], DOC, True),
    ("component", "is_not_one_of", ["srv01", "srv02"], DOC, False),
    ("component", "is_not_one_of", ["srv01"], MISSING, True),
]


@pytest.mark.parametrize(
    ("field", "type_", "value", "doc", "matches"),
    UNTYPED,
    ids=[f"{f}-{t}-{json.dumps(v)}-{'missing' if d is MISSING else 'doc'}" for f, t, v, d, _ in UNTYPED],
)
def test_condition_on_builtin_field(field: str, type_: str, value: Any, doc: dict[str, Any], matches: bool) -> None:
    assert (single(field, type_, value).match(doc, now=NOW) is not None) is matches


def test_table_covers_every_condition_type() -> None:
    covered = {(t, d is MISSING, m) for _, t, _, d, m in UNTYPED}
    for type_ in CONDITION_TYPES:
        assert (type_, False, True) in covered, type_
        assert (type_, False, False) in covered, type_
        assert any(c[0] == type_ and c[1] for c in covered), type_


# --- custom fields with field_type ---------------------------------------------------------------

# (field, field_type, type, value, document, matches)
TYPED: Final[list[tuple[str, str, str, Any, dict[str, Any], bool]]] = [
    ("extra.count", "int", "gt", 5, DOC, True),
    ("extra.count", "int", "lt", 5, DOC, False),
    ("extra.ratio", "int", "eq", 7, DOC, True),  # an integral float is a whole number
    ("extra.count", "int", "eq", 7, {"extra": {"count": "7"}}, False),
    ("extra.count", "int", "eq", 1, {"extra": {"count": True}}, False),  # a bool is no number
    ("extra.count", "int", "eq", 7, {"extra": {"count": 7.5}}, False),
    ("extra.count", "int", "neq", 1, MISSING, False),  # typed + missing never matches
    ("extra.count", "int", "eq", 0, MISSING, False),
    ("extra.flag", "bool", "eq", True, DOC, True),
    ("extra.flag", "bool", "eq", False, DOC, False),
    ("extra.flag", "bool", "eq", False, MISSING, False),
    ("extra.flag", "bool", "eq", True, {"extra": {"flag": 1}}, False),
    ("extra.site", "string", "eq", "paris", DOC, True),
    ("extra.site", "string", "neq", "lyon", MISSING, False),
    ("extra.site", "string", "not_contain", "x", MISSING, False),
    ("extra.site", "string", "exist", False, MISSING, False),
    ("extra.site", "string", "exist", True, DOC, True),
    ("extra.site", "string", "exist", False, {"extra": {"site": ""}}, True),
    ("extra.site", "string", "is_one_of", ["lyon"], {"extra": {"site": None}}, False),
    ("extra.count", "string", "eq", "7", DOC, False),
    ("extra.roles", "string_array", "has_one_of", ["web"], DOC, True),
    ("extra.roles", "string_array", "has_every", ["web", "dns"], DOC, False),
    ("extra.roles", "string_array", "has_not", ["dns"], MISSING, False),
    ("extra.roles", "string_array", "is_empty", True, MISSING, False),
    ("extra.roles", "string_array", "is_empty", False, DOC, True),
    ("extra.roles", "string_array", "has_one_of", ["1"], {"extra": {"roles": ["a", 1]}}, False),
    ("extra.site", None, "exist", True, DOC, True),  # untyped custom field: presence only
    ("extra.site", None, "exist", False, MISSING, True),
]


@pytest.mark.parametrize(("field", "field_type", "type_", "value", "doc", "matches"), TYPED)
def test_condition_on_typed_custom_field(
    field: str, field_type: str | None, type_: str, value: Any, doc: dict[str, Any], matches: bool
) -> None:
    pattern = single(field, type_, value, field_type)
    assert (pattern.match(doc, now=NOW) is not None) is matches


def test_dotted_key_inside_a_mapping_resolves_as_one_key() -> None:
    pattern = single("extra.host.name", "eq", "srv01", "string")
    assert pattern.match({"extra": {"host.name": "srv01"}}, now=NOW) is not None
    assert pattern.match({"extra": {"host": {"name": "srv01"}}}, now=NOW) is not None
    assert pattern.match({"extra": {"host": "srv01"}}, now=NOW) is None


def test_path_through_a_non_mapping_reads_as_missing() -> None:
    assert single("output.x", "exist", False).match(DOC, now=NOW) is not None


# --- groups: OR of ANDs --------------------------------------------------------------------------

OR_OF_ANDS: Final = Pattern.parse(
    [
        [condition("component", "eq", "srv01"), condition("state", "gt", 1)],
        [condition("component", "eq", "srv02")],
    ]
)


@pytest.mark.parametrize(
    ("doc", "matches"),
    [
        ({"component": "srv01", "state": 2}, True),  # first group: both conditions hold
        ({"component": "srv01", "state": 1}, False),  # first group: one fails, second: fails
        ({"component": "srv02", "state": 0}, True),  # second group alone
        ({"component": "srv03", "state": 3}, False),
    ],
)
def test_pattern_matches_when_every_condition_of_one_group_holds(doc: dict[str, Any], matches: bool) -> None:
    assert (OR_OF_ANDS.match(doc, now=NOW) is not None) is matches


def test_empty_pattern_matches_nothing_and_says_so() -> None:
    for raw in (None, []):
        pattern = Pattern.parse(raw)
        assert pattern.is_empty
        assert pattern.match(DOC, now=NOW) is None
    assert not OR_OF_ANDS.is_empty


# --- regexp groups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "groups"),
    [
        (r"load (?P<load>\d+)%", {"load": "95"}),
        (r"load (?<load>\d+)%", {"load": "95"}),  # Go's syntax is translated
        (
            r"(?P<what>\w+) (\w+) (?P<value>\d+)(x)?",
            {"what": "CPU", "1": "load", "value": "95", "2": ""},
        ),
        (r"(?<=CPU )load", {}),  # a lookbehind is not a group name
        (r"load", {}),
    ],
)
def test_regexp_collects_named_and_numbered_groups(expr: str, groups: dict[str, str]) -> None:
    found = single("output", "regexp", expr).match(DOC, now=NOW)
    assert found == Match({"output": groups} if groups else {})


def test_regexp_groups_come_only_from_the_matching_group() -> None:
    pattern = Pattern.parse(
        [
            [condition("output", "regexp", r"(?P<word>\w+)"), condition("state", "eq", 3)],
            [
                condition("component", "regexp", r"srv(?P<number>\d+)"),
                condition("extra.site", "regexp", "(?<city>.+)", "string"),
            ],
        ]
    )
    found = pattern.match(DOC, now=NOW)
    assert found is not None
    assert found.regex_groups == {"component": {"number": "01"}, "extra.site": {"city": "paris"}}


def test_two_regexps_on_one_field_merge_their_groups() -> None:
    pattern = Pattern.parse(
        [
            [
                condition("output", "regexp", r"^(?P<what>\w+)"),
                condition("output", "regexp", r"(?P<pct>\d+)%"),
            ]
        ]
    )
    found = pattern.match(DOC, now=NOW)
    assert found is not None and found.regex_groups == {"output": {"what": "CPU", "pct": "95"}}


@pytest.mark.parametrize(
    ("expr", "text", "matches"),
    [
        (r"\d+", "٣", False),  # \d is ASCII-only, as in Go
        (r"^\w+$", "défaut", False),
        (r"ok\z", "ok", True),  # Go's end-of-text
        (r"ok\z", "ok\n", False),
        (r"[]a]+", "]a", True),  # "]" first in a class is a literal
        (r"[(?<x>]", "<", True),  # "(?<" inside a class is not a group
        (r"\(?<x>", "<x>", True),  # nor is an escaped parenthesis
    ],
)
def test_regexp_follows_go_syntax_and_classes(expr: str, text: str, matches: bool) -> None:
    found = single("output", "regexp", expr).match({"output": text}, now=NOW)
    assert (found is not None) is matches


# --- time conditions with an explicit now --------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "matches"),
    [
        (NOW - 7200, True),
        (NOW, True),
        (NOW + 3598, True),
        (NOW + 3599, False),
        (NOW + 86400, False),
    ],
)
def test_relative_time_is_measured_from_the_given_now(now: float, matches: bool) -> None:
    # strictly after now - 1 h; like Canopsis, a time in the future also matches
    pattern = single("t", "relative_time", {"value": 1, "unit": "h"})
    assert (pattern.match({"t": int(NOW) - 1}, now=now) is not None) is matches


@pytest.mark.parametrize(("unit", "seconds"), [("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)])
def test_relative_time_units(unit: str, seconds: int) -> None:
    pattern = single("t", "relative_time", {"value": 2, "unit": unit})
    assert pattern.match({"t": NOW - 2 * seconds + 1}, now=NOW) is not None
    assert pattern.match({"t": NOW - 2 * seconds}, now=NOW) is None


def test_time_conditions_accept_datetimes_naive_ones_as_utc() -> None:
    pattern = single("t", "absolute_time", {"from": NOW - 10, "to": NOW + 10})
    aware = datetime.fromtimestamp(NOW, tz=UTC)
    assert pattern.match({"t": aware}, now=NOW) is not None
    assert pattern.match({"t": aware.replace(tzinfo=None)}, now=NOW) is not None
    assert pattern.match({"t": True}, now=NOW) is None


# --- documents -----------------------------------------------------------------------------------


def make_event(**extra: Any) -> Event:
    body = {
        "event_type": "check",
        "source_type": "resource",
        "connector": "centreon",
        "connector_name": "centreon-1",
        "component": "srv01",
        "resource": "disk",
        "state": 2,
        "output": "Disk 95%",
        "timestamp": int(NOW) - 60,
        **extra,
    }
    event = decode(Event, json.dumps(body).encode(), {"now": NOW})
    assert isinstance(event, Event)
    return event


def test_event_document_shows_declared_fields_and_unknown_keys_as_extra() -> None:
    doc = event_document(make_event(site="paris", rack={"row": 3}, extra={"team": "ops"}))
    assert doc["connector"] == "centreon" and doc["resource"] == "disk"
    assert doc["state"] == 2 and type(doc["state"]) is int
    assert doc["source_type"] == "resource" and type(doc["source_type"]) is str
    assert doc["timestamp"] == int(NOW) - 60
    assert doc["initiator"] == "external" and doc["author"] == "centreon.centreon-1"
    assert doc["extra"] == {"site": "paris", "rack": {"row": 3}, "team": "ops"}


def test_event_patterns_resolve_extra_keys_and_state() -> None:
    doc = event_document(make_event(site="paris", count=7))
    pattern = Pattern.parse(
        [
            [
                condition("extra.site", "eq", "paris", "string"),
                condition("extra.count", "gt", 5, "int"),
                condition("state", "eq", 2),
                condition("source_type", "eq", "resource"),
                condition("output", "regexp", r"(?<pct>\d+)%"),
            ]
        ]
    )
    assert pattern.match(doc, now=NOW) == Match({"output": {"pct": "95"}})


def test_event_document_without_state_matches_state_zero() -> None:
    doc = event_document(make_event(event_type="ack", state=None))
    assert doc["state"] is None
    assert single("state", "eq", 0).match(doc, now=NOW) is not None


def test_entity_document_shows_infos_by_value() -> None:
    entity = Entity.model_validate(
        {
            "_id": "disk/srv01",
            "name": "disk",
            "type": "resource",
            "created": int(NOW),
            "connector": "centreon/centreon-1",
            "component": "srv01",
            "category": "storage",
            "last_event_date": int(NOW) - 30,
            "infos": {"env": {"name": "env", "value": "prod"}, "cores": {"name": "cores", "value": 8}},
            "component_infos": {"os": {"name": "os", "description": "", "value": ["linux", "debian"]}},
        }
    )
    doc = entity_document(entity)
    assert doc == {
        "_id": "disk/srv01",
        "name": "disk",
        "category": "storage",
        "type": "resource",
        "connector": "centreon/centreon-1",
        "component": "srv01",
        "impact_level": 1,
        "last_event_date": int(NOW) - 30,
        "enabled": True,
        "infos": {"env": "prod", "cores": 8},
        "component_infos": {"os": ["linux", "debian"]},
    }
    pattern = Pattern.parse(
        [
            [
                condition("infos.env", "eq", "prod", "string"),
                condition("infos.cores", "gt", 4, "int"),
                condition("component_infos.os", "has_one_of", ["debian"], "string_array"),
                condition("type", "eq", "resource"),
                condition("last_event_date", "relative_time", {"value": 1, "unit": "m"}),
                condition("impact_level", "eq", 1),
            ]
        ]
    )
    assert pattern.match(doc, now=NOW) is not None
    assert single("infos.missing", "exist", False).match(doc, now=NOW) is not None


def test_alarm_document_is_matched_as_stored() -> None:
    alarm = {"_id": "a1", "d": "disk/srv01", "v": {"state": {"val": 2}, "output": "Disk 95%", "infos": {"rule1": "x"}}}
    pattern = Pattern.parse(
        [
            [
                condition("v.state.val", "gt", 1),
                condition("v.output", "contain", "95"),
                condition("v.infos.rule1", "eq", "x", "string"),
                condition("v.ack", "exist", False),
            ]
        ]
    )
    assert pattern.match(alarm, now=NOW) is not None


# --- parse errors --------------------------------------------------------------------------------


def c(type_: str, value: Any, field: str = "state", field_type: str | None = None) -> Any:
    """A pattern whose condition [0][1] is the one under test."""
    return [[condition("component", "eq", "srv01"), condition(field, type_, value, field_type)]]


TYPES: Final = str(CONDITION_TYPES)
UNIT: Final = "{'value': N, 'unit': 's|m|h|d|w'}"
BOUNDS: Final = "{'from': unix seconds, 'to': unix seconds}"
NO_MONTHS: Final = "is not one of s, m, h, d, w (Canopsis cannot convert months or years to seconds)"

# (raw pattern, where, problem): the message is f"event_pattern{where}: {problem}"
PARSE_ERRORS: Final[list[tuple[Any, str, str]]] = [
    ({"field": "state"}, "", "must be a list of groups, got {'field': 'state'}"),
    ("state", "", "must be a list of groups, got 'state'"),
    ([[], [condition("state", "eq", 1)]], "[0]", "must be a non-empty list of conditions, got []"),
    ([{"field": "x"}], "[0]", "must be a non-empty list of conditions, got {'field': 'x'}"),
    ([["state"]], "[0][0]", "must be an object with field and cond, got 'state'"),
    ([[{"cond": {"type": "eq"}}]], "[0][0]", "'field' must be a non-empty string, got None"),
    ([[{"field": "", "cond": {}}]], "[0][0]", "'field' must be a non-empty string, got ''"),
    (
        [[{"field": "state"}]],
        "[0][0] (field state)",
        "'cond' must be an object with type and value, got None",
    ),
    (
        c("equals", 1),
        "[0][1] (field state)",
        f"unknown condition type 'equals', not one of {TYPES}",
    ),
    (
        [[{"field": "state", "cond": {"value": 1}}]],
        "[0][0] (field state)",
        f"unknown condition type None, not one of {TYPES}",
    ),
    (
        c("eq", 1, "extra.n", "float"),
        "[0][1] (field extra.n)",
        "unknown field_type 'float', not one of ('string', 'int', 'bool', 'string_array')",
    ),
    (
        c("exist", True, "extra.n", "int"),
        "[0][1] (field extra.n)",
        "'exist' does not apply to field_type 'int'",
    ),
    (
        c("contain", "x", "extra.n", "int"),
        "[0][1] (field extra.n)",
        "'contain' does not apply to field_type 'int'",
    ),
    (
        c("neq", True, "extra.b", "bool"),
        "[0][1] (field extra.b)",
        "'neq' does not apply to field_type 'bool'",
    ),
    (
        c("relative_time", {"value": 1, "unit": "h"}, "extra.t", "int"),
        "[0][1] (field extra.t)",
        "'relative_time' does not apply to field_type 'int'",
    ),
    (c("gt", "high"), "[0][1] (field state)", "'gt' needs a number, got 'high'"),
    (c("lt", 2.5), "[0][1] (field state)", "'lt' needs a whole number, got 2.5"),
    (c("gt", True), "[0][1] (field state)", "'gt' needs a number, got True"),
    (
        c("gt", {"value": 1, "unit": "h"}, "extra.n", "int"),
        "[0][1] (field extra.n)",
        "'gt' needs a number, got {'value': 1, 'unit': 'h'}",
    ),
    (
        c("eq", [1]),
        "[0][1] (field state)",
        "'eq' needs a string, a number or a boolean, got [1]",
    ),
    (
        c("eq", None),
        "[0][1] (field state)",
        "'eq' needs a string, a number or a boolean, got None",
    ),
    (c("neq", False), "[0][1] (field state)", "'neq' needs a string or a number, got False"),
    (c("eq", 7, "extra.s", "string"), "[0][1] (field extra.s)", "'eq' needs a string, got 7"),
    (c("eq", "7", "extra.n", "int"), "[0][1] (field extra.n)", "'eq' needs a number, got '7'"),
    (
        c("eq", "x" * 100, "extra.n", "int"),
        "[0][1] (field extra.n)",
        f"'eq' needs a number, got '{'x' * 76}...",  # long values are cut
    ),
    (
        c("is_empty", "yes", "tags"),
        "[0][1] (field tags)",
        "'is_empty' needs true or false, got 'yes'",
    ),
    (c("exist", 1), "[0][1] (field state)", "'exist' needs true or false, got 1"),
    (
        c("is_one_of", []),
        "[0][1] (field state)",
        "'is_one_of' needs a non-empty list of strings, got []",
    ),
    (
        c("is_not_one_of", "a"),
        "[0][1] (field state)",
        "'is_not_one_of' needs a non-empty list of strings, got 'a'",
    ),
    (
        c("has_every", ["a", 1], "tags"),
        "[0][1] (field tags)",
        "'has_every' needs a non-empty list of strings, got ['a', 1]",
    ),
    (c("relative_time", 3600, "t"), "[0][1] (field t)", f"'relative_time' needs {UNIT}, got 3600"),
    (
        c("relative_time", {"value": "1", "unit": "h"}, "t"),
        "[0][1] (field t)",
        f"'relative_time' needs {UNIT}, got {{'value': '1', 'unit': 'h'}}",
    ),
    (
        c("relative_time", {"value": 1, "unit": "M"}, "t"),
        "[0][1] (field t)",
        f"'relative_time' unit 'M' {NO_MONTHS}",
    ),
    (
        c("relative_time", {"value": 1, "unit": "y"}, "t"),
        "[0][1] (field t)",
        f"'relative_time' unit 'y' {NO_MONTHS}",
    ),
    (
        c("absolute_time", {"from": 1}, "t"),
        "[0][1] (field t)",
        f"'absolute_time' needs {BOUNDS}, got {{'from': 1}}",
    ),
    (
        c("absolute_time", {"from": "a", "to": 2}, "t"),
        "[0][1] (field t)",
        f"'absolute_time' needs {BOUNDS}, got {{'from': 'a', 'to': 2}}",
    ),
    (c("contain", 5, "output"), "[0][1] (field output)", "'contain' needs a string, got 5"),
    (c("regexp", None, "output"), "[0][1] (field output)", "'regexp' needs a string, got None"),
    (
        c("regexp", "load (", "output"),
        "[0][1] (field output)",
        "invalid regular expression 'load (': missing ), unterminated subpattern at position 5",
    ),
    (
        c("regexp", "[[:alpha:]]+", "output"),
        "[0][1] (field output)",
        "invalid regular expression '[[:alpha:]]+': Possible nested set at position 1",
    ),
]


@pytest.mark.parametrize(("raw", "where", "problem"), PARSE_ERRORS)
def test_parse_refuses_naming_place_field_and_problem(raw: Any, where: str, problem: str) -> None:
    assert parse_error(raw) == f"event_pattern{where}: {problem}"


def test_pattern_error_carries_its_parts() -> None:
    with pytest.raises(PatternError) as caught:
        Pattern.parse(c("gt", "high"), what="entity_pattern")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.what, error.group, error.condition, error.field) == (
        "entity_pattern",
        0,
        1,
        "state",
    )
    assert error.problem == "'gt' needs a number, got 'high'"


def test_parse_ignores_unknown_condition_keys_and_empty_field_type() -> None:
    raw = [[{"field": "state", "field_type": "", "alias": "x", "cond": {"type": "eq", "value": 2}}]]
    assert Pattern.parse(raw).match(DOC, now=NOW) is not None


def test_condition_normalises_its_value_and_refuses_bad_ones_when_built_directly() -> None:
    assert Condition(field="state", type="eq", value=2.0).value == 2
    assert Condition(field="tags", type="has_not", value=("a",)).value == ["a"]
    with pytest.raises(ValidationError, match="'gt' needs a number, got 'high'"):
        Condition(field="state", type="gt", value="high")
    pattern = Pattern(groups=((Condition(field="state", type="gt", value=1),),))
    assert pattern.match(DOC, now=NOW) is not None


def test_copied_and_round_tripped_patterns_still_match() -> None:
    assert OR_OF_ANDS.model_copy().match({"component": "srv02"}, now=NOW) is not None
    again = Pattern.model_validate(OR_OF_ANDS.model_dump())
    assert again == OR_OF_ANDS and hash(again) == hash(OR_OF_ANDS)
    assert again.match({"component": "srv02"}, now=NOW) is not None


def test_a_group_must_be_a_list_as_canopsis_stores_it() -> None:
    with pytest.raises(PatternError, match=r"pattern\[0\]: must be a non-empty list of conditions"):
        Pattern.parse([{"and": [{"field": "state", "cond": {"type": "gt", "value": 1}}]}])
