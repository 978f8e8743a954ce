"""engines.pbehavior.schedule and .documents: which pbehavior is in force (reference §6.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from engines.model import Entity
from engines.model.pbehavior_info import PbhInfo
from engines.pbehavior.documents import DEFAULT_REASON, DEFAULT_TYPES, PBehavior, PBehaviorType
from engines.pbehavior.schedule import Schedule, in_force

TZ: Final = "Europe/Paris"
PARIS: Final = ZoneInfo(TZ)
HOUR: Final = 3600
DISK: Final = [[{"field": "name", "cond": {"type": "eq", "value": "disk"}}]]
WORKING_HOURS: Final = PBehaviorType(id="working", name="Working hours", type="active", priority=10)
TYPES: Final = (*DEFAULT_TYPES, WORKING_HOURS)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Unix seconds of a wall-clock time in Paris."""
    return int(datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp())


START: Final = local(2026, 3, 2, 9)  # a Monday, 09:00 Paris (CET)


def pbh(**fields: Any) -> PBehavior:
    """A maintenance 09:00-10:00 on 2026-03-02 for the entity named "disk", unless `fields` say otherwise."""
    document = {
        "_id": "pbh-1",
        "name": "Upgrade",
        "author": "alice",
        "type_": "default_maintenance",
        "reason": "default_reason",
        "tstart": START,
        "tstop": START + HOUR,
        "entity_pattern": DISK,
        "created": START - 10 * HOUR,
        **fields,
    }
    return PBehavior.model_validate(document)


def entity(name: str = "disk", **fields: Any) -> Entity:
    document = {
        "_id": f"{name}/srv01",
        "name": name,
        "type": "resource",
        "component": "srv01",
        "connector": "centreon/centreon-1",
        "created": 0,
        **fields,
    }
    return Entity.model_validate(document)


def resolved(pbehaviors: list[PBehavior], now: int, ent: Entity | None = None) -> PbhInfo | None:
    return in_force(pbehaviors, TYPES, ent or entity(), now, TZ, reasons=[DEFAULT_REASON])


def type_in_force(pbehaviors: list[PBehavior], now: int) -> str | None:
    info = resolved(pbehaviors, now)
    return None if info is None else info.type


# --- one pbehavior, in force or not ----------------------------------------------------------------

DAILY: Final = {"rrule": "FREQ=DAILY"}
WEEKLY_MO_WE: Final = {"rrule": "FREQ=WEEKLY;BYDAY=MO,WE"}


@pytest.mark.parametrize(
    ("fields", "now", "expected"),
    [
        pytest.param({}, START + 30 * 60, "default_maintenance", id="plain-window-inside"),
        pytest.param({}, START, "default_maintenance", id="plain-window-start-included"),
        pytest.param({}, START + HOUR, None, id="plain-window-stop-excluded"),
        pytest.param({}, START - 1, None, id="plain-window-before"),
        pytest.param({}, START + 24 * HOUR + 60, None, id="plain-window-next-day"),
        pytest.param({"tstop": None}, START + 400 * 24 * HOUR, "default_maintenance", id="open-ended-for-ever"),
        pytest.param({"tstop": None}, START - 60, None, id="open-ended-not-yet"),
        pytest.param(DAILY, local(2026, 3, 5, 9, 30), "default_maintenance", id="daily-later-day-inside"),
        pytest.param(DAILY, local(2026, 3, 5, 10, 0), None, id="daily-later-day-after"),
        pytest.param(DAILY, local(2026, 3, 5, 8, 59), None, id="daily-later-day-before"),
        pytest.param(
            {**DAILY, "rrule": "FREQ=DAILY;COUNT=2"},
            local(2026, 3, 3, 9, 30),
            "default_maintenance",
            id="count-second-occurrence",
        ),
        pytest.param({**DAILY, "rrule": "FREQ=DAILY;COUNT=2"}, local(2026, 3, 4, 9, 30), None, id="count-exhausted"),
        # 08:30 local on 03-04 ends the rule before that day's 09:00; read as UTC (09:30 local) it would not.
        pytest.param(
            {"rrule": "FREQ=DAILY;UNTIL=20260304T083000"}, local(2026, 3, 4, 9, 30), None, id="floating-until-is-local"
        ),
        pytest.param(
            {"rrule": "RRULE:FREQ=DAILY;UNTIL=20260304T080000Z"},
            local(2026, 3, 4, 9, 30),
            "default_maintenance",
            id="utc-until-includes-last",
        ),
        pytest.param(WEEKLY_MO_WE, local(2026, 3, 4, 9, 30), "default_maintenance", id="weekly-wednesday"),
        pytest.param(WEEKLY_MO_WE, local(2026, 3, 3, 9, 30), None, id="weekly-not-tuesday"),
        pytest.param(WEEKLY_MO_WE, local(2026, 3, 16, 9, 30), "default_maintenance", id="weekly-monday-later"),
        pytest.param(
            {"tstop": START + 3 * HOUR, "rrule": "FREQ=HOURLY;INTERVAL=2"},
            local(2026, 3, 9, 23, 30),
            "default_maintenance",
            id="overlapping-occurrences",
        ),
        pytest.param({"enabled": False}, START + 60, None, id="disabled"),
        pytest.param({"type_": "no-such-type"}, START + 60, None, id="unknown-type"),
    ],
)
def test_in_force_follows_window_and_rrule(fields: dict[str, Any], now: int, expected: str | None) -> None:
    assert type_in_force([pbh(**fields)], now) == expected


# Daily 09:00-10:00 local from before each DST change: occurrences stay at 09:00 local, so their
# UTC time moves by an hour across 2026-03-29 (CET→CEST) and 2026-10-25 (CEST→CET).
SPRING: Final = {"tstart": local(2026, 3, 27, 9), "tstop": local(2026, 3, 27, 10), "rrule": "FREQ=DAILY"}
AUTUMN: Final = {"tstart": local(2026, 10, 23, 9), "tstop": local(2026, 10, 23, 10), "rrule": "FREQ=DAILY"}


@pytest.mark.parametrize(
    ("fields", "now", "expected"),
    [
        pytest.param(SPRING, local(2026, 3, 28, 9, 30), "default_maintenance", id="spring-day-before"),
        pytest.param(SPRING, local(2026, 3, 29, 9, 0), "default_maintenance", id="spring-change-day-0900"),
        pytest.param(SPRING, local(2026, 3, 29, 9, 59), "default_maintenance", id="spring-change-day-0959"),
        pytest.param(SPRING, local(2026, 3, 29, 8, 30), None, id="spring-change-day-0830"),
        pytest.param(SPRING, local(2026, 3, 29, 10, 0), None, id="spring-change-day-1000"),
        pytest.param(SPRING, local(2026, 3, 30, 9, 30), "default_maintenance", id="spring-day-after"),
        pytest.param(SPRING, local(2026, 3, 30, 10, 30), None, id="spring-day-after-not-utc-shifted"),
        pytest.param(AUTUMN, local(2026, 10, 25, 9, 0), "default_maintenance", id="autumn-change-day-0900"),
        pytest.param(AUTUMN, local(2026, 10, 25, 9, 59), "default_maintenance", id="autumn-change-day-0959"),
        pytest.param(AUTUMN, local(2026, 10, 25, 8, 30), None, id="autumn-change-day-0830"),
        pytest.param(AUTUMN, local(2026, 10, 26, 9, 30), "default_maintenance", id="autumn-day-after"),
        pytest.param(AUTUMN, local(2026, 10, 26, 10, 30), None, id="autumn-day-after-1030"),
    ],
)
def test_rrule_occurrences_keep_their_local_time_across_dst(
    fields: dict[str, Any], now: int, expected: str | None
) -> None:
    assert type_in_force([pbh(**fields)], now) == expected


def test_occurrence_in_utc_moves_by_an_hour_across_the_spring_change() -> None:
    fields = SPRING
    before_change = datetime(2026, 3, 28, 8, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 CET
    after_change = datetime(2026, 3, 30, 7, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 CEST
    assert type_in_force([pbh(**fields)], int(before_change.timestamp())) == "default_maintenance"
    assert type_in_force([pbh(**fields)], int(after_change.timestamp())) == "default_maintenance"
    assert type_in_force([pbh(**fields)], int(after_change.timestamp()) + HOUR) is None


# --- exdates ---------------------------------------------------------------------------------------

DAY2: Final = {"begin": local(2026, 3, 3), "end": local(2026, 3, 4)}


@pytest.mark.parametrize(
    ("exdates", "now", "expected"),
    [
        pytest.param([DAY2], local(2026, 3, 3, 9, 30), None, id="untyped-exdate-removes-occurrence"),
        pytest.param([DAY2], local(2026, 3, 4, 9, 30), "default_maintenance", id="next-occurrence-kept"),
        pytest.param([DAY2], local(2026, 3, 2, 9, 30), "default_maintenance", id="previous-occurrence-kept"),
        pytest.param(
            [{"begin": local(2026, 3, 3, 9, 30), "end": local(2026, 3, 3, 11)}],
            local(2026, 3, 3, 9, 15),
            "default_maintenance",
            id="partial-exdate-keeps-the-rest",
        ),
        pytest.param(
            [{"begin": local(2026, 3, 3, 9, 30), "end": local(2026, 3, 3, 11)}],
            local(2026, 3, 3, 9, 45),
            None,
            id="partial-exdate-removes-its-part",
        ),
        pytest.param(
            [{**DAY2, "type": "default_pause"}],
            local(2026, 3, 3, 9, 30),
            "default_pause",
            id="typed-exdate-replaces-the-type",
        ),
        pytest.param(
            [{**DAY2, "type": "default_pause"}], local(2026, 3, 3, 12), None, id="typed-exdate-only-inside-occurrences"
        ),
        pytest.param(
            [{**DAY2, "type": "default_active"}], local(2026, 3, 3, 9, 30), None, id="default-active-exdate-means-none"
        ),
        pytest.param(
            [{**DAY2, "type": "default_inactive"}, {**DAY2, "type": "default_pause"}],
            local(2026, 3, 3, 9, 30),
            "default_pause",
            id="highest-priority-exdate-wins",
        ),
    ],
)
def test_exdates_change_the_occurrences_they_overlap(
    exdates: list[dict[str, Any]], now: int, expected: str | None
) -> None:
    assert type_in_force([pbh(rrule="FREQ=DAILY", exdates=exdates)], now) == expected


# --- several pbehaviors: priority, created, id -----------------------------------------------------


@pytest.mark.parametrize(
    ("others", "expected_id"),
    [
        pytest.param([{"_id": "pbh-2", "type_": "default_pause"}], "pbh-2", id="higher-priority-type-wins"),
        pytest.param([{"_id": "pbh-2", "type_": "default_inactive"}], "pbh-1", id="lower-priority-type-loses"),
        pytest.param([{"_id": "pbh-0", "created": START}], "pbh-0", id="same-type-newer-wins"),
        pytest.param([{"_id": "pbh-2", "created": START - 20 * HOUR}], "pbh-1", id="same-type-older-loses"),
        pytest.param([{"_id": "pbh-2"}], "pbh-2", id="same-type-same-created-higher-id-wins"),
        pytest.param(
            [{"_id": "pbh-2", "type_": "default_pause", "enabled": False}], "pbh-1", id="disabled-does-not-compete"
        ),
        pytest.param(
            [
                {
                    "_id": "pbh-2",
                    "type_": "default_pause",
                    "entity_pattern": [[{"field": "name", "cond": {"type": "eq", "value": "cpu"}}]],
                }
            ],
            "pbh-1",
            id="other-entity-does-not-compete",
        ),
        pytest.param(
            [{"_id": "pbh-2", "type_": "default_pause", "tstart": START + HOUR, "tstop": START + 2 * HOUR}],
            "pbh-1",
            id="not-yet-started-does-not-compete",
        ),
    ],
)
def test_priority_then_created_then_id_decide(others: list[dict[str, Any]], expected_id: str) -> None:
    info = resolved([pbh(), *(pbh(**o) for o in others)], START + 60)
    assert info is not None and info.id == expected_id


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        pytest.param(["default_active"], None, id="default-active-alone-means-none"),
        pytest.param(["default_active", "default_inactive"], None, id="default-active-outranks-default-inactive"),
        pytest.param(["default_active", "default_pause"], "default_pause", id="pause-outranks-default-active"),
        pytest.param(["working"], "working", id="other-active-type-is-a-pbehavior"),
    ],
)
def test_default_active_type_means_no_pbehavior(types: list[str], expected: str | None) -> None:
    pbehaviors = [pbh(_id=f"pbh-{i}", type_=t) for i, t in enumerate(types)]
    assert type_in_force(pbehaviors, START + 60) == expected


# An active-type pbehavior ("working hours", Mon-Fri 09:00-18:00) makes the rest of its days
# inactive: Canopsis gives those hours the default inactive type.
WORK: Final = {
    "type_": "working",
    "tstart": local(2026, 3, 2, 9),
    "tstop": local(2026, 3, 2, 18),
    "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(local(2026, 3, 4, 10), "working", id="inside-working-hours"),
        pytest.param(local(2026, 3, 4, 20), "default_inactive", id="evening-of-a-working-day"),
        pytest.param(local(2026, 3, 4, 7), "default_inactive", id="morning-of-a-working-day"),
        pytest.param(local(2026, 3, 7, 10), None, id="saturday-has-no-occurrence"),
        pytest.param(local(2026, 2, 27, 10), None, id="before-the-first-day"),
    ],
)
def test_active_type_pbehavior_is_inactive_outside_its_hours_on_its_days(now: int, expected: str | None) -> None:
    assert type_in_force([pbh(**WORK)], now) == expected


# --- entity patterns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "ent", "expected"),
    [
        pytest.param(DISK, entity("disk"), "default_maintenance", id="match"),
        pytest.param(DISK, entity("cpu"), None, id="mismatch"),
        pytest.param(
            [[{"field": "infos.env", "field_type": "string", "cond": {"type": "eq", "value": "prod"}}]],
            entity("disk", infos={"env": {"name": "env", "value": "prod"}}),
            "default_maintenance",
            id="infos-match",
        ),
        pytest.param(
            [[{"field": "component", "cond": {"type": "eq", "value": "srv02"}}]],
            entity("disk"),
            None,
            id="component-mismatch",
        ),
        pytest.param(None, entity("disk"), None, id="no-pattern-matches-nothing"),
        pytest.param([], entity("disk"), None, id="empty-pattern-matches-nothing"),
    ],
)
def test_entity_pattern_selects_entities(pattern: Any, ent: Entity, expected: str | None) -> None:
    info = resolved([pbh(entity_pattern=pattern)], START + 60, ent)
    assert (None if info is None else info.type) == expected


# --- the pbehavior_info object and the Schedule ----------------------------------------------------


def test_pbehavior_info_has_the_reference_shape() -> None:
    info = resolved([pbh(color="#FF0000")], START + 60)
    assert info is not None
    assert info.to_document() == {
        "timestamp": START + 60,
        "id": "pbh-1",
        "name": "Upgrade",
        "reason": "default_reason",
        "reason_name": "Default",
        "type": "default_maintenance",
        "type_name": "Default maintenance",
        "canonical_type": "maintenance",
        "icon_name": "build",
        "color": "#FF0000",
        "author": "alice",
    }


def test_unknown_reason_is_named_by_its_id_and_colour_falls_back_to_the_type() -> None:
    info = resolved([pbh(reason="r-42")], START + 60)
    assert info is not None and (info.reason_name, info.color) == ("r-42", "#BF360C")


def test_schedule_reports_skipped_pbehaviors_and_whether_anything_is_in_force() -> None:
    schedule = Schedule.at([pbh(), pbh(_id="pbh-x", type_="gone")], TYPES, START + 60, TZ)
    assert schedule.any_in_force
    assert schedule.problems == ("pbehavior 'pbh-x' skipped: unknown type 'gone'",)
    idle = Schedule.at([pbh(type_="default_active")], TYPES, START + 60, TZ)
    assert not idle.any_in_force and idle.resolve(entity()) is None


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"rrule": "FREQ=SOMETIMES"}, "invalid rrule 'FREQ=SOMETIMES'", id="bad-rrule"),
        pytest.param({"tstop": START}, f"tstop {START} must be after tstart {START}", id="empty-window"),
        pytest.param({"tstart": "2026-03-02T09:00:00"}, "has no UTC offset", id="naive-iso-time"),
        pytest.param({"tstart": "next monday"}, "neither unix seconds nor an ISO 8601", id="not-a-time"),
        pytest.param(
            {"entity_pattern": [[{"field": "name", "cond": {"type": "eq"}}]]}, "entity_pattern[0][0]", id="bad-pattern"
        ),
        pytest.param({"exdates": [{"begin": START, "end": START}]}, "must be after begin", id="empty-exdate"),
        pytest.param({"_id": ""}, "_id", id="empty-id"),
    ],
)
def test_invalid_pbehavior_is_refused_with_a_reason(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        pbh(**fields)


def test_api_names_and_iso_times_are_read_and_unknown_keys_kept() -> None:
    document = {
        "_id": "p",
        "name": "n",
        "type": "default_pause",
        "tstart": "2026-03-02T09:00:00+01:00",
        "tstop": "2026-03-02T08:30:00Z",
        "comments": [{"m": "x"}],
    }
    stored = PBehavior.model_validate(document).to_document()
    assert (stored["type_"], stored["tstart"], stored["tstop"]) == ("default_pause", START, START + 30 * 60)
    assert stored["comments"] == [{"m": "x"}] and "type" not in stored
