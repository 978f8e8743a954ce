"""cps-dlq's pure pieces: which queue a name means, message numbers, replay headers, listing."""

from __future__ import annotations

import pytest

from engines.tools.console import UsageError
from engines.tools.dlq import DeadLetter, candidate_queues, list_lines, parse_indexes, replay_headers, show_lines


@pytest.mark.parametrize(
    "target, queues",
    [
        ("che", ["Engine_che.dead", "che.dead"]),
        ("Engine_che", ["Engine_che.dead"]),
        ("Engine_che.dead", ["Engine_che.dead"]),
        ("my_queue", ["Engine_my_queue.dead", "my_queue.dead"]),
    ],
)
def test_candidate_queues(target, queues) -> None:
    assert candidate_queues(target) == queues


def test_parse_indexes_keeps_order_and_drops_duplicates() -> None:
    assert parse_indexes(["3", "1", "3"]) == [3, 1]
    with pytest.raises(UsageError, match="start at 1"):
        parse_indexes(["0"])
    with pytest.raises(UsageError, match="not a message number"):
        parse_indexes(["two"])


def test_replay_headers_drop_dead_letter_headers_and_count_replays() -> None:
    headers = {"x-cps-reason": "bad", "x-cps-engine": "che", "x-cps-queue": "Engine_che", "x-trace": "1"}
    once = replay_headers(headers)
    assert once == {"x-trace": "1", "x-cps-replayed": 1}
    assert replay_headers({**once, "x-cps-reason": "again"})["x-cps-replayed"] == 2


def letter(index: int, body: bytes, reason: str = "invalid event: state: 9 is out of range") -> DeadLetter:
    return DeadLetter(
        index, body, f"id{index}", {"x-cps-reason": reason, "x-cps-queue": "Engine_che"}, "application/json", False
    )


def test_list_lines_show_index_id_reason_and_60_chars_of_body() -> None:
    lines = list_lines("Engine_che.dead", 5, [letter(1, b"x" * 100), letter(2, b'{"a":\n1}')])
    assert lines[0] == "Engine_che.dead: 5 messages (first 2)"
    assert lines[1].split()[:4] == ["#", "message", "id", "reason"]
    assert lines[2].split()[:3] == ["1", "id1", "invalid"] and lines[2].endswith("x" * 59 + "…")
    assert lines[3].endswith('{"a":\\n1}')


def test_list_lines_of_an_empty_queue() -> None:
    assert list_lines("q.dead", 0, []) == ["q.dead: 0 messages"]


def test_show_lines_pretty_print_json_bodies() -> None:
    text = "\n".join(show_lines("Engine_che.dead", 1, letter(1, b'{"a": 1}')))
    assert "reason:       invalid event" in text and "from queue:   Engine_che" in text
    assert text.endswith('{\n  "a": 1\n}')
