"""engines.perfdata.points: the InfluxDB points of a check event's perf data (reference §6.6)."""

from __future__ import annotations

from typing import Any

import pytest

from engines.model import Event
from engines.perfdata.points import event_points
from framework import Point

NOW = 1764358800
TAGS = {"connector": "nagios", "connector_name": "paris", "component": "web01", "resource": "disk"}


def event(**fields: Any) -> Event:
    base = {
        "connector": "nagios",
        "connector_name": "paris",
        "event_type": "check",
        "source_type": "resource",
        "component": "web01",
        "resource": "disk",
        "state": 0,
        "timestamp": NOW - 30,
    }
    return Event.model_validate({**base, **fields}, context={"now": NOW})


@pytest.mark.parametrize(
    ("perf_data", "expected"),
    [
        ("load=1.5", [Point("load", {"value": 1.5}, TAGS, NOW - 30)]),
        (
            "'disk used'=42.5%;80;90;0;100",
            [
                Point(
                    "disk used",
                    {"value": 42.5, "warn": 80.0, "crit": 90.0, "min": 0.0, "max": 100.0, "unit": "%"},
                    TAGS,
                    NOW - 30,
                )
            ],
        ),
        (
            "'it''s'=3 t=-5°C",
            [Point("it's", {"value": 3.0}, TAGS, NOW - 30), Point("t", {"value": -5.0, "unit": "°C"}, TAGS, NOW - 30)],
        ),
        # a Nagios range is left out: warn must stay a float field
        ("rta=2ms;@10:20;~:50", [Point("rta", {"value": 2.0, "unit": "ms"}, TAGS, NOW - 30)]),
        ("x=U y=1", [Point("y", {"value": 1.0}, TAGS, NOW - 30)]),
        ("", []),
    ],
)
def test_perf_data_string_gives_one_point_per_metric(perf_data: str, expected: list[Point]) -> None:
    result = event_points(event(perf_data=perf_data))
    assert (result.points, result.problems) == (expected, [])


def test_perf_data_array_is_preferred_to_the_string() -> None:
    array = [
        {"metric": "cpu", "value": 20.0, "unit": "%", "warn": 80.0, "crit": 90.0, "type": "GAUGE"},
        {"metric": "mem", "value": 7, "max": 16},
    ]
    result = event_points(event(perf_data="ignored=1", perf_data_array=array))
    assert result.points == [
        Point("cpu", {"value": 20.0, "warn": 80.0, "crit": 90.0, "unit": "%"}, TAGS, NOW - 30),
        Point("mem", {"value": 7.0, "max": 16.0}, TAGS, NOW - 30),  # integers become floats: one type per field
    ]


def test_bad_array_items_are_skipped_with_a_reason() -> None:
    array = [
        {"value": 1},
        {"metric": "a", "value": "U"},
        {"metric": "b", "value": True},
        {"metric": "c", "value": "12.5", "warn": "80"},
        {"metric": "", "value": 1},
    ]
    result = event_points(event(perf_data_array=array))
    assert result.points == [Point("c", {"value": 12.5, "warn": 80.0}, TAGS, NOW - 30)]
    assert result.problems == [
        "perf_data_array item 1: metric None: expected a non-empty name",
        "perf_data_array item 2: 'a': value 'U' is not a number",
        "perf_data_array item 3: 'b': value True is not a number",
        "perf_data_array item 5: metric '': expected a non-empty name",
    ]


def test_malformed_perf_data_string_gives_no_point_and_says_why() -> None:
    result = event_points(event(perf_data="a=1 b=2XB"))
    assert result.points == []
    assert result.problems == [
        "perf_data item 2 'b=2XB': unit 'XB' is not allowed (allowed: %, B, KB, MB, TB, c, ms, s, us, °C)"
    ]


def test_component_event_is_written_without_a_resource_tag() -> None:
    result = event_points(event(source_type="component", resource=None, perf_data="rta=0.5ms"))
    [point] = result.points
    assert point.tags == {"connector": "nagios", "connector_name": "paris", "component": "web01"}


@pytest.mark.parametrize("event_type", ["ack", "comment", "changestate"])
def test_only_check_events_are_written(event_type: str) -> None:
    assert event_points(event(event_type=event_type, perf_data="a=1", author="x")).points == []


def test_point_time_is_the_event_timestamp_in_seconds() -> None:
    [point] = event_points(event(timestamp=NOW - 3600, perf_data="a=1")).points
    assert point.time == NOW - 3600
    assert (
        point.to_line() == "a,component=web01,connector=nagios,connector_name=paris,resource=disk value=1.0 1764355200"
    )
