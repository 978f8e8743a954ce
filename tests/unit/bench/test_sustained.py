"""bench.sustained's figures, computed without services: slope, verdict, percentiles, CPU from /proc, parsing."""

from __future__ import annotations

import random
import statistics
from typing import Final

import pytest

from bench.events import stamp
from bench.feeder import Feeder
from bench.sustained.figures import (
    ProcTimes,
    cpu_percent,
    database_members,
    in_flight,
    kept_up,
    parse_stat,
    percentile,
    routing_key,
    second_half,
    sent_at_of,
    slope,
)
from bench.sustained.output import line, table
from bench.sustained.preload import clone_alarm, clone_entity, preload_templates
from bench.sustained.rates import RateResult
from bench.sustained.settings import Names, Options
from engines.model.alarm import Alarm, display_name
from engines.model.entity import Entity, EntityType

NOW: Final = 1_764_358_800
HZ: Final = 100


# --- slope and verdict -----------------------------------------------------------------------------


def test_slope_of_a_line_is_its_gradient() -> None:
    assert slope([(t, 3 * t + 2) for t in range(10)]) == pytest.approx(3)
    assert slope([(t, 500 - 40 * t) for t in range(5, 11)]) == pytest.approx(-40)


def test_slope_fits_noisy_samples_by_least_squares() -> None:
    # Residuals +1, -1, -1, +1 around y = 2x cancel in the fit.
    assert slope([(0, 1), (1, 1), (2, 3), (3, 7)]) == pytest.approx(2)


@pytest.mark.parametrize("points", [[], [(1.0, 5.0)], [(2.0, 1.0), (2.0, 9.0)]])
def test_slope_without_two_distinct_times_is_zero(points: list[tuple[float, float]]) -> None:
    assert slope(points) == 0.0


def test_second_half_keeps_samples_from_the_middle_on() -> None:
    samples = [(float(t), float(t * 10)) for t in range(11)]
    assert second_half(samples, 10.0) == samples[5:]


@pytest.mark.parametrize(
    ("backlog", "growth", "rate", "expected"),
    [
        (0, 0.0, 500, True),
        (999, 25.0, 500, True),  # just under 2 s of the rate, slope exactly 5 %
        (1000, 0.0, 500, False),  # 2 s worth waiting
        (10, 25.1, 500, False),  # small but growing
        (400, -50.0, 250, True),  # draining a hiccup
    ],
)
def test_kept_up_needs_a_small_backlog_that_does_not_grow(
    backlog: int, growth: float, rate: float, expected: bool
) -> None:
    assert kept_up(backlog, growth, rate) is expected


# --- percentiles -------------------------------------------------------------------------------------


def test_percentile_agrees_with_the_inclusive_quantiles_measure_reports() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(1 / 40) for _ in range(1234)]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 50) == pytest.approx(cuts[49])
    assert percentile(values, 99) == pytest.approx(cuts[98])


def test_percentile_of_few_values() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([10.0, 0.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0], 100) == 3.0


# --- /proc ---------------------------------------------------------------------------------------------


def _stat(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int, cstime: int, start: int) -> str:
    """A /proc/<pid>/stat line (proc(5)), the fields this module ignores set to filler."""
    fields = ["S", ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, start]
    return f"{pid} ({comm}) " + " ".join(map(str, fields)) + " 123456 789 " + " ".join(["0"] * 30) + "\n"


def test_parse_stat_reads_times_parent_and_start() -> None:
    p = parse_stat(_stat(4242, "python", 1, utime=150, stime=50, cutime=7, cstime=3, start=98765))
    assert p == ProcTimes(pid=4242, comm="python", ppid=1, start=98765, own=200, children=10)
    assert p.key == (4242, 98765)


def test_parse_stat_survives_a_name_with_spaces_and_parentheses() -> None:
    p = parse_stat(_stat(77, "postgres: (x) y", 13887, utime=5, stime=6, cutime=0, cstime=0, start=10))
    assert (p.comm, p.ppid, p.own) == ("postgres: (x) y", 13887, 11)


def _proc(pid: int, own: int, children: int = 0, ppid: int = 1, start: int = 1000, comm: str = "x") -> ProcTimes:
    return ProcTimes(pid=pid, comm=comm, ppid=ppid, start=start, own=own, children=children)


def test_cpu_percent_of_one_process_is_its_ticks_over_the_window() -> None:
    # 150 ticks at 100 Hz over 2 s: 75 % of one core.
    assert cpu_percent([_proc(10, own=1000)], [_proc(10, own=1150)], seconds=2, hz=HZ) == pytest.approx(75)


def test_cpu_percent_counts_a_process_started_in_the_window_whole() -> None:
    before = [_proc(10, own=1000)]
    after = [_proc(10, own=1100), _proc(11, own=40, ppid=10, start=5000)]
    assert cpu_percent(before, after, seconds=1, hz=HZ) == pytest.approx(140)


def test_cpu_percent_of_a_reaped_child_counts_only_its_time_in_the_window() -> None:
    # Child 11 had 300 ticks before the window and 380 when it ended; the postmaster (10) reaped
    # it, so its children time grew by 380, of which 80 fall in the window.
    before = [_proc(10, own=1000), _proc(11, own=300, ppid=10)]
    after = [_proc(10, own=1020, children=380)]
    assert cpu_percent(before, after, seconds=1, hz=HZ) == pytest.approx(20 + 80)


def test_cpu_percent_of_a_process_gone_without_a_reaper_in_the_group_is_not_negative() -> None:
    before = [_proc(10, own=1000), _proc(12, own=500, ppid=1)]
    after = [_proc(10, own=1010)]
    assert cpu_percent(before, after, seconds=1, hz=HZ) == pytest.approx(10)


def test_cpu_percent_tells_a_recycled_pid_from_the_process_that_had_it() -> None:
    before = [_proc(10, own=5000, start=1000)]
    after = [_proc(10, own=30, start=9000)]  # a new process: its 30 ticks, not 30 - 5000
    assert cpu_percent(before, after, seconds=1, hz=HZ) == pytest.approx(30)


def test_database_members_are_ferretdb_and_postgresql() -> None:
    procs = [
        _proc(1, 0, comm="systemd", ppid=0),
        _proc(500, 0, comm="ferretdb"),
        _proc(600, 0, comm="postgres"),
        _proc(601, 0, comm="postgres", ppid=600),
        _proc(602, 0, comm="pg_cron worker", ppid=600),  # a child by another name
        _proc(700, 0, comm="python", ppid=1),
        _proc(800, 0, comm="beam.smp"),
    ]
    assert [p.pid for p in database_members(procs, ferretdb=500, postmaster=600)] == [500, 600, 601, 602]
    assert [p.pid for p in database_members(procs, ferretdb=500, postmaster=None)] == [500]


# --- what goes in and out of the chain ---------------------------------------------------------------


def test_sent_at_is_read_from_a_delivered_body() -> None:
    event = Feeder().event()
    body = stamp(event, 1_764_358_800.123456)
    assert sent_at_of(body) == pytest.approx(1_764_358_800.123456)
    # As an engine forwards it: other keys around it, a space after the colon.
    forwarded = b'{"connector":"a","sent_at": 1.7e9,"current_alarm":{"v":{}}}'
    assert sent_at_of(forwarded) == pytest.approx(1.7e9)


def test_an_event_made_by_a_beat_has_no_sent_at() -> None:
    assert sent_at_of(b'{"event_type":"resolve_close","component":"c"}') is None


def test_in_flight_is_read_from_an_engine_metrics_page() -> None:
    page = (
        "# HELP cps_in_flight Deliveries received and not yet acked.\n"
        "# TYPE cps_in_flight gauge\n"
        'cps_in_flight{engine="axe",instance="axe"} 212.0\n'
        'cps_consuming{engine="axe",instance="axe"} 1.0\n'
    )
    assert in_flight(page) == 212
    with pytest.raises(ValueError, match="cps_in_flight"):
        in_flight("cps_consuming 1.0\n")


def test_routing_key_is_canopsis_one() -> None:
    event = {
        "connector": "feeder1",
        "connector_name": "feeder1_inst0",
        "event_type": "check",
        "source_type": "resource",
        "component": "feeder1_7",
        "resource": "feeder1_1",
    }
    assert routing_key(event) == "feeder1.feeder1_inst0.check.resource.feeder1_7.feeder1_1"
    component = {**event, "source_type": "component", "resource": None}
    assert routing_key(component) == "feeder1.feeder1_inst0.check.component.feeder1_7"


def test_names_are_unique_per_run_and_cover_the_dead_letter_queues() -> None:
    names = Names.of("ab12cd34")
    assert names.queues == ("bench.ab12cd34.che", "bench.ab12cd34.axe", "bench.ab12cd34.action")
    assert names.exchange == "bench.ab12cd34.events"
    assert set(names.all_queues) == {*names.queues, names.out, *(f"{q}.dead" for q in names.queues)}


# --- preloaded documents -------------------------------------------------------------------------------


def test_preloaded_entities_are_resources_of_the_preload_connector() -> None:
    entity_template, _ = preload_templates(NOW)
    documents = [clone_entity(entity_template, i) for i in (0, 41)]
    entities = [Entity.model_validate(d) for d in documents]
    assert [e.id for e in entities] == ["preload_0/preload_0", "preload_41/preload_41"]
    e = entities[1]
    assert (e.type, e.name, e.component, e.connector) == (
        EntityType.RESOURCE,
        "preload_41",
        "preload_41",
        "preload/preload",
    )
    assert (e.created, e.last_event_date, e.enabled) == (NOW, NOW, True)


def test_preloaded_alarms_are_open_critical_on_their_entity_with_their_own_ids() -> None:
    _, alarm_template = preload_templates(NOW)
    documents = [clone_alarm(alarm_template, i) for i in (3, 4)]
    alarms = [Alarm.from_document(d) for d in documents]
    first, second = alarms
    assert first.entity_id == "preload_3/preload_3" and second.entity_id == "preload_4/preload_4"
    assert first.id != second.id and first.applied != second.applied
    assert first.value.display_name == display_name(first.id)
    assert not first.is_resolved and first.state == 3
    assert (first.value.component, first.value.resource, first.value.connector) == ("preload_3", "preload_3", "preload")
    assert first.entity is not None and first.entity["_id"] == first.entity_id
    assert [s.type for s in first.value.steps] == ["stateinc", "statusinc"]
    assert "@i@" not in str(documents)


# --- output ------------------------------------------------------------------------------------------


def _result(**changes: object) -> RateResult:
    fields: dict[str, object] = {
        "rate": 500.0,
        "seconds": 60.0,
        "sent": 30000,
        "offered": 500.0,
        "delivered": 499.5,
        "backlog_end": 12,
        "growth": 0.2,
        "kept_up": True,
        "p50_ms": 41.0,
        "p99_ms": 180.0,
        "latencies": 30000,
        "drained_s": 0.5,
        "cpu": {"che": 30.0, "axe": 28.0, "action": 9.0, "db": None, "broker": 20.0},
        "db_rss_mb": None,
        "peak_rss_mb": {"che": 80.0, "axe": 90.0, "action": 70.0},
    }
    return RateResult(**{**fields, **changes})  # type: ignore[arg-type]


def test_an_external_database_shows_as_not_available() -> None:
    text = line(_result())
    assert "db n/a" in text and "db RSS n/a MiB" in text and "kept up" in text


def test_the_line_says_when_the_chain_fell_behind_and_did_not_drain() -> None:
    text = line(_result(kept_up=False, drained_s=None, latencies=20000))
    assert "FELL BEHIND" in text and "NOT drained" in text and "(20,000 of 30,000 arrived)" in text


def test_the_table_has_a_row_per_rate_and_the_preload_in_its_header() -> None:
    options = Options(rates=(250.0, 500.0), seconds=60, preload_alarms=2000, preload_entities=5000)
    text = table([_result(rate=250.0), _result()], options, "ab12cd34")
    lines = text.splitlines()
    assert "2,000 open alarms, 5,000 entities" in lines[0]
    assert lines[3].split()[0] == "250" and lines[4].split()[0] == "500"
    assert "peak RSS MiB (VmHWM) with 2,000 open alarms and 5,000 entities preloaded: che 80.0" in text
