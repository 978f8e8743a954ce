"""cps-tail's compact line: time, event_type, entity id, state, output."""

from __future__ import annotations

import json
from datetime import datetime

from engines.tools.tail import compact_line, entity_id

STAMP = 1_700_000_000
CLOCK = datetime.fromtimestamp(STAMP).strftime("%H:%M:%S")


def test_compact_line_of_a_check() -> None:
    event = {
        "connector": "c",
        "connector_name": "n",
        "event_type": "check",
        "source_type": "resource",
        "component": "web01",
        "resource": "disk",
        "state": 2,
        "output": "91%\nused",
        "timestamp": STAMP,
    }
    assert compact_line(json.dumps(event).encode(), 0) == f"{CLOCK} check disk/web01 major 91%\\nused"


def test_compact_line_uses_arrival_time_without_timestamp_and_marks_garbage() -> None:
    assert compact_line(b'{"event_type": "ack", "component": "h"}', STAMP) == f"{CLOCK} ack h -"
    assert compact_line(b"<xml/>", STAMP) == f"{CLOCK} (not a JSON object) <xml/>"


def test_entity_id_rules() -> None:
    assert entity_id({"resource": "r", "component": "c"}) == "r/c"
    assert entity_id({"component": "c"}) == "c"
    assert entity_id({"connector": "a", "connector_name": "b"}) == "a/b"
