"""cps-feeder's pure pieces: random-feeder's stream, file parsing, routing keys, pacing."""

from __future__ import annotations

import pytest

from engines.model.event import Event
from engines.tools.console import UsageError
from engines.tools.feeder import Pacer, RandomEvents, is_new_slot, parse_events, routing_key


def test_random_events_are_valid_canopsis_checks_named_like_random_feeder() -> None:
    events = RandomEvents(3, 20, 10, 20, seed=1)
    for _ in range(200):
        event = events.check()
        Event.model_validate(event, context={"now": 1_700_000_000})
        connector = int(event["connector"].removeprefix("feeder"))
        assert 1 <= connector <= 3 and event["connector_name"] == f"feeder{connector}_inst0"
        assert int(event["resource"].split("_")[1]) <= connector * 10
        assert event["state"] in (0, 3)


def test_same_seed_same_stream() -> None:
    first, second = RandomEvents(10, 1000, 10, 20, seed=42), RandomEvents(10, 1000, 10, 20, seed=42)
    assert [first.check() for _ in range(50)] == [second.check() for _ in range(50)]


def test_alarm_rule_toggles_a_resource_between_ok_and_critical() -> None:
    events = RandomEvents(1, 1, 1, 100, seed=0)  # modulo 1: every pick toggles
    assert [events.check()["state"] for _ in range(4)] == [3, 0, 3, 0]
    assert {RandomEvents(1, 1, 1, 0).check()["state"] for _ in range(5)} == {0}


def test_new_resources_grow_the_connector_and_are_minor() -> None:
    events = RandomEvents(1, 5, 2, 20, seed=3)
    new = events.new_resource()
    assert new["state"] == 1 and new["resource"] == "feeder1_3" and events.counts == [3]


@pytest.mark.parametrize("share, count", [(0.0, 0), (0.01, 10), (0.5, 500), (1.0, 1000)])
def test_new_slots_are_the_share_of_events(share, count) -> None:
    assert sum(is_new_slot(n, share) for n in range(1000)) == count


def test_stream_mixes_new_resources_in() -> None:
    stream = RandomEvents(2, 5, 1, 0, seed=1).stream(0.25)
    assert [next(stream)["state"] for _ in range(8)] == [0, 0, 0, 1, 0, 0, 0, 1]


@pytest.mark.parametrize(
    "text, count",
    [
        ('{"connector": "a"}', 1),
        ('[{"connector": "a"}, {"connector": "b"}]', 2),
        ('{"connector": "a"}\n\n{"connector": "b"}\n{"connector": "c"}\n', 3),
    ],
)
def test_parse_events_reads_an_object_an_array_or_json_lines(text, count) -> None:
    assert len(parse_events(text)) == count


@pytest.mark.parametrize(
    "text, words",
    [("", "no events"), ("[1]", "event 1 is a int"), ('{"a": 1}\n{oops}', "line 2"), ("[]", "no events")],
)
def test_parse_events_refuses_what_is_not_events(text, words) -> None:
    with pytest.raises(UsageError, match=words):
        parse_events(text)


def test_routing_key_is_canopsis_compat_key() -> None:
    event = {
        "connector": "c",
        "connector_name": "n",
        "event_type": "check",
        "source_type": "resource",
        "component": "h",
        "resource": "r",
    }
    assert routing_key(event) == "c.n.check.resource.h.r"
    assert routing_key({**event, "source_type": "component"}) == "c.n.check.component.h"


def test_pacer_waits_for_the_target_time_without_drift() -> None:
    pacer = Pacer(100)
    assert pacer.delay(50, 0.2) == pytest.approx(0.3)
    assert pacer.delay(50, 0.6) == 0.0
    assert Pacer(0).delay(10**6, 0.0) == 0.0


def test_summary_line_says_rate_and_confirms() -> None:
    from engines.tools.feeder import Summary

    assert Summary(1000, 1000, 2.0).line("canopsis.events") == (
        "sent 1000 events to canopsis.events in 2.00 s (500.0 events/s), all confirmed"
    )
    assert Summary(10, 7, 1.0).line("x").endswith(", 7 confirmed")
