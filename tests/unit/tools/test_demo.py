"""The README's first command: chains run in process with no services and report what they did."""

from __future__ import annotations

from importlib.resources import files

import pytest

from engines.tools.demo import main


def rows(out: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[2:] for line in out.splitlines() if line.startswith(tuple(n + " " for n in names))
    }


def test_demo_runs_che_and_axe_and_prints_the_alarms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert rows(out, ("che", "axe")) == {
        "che": ["9", "6", "1", "2"],  # received, forwarded, dropped (heartbeat rule), dead (garbage, invalid)
        "axe": ["6", "6", "0", "0"],
    }
    alarms = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and "/" in line.split()[0]}
    assert set(alarms) == {"disk/web01", "http/web01", "replication/db01"}
    assert "ok (0)" in alarms["http/web01"] and " off " in alarms["http/web01"], "an OK check keeps the alarm open, off"
    assert " alice " in alarms["replication/db01"], "the operator's ack is on the alarm"
    assert " lyon " in alarms["replication/db01"], "the enrichment rule copied the site into the entity"


def test_demo_runs_an_amqp2engines_chain_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--chain-file", str(files("engines.dynamic") / "example.conf")]) == 0
    out = capsys.readouterr().out
    assert rows(out, ("cleaner", "enricher", "store")) == {
        "cleaner": ["9", "7", "0", "2"],
        "enricher": ["7", "6", "1", "0"],  # the heartbeat is dropped by tag_event
        "store": ["6", "6", "0", "0"],
    }
    assert "resource: missing, required when source_type is 'resource'" in out
