"""cps-pbehavior against the MongoDB-compatible server: create, list, delete, and its refusals."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from engines.model import Entity
from engines.pbehavior.documents import DEFAULT_TYPES, PBehavior, PBehaviorType
from engines.pbehavior.schedule import Schedule
from engines.tools.pbehavior import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]

YAML_LIST = """\
- name: Nightly backup
  type: Default maintenance          # a type by name
  tstart: 2026-03-02T01:00:00+01:00  # ISO date-times with an offset
  tstop: 2026-03-02T02:00:00+01:00
  rrule: FREQ=DAILY
  entity_pattern:
    - - field: component
        cond: {type: eq, value: srv01}
- _id: weekend
  name: Weekend
  type_: default_pause               # a type by id, Canopsis' field name
  reason: Default
  tstart: 1772838000
  tstop: 1773010800
  rrule: FREQ=WEEKLY
  exdates: [{begin: 1774252800, end: 1774425600, type: default_active}]
"""


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def url(mongo_db: AsyncDatabase[Doc]) -> str:
    base = os.environ.get("CPS_MONGO_URL", "mongodb://127.0.0.1:27017")
    return f"{base.rstrip('/')}/{mongo_db.name}"


@pytest.fixture
def cli(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Run]:
    """Run `cps-pbehavior *args` in this process against the test's database; `files` are
    written to tmp_path first (name → text) and their names replaced by their paths."""
    monkeypatch.setenv("CPS_MONGO_URL", url)
    monkeypatch.setenv("USER", "jdoe")

    def run(*args: str, files: dict[str, str] | None = None) -> Run:
        paths = {}
        for name, text in (files or {}).items():
            paths[name] = tmp_path / name
            paths[name].write_text(text)
        out, err = io.StringIO(), io.StringIO()
        code = main([str(paths.get(a, a)) for a in args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


async def test_create_from_yaml_installs_defaults_and_list_shows_them(
    cli: Callable[..., Run], mongo_db: AsyncDatabase[Doc]
) -> None:
    created = cli("create", "pbh.yaml", files={"pbh.yaml": YAML_LIST})

    assert (created.code, created.err) == (0, "")
    assert len(created.out.splitlines()) == 2 and "created weekend 'Weekend'" in created.out
    types = {d["_id"]: d["priority"] for d in await mongo_db.pbehavior_type.find({}).to_list(None)}
    assert types == {t.id: t.priority for t in DEFAULT_TYPES}
    assert [d["name"] for d in await mongo_db.pbehavior_reason.find({}).to_list(None)] == ["Default"]
    stored = {d["name"]: d for d in await mongo_db.pbehavior.find({}).to_list(None)}
    backup = stored["Nightly backup"]
    assert (backup["type_"], backup["reason"], backup["author"], backup["enabled"]) == (
        "default_maintenance",
        "default_reason",
        "jdoe",
        True,
    )
    assert (backup["tstart"], backup["tstop"]) == (1772409600, 1772413200)
    assert isinstance(backup["created"], int) and len(backup["_id"]) == 36  # a generated UUID
    assert stored["Weekend"]["exdates"] == [{"begin": 1774252800, "end": 1774425600, "type": "default_active"}]

    listed = cli("--timezone", "Europe/Paris", "list")

    assert listed.code == 0
    header, *rows = listed.out.splitlines()
    assert header.split() == ["id", "name", "type", "tstart", "tstop", "rrule", "enabled"]
    assert rows[0].split()[1:] == [
        "Nightly",
        "backup",
        "Default",
        "maintenance",
        "2026-03-02",
        "01:00+01:00",
        "2026-03-02",
        "02:00+01:00",
        "FREQ=DAILY",
        "yes",
    ]
    assert rows[1].split() == [
        "weekend",
        "Weekend",
        "Default",
        "pause",
        "2026-03-07",
        "00:00+01:00",
        "2026-03-09",
        "00:00+01:00",
        "FREQ=WEEKLY",
        "yes",
    ]


async def test_created_document_is_what_the_engine_reads(cli: Callable[..., Run], mongo_db: AsyncDatabase[Doc]) -> None:
    pbehavior = {
        "_id": "upgrade-42",
        "name": "Upgrade",
        "type": "default_maintenance",
        "tstart": 1000,
        "tstop": 5000,
        "color": "#123456",
        "comments": [{"message": "planned"}],
        "entity_pattern": [[{"field": "name", "cond": {"type": "eq", "value": "disk"}}]],
    }
    assert cli("create", "one.json", files={"one.json": json.dumps(pbehavior)}).code == 0

    document = await mongo_db.pbehavior.find_one({"_id": "upgrade-42"})
    assert document is not None and document["comments"] == [{"message": "planned"}]
    read = PBehavior.model_validate(document)
    types = [PBehaviorType.model_validate(d) for d in await mongo_db.pbehavior_type.find({}).to_list(None)]
    disk = Entity.model_validate({"_id": "disk/srv01", "name": "disk", "type": "resource", "created": 0})
    info = Schedule.at([read], types, 2000, "Europe/Paris").resolve(disk)
    assert info is not None and (info.id, info.canonical_type, info.color) == ("upgrade-42", "maintenance", "#123456")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param(
            "p.json",
            '{"name": "x", "type": "Default pause", "tstart": 1',
            "p.json: invalid JSON at line 1",
            id="invalid-json",
        ),
        pytest.param("p.yaml", "name: [x", "p.yaml: invalid YAML at line 1", id="invalid-yaml"),
        pytest.param("p.yaml", "- 1\n- 2\n", "expected a pbehavior object or a list of them", id="not-objects"),
        pytest.param("p.yaml", "", "expected a pbehavior object or a list of them", id="empty-file"),
        pytest.param(
            "p.yaml",
            "name: x\ntype: Holiday\ntstart: 1\n",
            "pbehavior 'x': unknown type 'Holiday' (one of 'Default active', 'Default inactive', "
            "'Default maintenance', 'Default pause')",
            id="unknown-type",
        ),
        pytest.param("p.yaml", "name: x\ntstart: 1\n", "pbehavior 'x': type is required", id="missing-type"),
        pytest.param(
            "p.yaml",
            "name: x\ntype: Default pause\nreason: Whim\ntstart: 1\n",
            "pbehavior 'x': unknown reason 'Whim' (one of 'Default')",
            id="unknown-reason",
        ),
        pytest.param(
            "p.yaml",
            "name: x\ntype: Default pause\ntstart: 2026-03-02T09:00:00\n",
            "pbehavior 'x': tstart: '2026-03-02T09:00:00' has no UTC offset",
            id="naive-time",
        ),
        pytest.param(
            "p.yaml",
            "- name: ok\n  type: Default pause\n  tstart: 1\n"
            "- name: y\n  type: Default pause\n  tstart: 1\n  rrule: FREQ=SOMETIMES\n",
            "item 2 'y': rrule: invalid rrule 'FREQ=SOMETIMES'",
            id="bad-rrule-in-a-list",
        ),
        pytest.param(
            "p.yaml",
            "name: x\ntype: Default pause\ntstart: 10\ntstop: 5\n",
            "pbehavior 'x': tstop 5 must be after tstart 10",
            id="stop-before-start",
        ),
        pytest.param(
            "p.yaml",
            "name: x\ntype: Default pause\ntstart: 1\nentity_pattern: [[{field: name}]]\n",
            "pbehavior 'x': entity_pattern[0][0] (field name): 'cond' must be an object",
            id="bad-pattern",
        ),
        pytest.param(
            "p.yaml",
            "- {_id: a, name: x, type: Default pause, tstart: 1}\n"
            "- {_id: a, name: y, type: Default pause, tstart: 1}\n",
            "the same _id appears twice",
            id="duplicate-ids",
        ),
    ],
)
async def test_bad_input_exits_2_with_one_line_and_creates_nothing(
    cli: Callable[..., Run], mongo_db: AsyncDatabase[Doc], name: str, text: str, message: str
) -> None:
    run = cli("create", name, files={name: text})

    assert run.code == 2 and run.out == ""
    assert run.err.count("\n") == 1 and run.err.startswith("cps-pbehavior: ")
    assert message in run.err
    assert await mongo_db.pbehavior.count_documents({}) == 0


async def test_missing_file_and_unknown_command_exit_2(cli: Callable[..., Run]) -> None:
    missing = cli("create", "/nonexistent/p.yaml")
    assert missing.code == 2 and "cannot read /nonexistent/p.yaml: No such file or directory" in missing.err
    unknown = cli("frobnicate")
    assert unknown.code == 2 and "invalid choice: 'frobnicate'" in unknown.err


async def test_existing_id_is_refused(cli: Callable[..., Run], mongo_db: AsyncDatabase[Doc]) -> None:
    files = {"p.yaml": "{_id: w, name: Weekend, type: Default pause, tstart: 1}"}
    assert cli("create", "p.yaml", files=files).code == 0

    again = cli("create", "p.yaml", files=files)

    assert again.code == 2 and "pbehavior 'w' already exists (delete it first)" in again.err
    assert await mongo_db.pbehavior.count_documents({}) == 1


async def test_delete_removes_the_given_ids_and_names_the_unknown_ones(
    cli: Callable[..., Run], mongo_db: AsyncDatabase[Doc]
) -> None:
    text = "".join(f"- {{_id: p{i}, name: n{i}, type: Default pause, tstart: 1}}\n" for i in range(3))
    assert cli("create", "p.yaml", files={"p.yaml": text}).code == 0

    run = cli("delete", "p0", "p2", "nope")

    assert run.code == 2
    assert run.out.splitlines() == ["deleted p0", "deleted p2"]
    assert run.err == "cps-pbehavior: no pbehavior 'nope'\n"
    assert [d["_id"] for d in await mongo_db.pbehavior.find({}).to_list(None)] == ["p1"]
    assert cli("delete", "p1").code == 0
    assert cli("list").out.splitlines() == ["id  name  type  tstart  tstop  rrule  enabled"]


def run_module(*args: str, url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CPS_MONGO_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "engines.tools.pbehavior", *args],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_runs_as_a_module_reading_stdin(url: str, mongo_db: AsyncDatabase[Doc]) -> None:
    created = run_module(
        "create", "-", url=url, stdin='{"_id": "s", "name": "From stdin", "type": "Default pause", "tstart": 1}'
    )
    assert (created.returncode, created.stdout, created.stderr) == (0, "created s 'From stdin'\n", "")
    listed = run_module("list", url=url)
    assert listed.returncode == 0 and "From stdin" in listed.stdout


def test_unreachable_database_exits_1_with_the_masked_url() -> None:
    run = run_module("list", url="mongodb://user:secret@127.0.0.1:1/canopsis")
    assert run.returncode == 1
    assert "no answer from MongoDB at" in run.stderr and "secret" not in run.stderr
