"""cps-healthcheck's verdict from run-info documents: missing, stalled, misrouted, healthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engines.tools.console import EXIT_USAGE
from engines.tools.healthcheck import check_chain, main

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def doc(engine: str, publish: list[str], age: float = 1, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    instance = instance or engine
    return {
        "_id": f"{instance}@h",
        "engine": engine,
        "instance": instance,
        "pid": 7,
        "consume_queue": f"Engine_{engine}",
        "publish_queues": publish,
        "events_per_s": 10.0,
        "queue_length": 0,
        "beat_interval": 1.0,
        "updated": NOW - timedelta(seconds=age),
        **extra,
    }


HEALTHY = [doc("che", ["Engine_axe"]), doc("axe", ["Engine_action"]), doc("action", [])]


def verdicts(docs: list[dict[str, Any]], order: str = "che,axe,action", max_age: float | None = None) -> list[str]:
    return [line for line, _ in check_chain(order.split(","), docs, NOW, max_age)]


def test_a_wired_fresh_chain_is_healthy_one_line_per_engine() -> None:
    results = check_chain(["che", "axe", "action"], HEALTHY, NOW)
    assert all(ok for _, ok in results)
    assert [line.split(":")[0] for line, _ in results] == ["che", "axe", "action"]
    assert results[0][0].startswith("che: OK 1 instance (che@h), 10.0 ev/s, queue 0")


def test_an_engine_without_document_is_missing() -> None:
    lines = verdicts(HEALTHY[:2])
    assert lines[2].startswith("action: MISSING")


def test_older_than_three_beats_is_stalled_unless_max_age_allows_it() -> None:
    docs = [HEALTHY[0], doc("axe", ["Engine_action"], age=3.5), HEALTHY[2]]
    assert verdicts(docs)[1].startswith("axe: STALLED axe@h (pid 7): updated 4 s ago, limit 3 s")
    assert verdicts(docs, max_age=10)[1].startswith("axe: OK")


def test_an_engine_not_publishing_to_the_next_ones_queue_is_misrouted() -> None:
    docs = [doc("che", ["Engine_perfdata"]), *HEALTHY[1:]]
    assert verdicts(docs)[0] == "che: MISROUTED che@h: publishes to Engine_perfdata, not to axe's Engine_axe"


def test_the_next_engines_queue_comes_from_its_document() -> None:
    docs = [doc("che", ["q_axe", "Engine_perfdata"]), doc("axe", ["Engine_action"], consume_queue="q_axe"), HEALTHY[2]]
    assert all(ok for _, ok in check_chain(["che", "axe", "action"], docs, NOW))


def test_one_bad_instance_of_several_is_named() -> None:
    docs = [*HEALTHY, doc("axe", ["Engine_action"], age=100, instance="axe-2")]
    line = verdicts(docs)[1]
    assert line.startswith("axe: STALLED axe-2@h") and "axe@h" not in line.replace("axe-2@h", "")


@pytest.mark.parametrize(
    "argv",
    [
        ["--order", "che,,axe"],
        ["--order", "che,che"],
        ["--max-age", "0"],
        ["--max-age", "x"],
        ["--mongo-url", "http://x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("cps-healthcheck: ") and captured.err.count("\n") == 1
