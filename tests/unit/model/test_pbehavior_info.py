"""engines.model.pbehavior_info: reading a stored `pbehavior_info`, and what callers ask of it."""

from __future__ import annotations

from typing import Any, Final

import pytest

from engines.model.pbehavior_info import PbhInfo, in_pbehavior, is_pbehavior_inactive

STORED: Final = {
    "timestamp": 100,
    "id": "pbh-1",
    "name": "Upgrade",
    "reason": "r",
    "reason_name": "Default",
    "type": "default_maintenance",
    "type_name": "Default maintenance",
    "canonical_type": "maintenance",
    "icon_name": "build",
    "color": "#BF360C",
    "author": "alice",
}


def test_a_complete_document_reads_back_to_itself() -> None:
    info = PbhInfo.read(STORED)
    assert info is not None and info.to_document() == STORED


@pytest.mark.parametrize("document", [None, {}, {"id": ""}, {"id": None, "name": "x"}])
def test_no_id_means_no_pbehavior(document: dict[str, Any] | None) -> None:
    assert PbhInfo.read(document) is None
    assert not in_pbehavior(document)
    assert not is_pbehavior_inactive(document)


def test_values_of_the_wrong_type_read_as_absent() -> None:
    info = PbhInfo.read({"id": "p", "canonical_type": None, "timestamp": 1.5, "name": 3})
    assert info is not None
    assert (info.canonical_type, info.timestamp, info.name) == ("", None, "")


@pytest.mark.parametrize(
    ("canonical_type", "inactive"),
    [("maintenance", True), ("pause", True), ("inactive", True), ("active", False), ("", False), (None, False)],
)
def test_inactive_is_any_canonical_type_but_active(canonical_type: str | None, inactive: bool) -> None:
    assert is_pbehavior_inactive({"id": "p", "canonical_type": canonical_type}) is inactive


def test_the_same_pbehavior_is_the_same_id_and_type_whatever_the_timestamp() -> None:
    info = PbhInfo.read(STORED)
    assert info is not None
    assert info.same_as(PbhInfo.read({**STORED, "timestamp": 999}))
    assert not info.same_as(PbhInfo.read({**STORED, "type": "default_pause"}))
    assert not info.same_as(PbhInfo.read({**STORED, "id": "pbh-2"}))
    assert not info.same_as(None)


def test_message_names_title_type_and_reason() -> None:
    info = PbhInfo.read(STORED)
    assert info is not None and info.message == "Title: Upgrade. Type: Default maintenance. Reason: Default."
    assert PbhInfo(id="p").message == "Title: . Type: . Reason: ."
