"""The README's first command: the embedded chain runs with no services and reports what it did."""

from __future__ import annotations

from engines.demo import main


def test_demo_runs_the_example_chain_in_process_and_reports_each_engine(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[2:] for line in out.splitlines() if line.startswith(("cleaner ", "enricher ", "store "))}
    assert rows == {
        "cleaner": ["9", "7", "0", "2"],  # received, forwarded, dropped, dead: garbage and an invalid event
        "enricher": ["7", "6", "1", "0"],  # the heartbeat is dropped by tag_event
        "store": ["6", "6", "0", "0"],
    }
    assert "http/web01 " in out and "web01 /" not in out, "the cleaner trims component names"
    assert "resource: missing, required when source_type is 'resource'" in out
