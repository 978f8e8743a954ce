"""cps-pbehavior: create, list and delete periodic behaviours without writing MongoDB by hand.

    cps-pbehavior create maintenance.yaml     # one object or a list, JSON or YAML ("-": stdin)
    cps-pbehavior list
    cps-pbehavior delete 8c1f… 77a0…

The database is CPS_MONGO_URL (or --mongo-url), as for the engines. engine-pbehavior picks
changes up on its next beat. Exit codes: 0 done, 1 the database did not answer or refused,
2 bad input.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from engines.pbehavior.documents import DEFAULT_REASON, PBehavior
from engines.pbehavior.recurrence import time_zone
from engines.pbehavior.store import default_upserts
from engines.store.collections import PBEHAVIOR_REASONS, PBEHAVIOR_TYPES, PBEHAVIORS
from engines.store.documents import problem_of
from engines.tools.console import (
    EXIT_OK,
    EXIT_USAGE,
    Document,
    Parser,
    UsageError,
    connect_mongo,
    mongo_errors,
    run,
    table,
)
from framework import DUPLICATE_KEY, database_errors

__all__ = ["main"]

PROG: Final = "cps-pbehavior"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Create, list and delete Canopsis pbehaviors (periodic behaviours).")
    parser.add_mongo_url()
    parser.add_argument("--timezone", help="zone times are shown in (default: CPS_TIMEZONE, else Europe/Paris)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{create,list,delete}")
    create = commands.add_parser("create", help="create the pbehaviors of a JSON or YAML file")
    create.add_argument("file", help='a JSON or YAML file holding one pbehavior or a list; "-" reads stdin')
    create.add_argument("--author", help="author of pbehaviors that name none (default: $USER)")
    commands.add_parser("list", help="list every pbehavior")
    delete = commands.add_parser("delete", help="delete pbehaviors by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; return the exit code. Errors are one line on stderr."""
    return run(PROG, lambda: build_parser().parse_args(argv), _run, stdout=stdout, stderr=stderr)


def _run(args: Any, out: TextIO, err: TextIO) -> int:
    zone = _zone(args.timezone or os.environ.get("CPS_TIMEZONE") or "Europe/Paris")
    client, database = connect_mongo(args.mongo_url, PROG)
    with client, mongo_errors(args.mongo_url):
        db = client[database]
        if args.command == "create":
            return _create(db, args.file, args.author or os.environ.get("USER") or PROG, out)
        if args.command == "list":
            return _list(db, zone, out)
        return _delete(db, args.ids, out, err)


# --- create ----------------------------------------------------------------------------------------


def _create(db: Database[Document], source: str, author: str, out: TextIO) -> int:
    raw = _load(source)
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, dict) for item in items):
        raise UsageError(f"{source}: expected a pbehavior object or a list of them")
    _install_defaults(db)
    types = _by_id_and_name(db[PBEHAVIOR_TYPES].find({}, {"name": 1}))
    reasons = _by_id_and_name(db[PBEHAVIOR_REASONS].find({}, {"name": 1}))
    now = int(time.time())
    documents = [_prepare(item, i, len(items), types, reasons, author, now) for i, item in enumerate(items)]
    ids = [d["_id"] for d in documents]
    if len(set(ids)) != len(ids):
        raise UsageError(f"{source}: the same _id appears twice")
    if existing := sorted(d["_id"] for d in db[PBEHAVIORS].find({"_id": {"$in": ids}}, {"_id": 1})):
        raise UsageError(f"pbehavior {', '.join(map(repr, existing))} already exists (delete it first)")
    try:
        with database_errors():  # inside: it tells a duplicate from an outage
            db[PBEHAVIORS].insert_many(documents, ordered=True)
    except (DuplicateKeyError, BulkWriteError) as exc:  # created meanwhile by someone else
        raise UsageError(f"a pbehavior of this file already exists: {exc.details or exc}") from None
    for document in documents:
        print(f"created {document['_id']} {document['name']!r}", file=out)
    return EXIT_OK


def _load(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if source.endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)  # YAML reads JSON too
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1} column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise UsageError(f"{source}: invalid YAML{at}: {problem}") from None


def _prepare(
    item: Mapping[str, Any],
    index: int,
    count: int,
    types: Mapping[str, str],
    reasons: Mapping[str, str],
    author: str,
    now: int,
) -> Document:
    """The document to insert for one input object: defaults filled, type and reason resolved
    (by id or by name), validated. Raises UsageError naming the item and the field."""
    name = item.get("name")
    where = f"item {index + 1}" if count > 1 else "pbehavior"
    if isinstance(name, str) and name:
        where += f" {name!r}"
    document: Document = {"_id": str(uuid.uuid4()), "author": author, "enabled": True, **item, "created": now}
    if "type" in document and "type_" not in document:
        document["type_"] = document.pop("type")
    document["type_"] = _resolve(document.get("type_"), types, "type", where)
    document["reason"] = _resolve(document.get("reason") or DEFAULT_REASON.name, reasons, "reason", where)
    try:
        return PBehavior.model_validate(document).to_document()
    except ValidationError as exc:
        raise UsageError(f"{where}: {problem_of(exc, limit=1)}") from None


def _resolve(value: Any, known: Mapping[str, str], what: str, where: str) -> str:
    """A type or reason given by id or by name, as its id."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: {what} is required (one of {_names(known)})")
    if value in known:
        return known[value]
    raise UsageError(f"{where}: unknown {what} {value!r} (one of {_names(known)})")


def _by_id_and_name(documents: Any) -> dict[str, str]:
    """id → id and name → id, ids first so an id never loses to another document's name."""
    found = list(documents)
    by_name = {str(d.get("name")): str(d["_id"]) for d in found if d.get("name")}
    return {**by_name, **{str(d["_id"]): str(d["_id"]) for d in found}}


def _names(known: Mapping[str, str]) -> str:
    return ", ".join(sorted(repr(k) for k, v in known.items() if k != v)) or "none defined"


def _install_defaults(db: Database[Document]) -> None:
    for collection, operations in default_upserts(int(time.time())).items():
        for operation in operations:
            try:
                with database_errors():
                    db[collection].bulk_write([operation])
            except BulkWriteError as exc:  # inserted meanwhile by an engine or another run
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise


# --- list and delete -------------------------------------------------------------------------------

COLUMNS: Final = ("id", "name", "type", "tstart", "tstop", "rrule", "enabled")


def _list(db: Database[Document], zone: ZoneInfo, out: TextIO) -> int:
    type_names = {str(d["_id"]): str(d.get("name", d["_id"])) for d in db[PBEHAVIOR_TYPES].find({}, {"name": 1})}
    documents = sorted(db[PBEHAVIORS].find({}), key=lambda d: (_number(d.get("tstart")), str(d.get("_id"))))
    rows = [
        (
            str(d.get("_id")),
            str(d.get("name", "")),
            type_names.get(str(d.get("type_")), str(d.get("type_", ""))),
            _shown_time(d.get("tstart"), zone),
            _shown_time(d.get("tstop"), zone),
            str(d.get("rrule") or "-"),
            "yes" if d.get("enabled", True) else "no",
        )
        for d in documents
    ]
    print("\n".join(table(COLUMNS, rows)), file=out)
    return EXIT_OK


def _delete(db: Database[Document], ids: Sequence[str], out: TextIO, err: TextIO) -> int:
    found = {str(d["_id"]) for d in db[PBEHAVIORS].find({"_id": {"$in": list(ids)}}, {"_id": 1})}
    if found:
        db[PBEHAVIORS].delete_many({"_id": {"$in": sorted(found)}})
    for pbehavior_id in ids:
        if pbehavior_id in found:
            print(f"deleted {pbehavior_id}", file=out)
        else:
            print(f"{PROG}: no pbehavior {pbehavior_id!r}", file=err)
    return EXIT_OK if found >= set(ids) else EXIT_USAGE


def _shown_time(value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return datetime.fromtimestamp(value, zone).isoformat(sep=" ", timespec="minutes")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _zone(name: str) -> ZoneInfo:
    try:
        return time_zone(name)
    except ValueError as exc:
        raise UsageError(f"--timezone: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
