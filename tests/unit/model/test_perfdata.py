"""engines.model.perfdata: the Nagios perf_data grammar, units, thresholds and legacy array items."""

from __future__ import annotations

import pytest

from engines.model.perfdata import ALLOWED_UNITS, PerfDataError, PerfDatum, parse_perf_data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        ("temp=57.5", [PerfDatum("temp", 57.5)]),
        ("cpu=20%;80;90;0;100", [PerfDatum("cpu", 20.0, "%", 80.0, 90.0, 0.0, 100.0)]),
        ("'memory'=2MB;1;2.5;0;3", [PerfDatum("memory", 2.0, "MB", 1.0, 2.5, 0.0, 3.0)]),
        ("'disk i/o'=1.5TB", [PerfDatum("disk i/o", 1.5, "TB")]),
        ("'a=b'=1", [PerfDatum("a=b", 1.0)]),
        ("'temp ''C'''=57.5", [PerfDatum("temp 'C'", 57.5)]),
        ("cp''u=20%", [PerfDatum("cp'u", 20.0, "%")]),
        ("ratio=.5", [PerfDatum("ratio", 0.5)]),
        ("t=-5°C;-10;-20", [PerfDatum("t", -5.0, "°C", -10.0, -20.0)]),
        ("load=1;;;0;", [PerfDatum("load", 1.0, min=0.0)]),
        ("load=1;;;;", [PerfDatum("load", 1.0)]),
        ("load=1;;2", [PerfDatum("load", 1.0, crit=2.0)]),
        ("  a=1   b=2\t", [PerfDatum("a", 1.0), PerfDatum("b", 2.0)]),
    ],
)
def test_well_formed_perf_data_is_parsed(text: str, expected: list[PerfDatum]) -> None:
    assert parse_perf_data(text) == expected


@pytest.mark.parametrize("unit", sorted(ALLOWED_UNITS))
def test_every_allowed_unit_is_kept_and_suffixes_the_metric_name(unit: str) -> None:
    [datum] = parse_perf_data(f"m=3{unit}")
    assert (datum.unit, datum.value, datum.metric_name) == (unit, 3.0, f"m_{unit}")


def test_allowed_units_are_canopsis_defaults() -> None:
    assert {"%", "°C", "s", "us", "ms", "B", "KB", "MB", "TB", "c"} == ALLOWED_UNITS


def test_caller_may_allow_other_units() -> None:
    [datum] = parse_perf_data("mem=2GB", allowed_units={"GB"})
    assert datum.metric_name == "mem_GB"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temp=U", []),
        ("temp=U cpu=20%", [PerfDatum("cpu", 20.0, "%")]),
        ("memory=UGB cpu=20%", [PerfDatum("cpu", 20.0, "%")]),
        ("a=U;1;2;3;4 b=1", [PerfDatum("b", 1.0)]),
    ],
)
def test_undetermined_value_skips_the_item(text: str, expected: list[PerfDatum]) -> None:
    assert parse_perf_data(text) == expected


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        ("10", 10.0),
        ("-1.5", -1.5),
        ("10:", "10:"),
        ("~:10", "~:10"),
        ("10:20", "10:20"),
        ("@10:20", "@10:20"),
        ("@5", "@5"),
        ("-5:-1", "-5:-1"),
    ],
)
def test_thresholds_are_numbers_or_nagios_ranges_kept_as_text(threshold: str, expected: float | str) -> None:
    [datum] = parse_perf_data(f"x=1;{threshold};{threshold}")
    assert (datum.warn, datum.crit) == (expected, expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpu", "perf_data item 1 'cpu': missing '=' after the label"),
        ("temp=57.5 cpu =20%", "perf_data item 2 'cpu': missing '=' after the label"),
        ("'a'b=1", "perf_data item 1 \"'a'b=1\": missing '=' after the label"),
        ("=", "perf_data item 1 '=': empty label"),
        ("''=3", "perf_data item 1 \"''=3\": empty label"),
        (
            "temp=57.5 'cpu=20%",
            "perf_data item 2 \"'cpu=20%\": unterminated quote in the label (close it; write a quote inside as '')",
        ),
        (
            "'cpu''=20%",
            "perf_data item 1 \"'cpu''=20%\": unterminated quote in the label (close it; write a quote inside as '')",
        ),
        ("c'pu=1", 'perf_data item 1 "c\'pu=1": lone quote in the label (quote the label and double inner quotes)'),
        ("temp=57.5 cpu=", "perf_data item 2 'cpu=': missing value"),
        ("cpu=;1", "perf_data item 1 'cpu=;1': missing value"),
        ("temp=57.", "perf_data item 1 'temp=57.': bad value '57.': expected a number such as 12, -3 or 0.5, or U"),
        ("cpu=%", "perf_data item 1 'cpu=%': bad value '%': expected a number such as 12, -3 or 0.5, or U"),
        (
            "cpu=20.2.2%",
            "perf_data item 1 'cpu=20.2.2%': bad value '20.2.2%': expected a number such as 12, -3 or 0.5, or U",
        ),
        ("cpu=abc", "perf_data item 1 'cpu=abc': bad value 'abc': expected a number such as 12, -3 or 0.5, or U"),
        (
            "cpu=1,5",
            "perf_data item 1 'cpu=1,5': unit ',5' is not allowed (allowed: %, B, KB, MB, TB, c, ms, s, us, °C)",
        ),
        (
            "mem=2GB",
            "perf_data item 1 'mem=2GB': unit 'GB' is not allowed (allowed: %, B, KB, MB, TB, c, ms, s, us, °C)",
        ),
        (
            "cpu=20%%",
            "perf_data item 1 'cpu=20%%': unit '%%' is not allowed (allowed: %, B, KB, MB, TB, c, ms, s, us, °C)",
        ),
        ("x=1;2;3;4;5;6", "perf_data item 1 'x=1;2;3;4;5;6': 6 fields, at most 5: value[unit];warn;crit;min;max"),
        (
            "x=1;high",
            "perf_data item 1 'x=1;high': bad warn 'high': expected a number such as 12, "
            "-3 or 0.5, or a range such as 10:20",
        ),
        (
            "x=1;;@",
            "perf_data item 1 'x=1;;@': bad crit '@': expected a number such as 12, -3 or "
            "0.5, or a range such as 10:20",
        ),
        (
            "x=1;80%",
            "perf_data item 1 'x=1;80%': bad warn '80%': expected a number such as 12, -3 "
            "or 0.5, or a range such as 10:20",
        ),
        ("x=1;;;0:1", "perf_data item 1 'x=1;;;0:1': bad min '0:1': expected a number such as 12, -3 or 0.5"),
        ("x=1;;;;big", "perf_data item 1 'x=1;;;;big': bad max 'big': expected a number such as 12, -3 or 0.5"),
    ],
)
def test_malformed_item_invalidates_the_string_with_a_message_naming_it(text: str, message: str) -> None:
    with pytest.raises(PerfDataError) as caught:
        parse_perf_data(text)
    assert str(caught.value) == message


def test_error_carries_item_index_and_reason() -> None:
    with pytest.raises(PerfDataError) as caught:
        parse_perf_data("a=1 b=2 c=x")
    assert (caught.value.index, caught.value.item) == (3, "c=x")
    assert caught.value.reason.startswith("bad value 'x'")
    assert isinstance(caught.value, ValueError)


def test_many_items_keep_their_order() -> None:
    text = " ".join(f"'metric {i}'={i}ms;{i + 1};{i + 2};0;{i * 10}" for i in range(200))
    data = parse_perf_data(text)
    assert [d.metric for d in data] == [f"metric {i}" for i in range(200)]
    assert data[199] == PerfDatum("metric 199", 199.0, "ms", 200.0, 201.0, 0.0, 1990.0)


def test_mixed_canopsis_example_gives_head_metric_names() -> None:
    text = "cpu=20%;80;90;0;100 'memory'=2MB;1;2.5;0;3 'disk i/o'=1.5TB temp=57.5"
    names = [d.metric_name for d in parse_perf_data(text)]
    assert names == ["cpu_%", "memory_MB", "disk i/o_TB", "temp"]


@pytest.mark.parametrize(
    ("datum", "item"),
    [
        (PerfDatum("temp", 57.5), {"metric": "temp", "value": 57.5, "type": "GAUGE"}),
        (
            PerfDatum("cpu", 20.0, "%", 80.0, "@90:100", 0.0, 100.0),
            {
                "metric": "cpu",
                "value": 20.0,
                "unit": "%",
                "warn": 80.0,
                "crit": "@90:100",
                "min": 0.0,
                "max": 100.0,
                "type": "GAUGE",
            },
        ),
        (PerfDatum("load", 1.0, min=0.0), {"metric": "load", "value": 1.0, "min": 0.0, "type": "GAUGE"}),
    ],
)
def test_array_item_is_the_python_era_shape_without_empty_keys(datum: PerfDatum, item: dict[str, float | str]) -> None:
    assert datum.to_array_item() == item


def test_array_item_keeps_the_bare_label_as_metric() -> None:
    [datum] = parse_perf_data("'disk i/o'=1.5TB")
    assert datum.to_array_item()["metric"] == "disk i/o"
    assert datum.metric_name == "disk i/o_TB"
