"""engines.pbehavior.transition: the pbh event between the pbehavior an entity carries and the one in force."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import pytest

from engines.model import Entity
from engines.model.pbehavior_info import PbhInfo
from engines.pbehavior.transition import transition

HOUR: Final = 3600
NOW: Final = int(datetime(2026, 3, 2, 9, 1, tzinfo=ZoneInfo("Europe/Paris")).timestamp())


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


MAINTENANCE: Final = PbhInfo(
    timestamp=NOW,
    id="pbh-1",
    name="Upgrade",
    reason="default_reason",
    reason_name="Default",
    type="default_maintenance",
    type_name="Default maintenance",
    canonical_type="maintenance",
    icon_name="build",
    author="alice",
)
PAUSE: Final = MAINTENANCE.model_copy(
    update={"type": "default_pause", "type_name": "Default pause", "canonical_type": "pause"}
)
OTHER: Final = MAINTENANCE.model_copy(update={"id": "pbh-2", "name": "Other"})
CARRIED: Final = {**MAINTENANCE.to_document(), "timestamp": NOW - HOUR}


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        pytest.param(None, None, None, id="none-to-none"),
        pytest.param({}, None, None, id="empty-object-is-none"),
        pytest.param({"id": ""}, None, None, id="empty-id-is-none"),
        pytest.param(None, MAINTENANCE, "pbhenter", id="none-to-some"),
        pytest.param({"id": ""}, MAINTENANCE, "pbhenter", id="empty-id-to-some"),
        pytest.param(CARRIED, None, "pbhleave", id="some-to-none"),
        pytest.param(CARRIED, OTHER, "pbhleaveandenter", id="some-to-other-pbehavior"),
        pytest.param(CARRIED, PAUSE, "pbhleaveandenter", id="some-to-other-type-of-same-pbehavior"),
        pytest.param(CARRIED, MAINTENANCE, None, id="same-despite-other-timestamp"),
        pytest.param(MAINTENANCE, MAINTENANCE, None, id="same-as-model"),
    ],
)
def test_transition_compares_carried_and_in_force(
    current: dict[str, Any] | PbhInfo | None, new: PbhInfo | None, expected: str | None
) -> None:
    event = transition(current, new, entity(), NOW)
    assert (None if event is None else event.event_type) == expected


def test_enter_event_is_a_system_event_about_the_entity_carrying_the_pbehavior() -> None:
    event = transition(None, MAINTENANCE, entity(), NOW)
    assert event is not None
    assert (event.connector, event.connector_name, event.source_type) == ("pbehavior", "pbehavior", "resource")
    assert (event.component, event.resource, event.entity_id) == ("srv01", "disk", "disk/srv01")
    assert (event.author, event.initiator, event.timestamp) == ("system", "system", NOW)
    assert event.output == "Title: Upgrade. Type: Default maintenance. Reason: Default."
    assert event.pbehavior_info == MAINTENANCE.to_document()


def test_leave_event_names_the_pbehavior_left_and_carries_none() -> None:
    event = transition(CARRIED, None, entity(), NOW)
    assert event is not None
    assert event.output == "Title: Upgrade. Type: Default maintenance. Reason: Default."
    assert "pbehavior_info" not in json.loads(event.to_json())


def test_leave_and_enter_names_the_pbehavior_entered() -> None:
    event = transition(CARRIED, OTHER, entity(), NOW)
    assert event is not None and event.output.startswith("Title: Other.")
    assert event.pbehavior_info == OTHER.to_document()


@pytest.mark.parametrize(
    ("document", "identity"),
    [
        pytest.param(
            {"_id": "disk_//srv01", "name": "disk_/", "type": "resource", "component": "srv01"},
            ("resource", "pbehavior", "pbehavior", "srv01", "disk_/"),
            id="resource-with-slash",
        ),
        pytest.param(
            {"_id": "srv01", "name": "srv01", "type": "component", "component": "srv01"},
            ("component", "pbehavior", "pbehavior", "srv01", None),
            id="component",
        ),
        pytest.param(
            {"_id": "svc-web", "name": "Web", "type": "service"},
            ("service", "pbehavior", "pbehavior", "svc-web", None),
            id="service",
        ),
        pytest.param(
            {"_id": "centreon/centreon-1", "name": "centreon-1", "type": "connector"},
            ("connector", "centreon", "centreon-1", None, None),
            id="connector",
        ),
    ],
)
def test_event_identity_routes_to_the_entity(document: dict[str, Any], identity: tuple[Any, ...]) -> None:
    ent = Entity.model_validate({**document, "created": 0})
    event = transition(None, MAINTENANCE, ent, NOW)
    assert event is not None
    found = (event.source_type.value, event.connector, event.connector_name, event.component, event.resource)
    assert found == identity
    assert event.entity_id == ent.id
