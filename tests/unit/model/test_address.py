"""engines.model.address: the event address of each entity type, for each engine that sends one."""

from __future__ import annotations

from typing import Any, Final

import pytest

from engines.model import Entity, Event
from engines.model.address import SYSTEM_CONNECTOR, EventAddress, entity_connector, event_address
from engines.model.alarm import AlarmValue

NOW: Final = 1_700_000_000

RESOURCE: Final = {
    "_id": "disk/srv01",
    "name": "disk",
    "type": "resource",
    "component": "srv01",
    "connector": "centreon/centreon-1",
}
COMPONENT: Final = {
    "_id": "srv01",
    "name": "srv01",
    "type": "component",
    "component": "srv01",
    "connector": "centreon/centreon-1",
}
SERVICE: Final = {"_id": "svc-1", "name": "Web", "type": "service"}
CONNECTOR: Final = {"_id": "centreon/centreon-1", "name": "centreon-1", "type": "connector"}
#: A connector whose own name holds a "/": its id still ends with "/<connector_name>".
SLASHED_CONNECTOR: Final = {"_id": "a/b/c", "name": "c", "type": "connector"}


def entity(document: dict[str, Any], **changes: Any) -> Entity:
    return Entity.model_validate({**document, "created": 0, **changes})


def as_tuple(found: EventAddress) -> tuple[str | None, ...]:
    return found.connector, found.connector_name, found.source_type.value, found.component, found.resource


@pytest.mark.parametrize(
    ("document", "changes", "keep", "expected"),
    [
        pytest.param(
            RESOURCE,
            {},
            True,
            ("centreon", "centreon-1", "resource", "srv01", "disk"),
            id="resource-keeps-its-connector",
        ),
        pytest.param(
            RESOURCE,
            {"connector": None},
            True,
            ("axe", "axe", "resource", "srv01", "disk"),
            id="resource-without-connector",
        ),
        pytest.param(RESOURCE, {}, False, ("axe", "axe", "resource", "srv01", "disk"), id="resource-default-connector"),
        pytest.param(
            COMPONENT,
            {},
            True,
            ("centreon", "centreon-1", "component", "srv01", None),
            id="component-keeps-its-connector",
        ),
        pytest.param(
            COMPONENT, {}, False, ("axe", "axe", "component", "srv01", None), id="component-default-connector"
        ),
        pytest.param(
            SERVICE,
            {"connector": "x/y"},
            True,
            ("axe", "axe", "service", "svc-1", None),
            id="service-by-id-never-its-connector",
        ),
        pytest.param(
            CONNECTOR, {}, True, ("centreon", "centreon-1", "connector", None, None), id="connector-by-its-id"
        ),
        pytest.param(
            CONNECTOR,
            {},
            False,
            ("centreon", "centreon-1", "connector", None, None),
            id="connector-by-its-id-whatever-the-default",
        ),
        pytest.param(
            SLASHED_CONNECTOR,
            {},
            True,
            ("a/b", "c", "connector", None, None),
            id="connector-with-slash-in-its-connector",
        ),
    ],
)
def test_each_entity_type_gets_the_address_that_routes_back_to_it(
    document: dict[str, Any], changes: dict[str, Any], keep: bool, expected: tuple[str | None, ...]
) -> None:
    subject = entity(document, **changes)

    found = event_address(subject, "axe", keep_entity_connector=keep)

    assert as_tuple(found) == expected
    event = Event.model_validate({**found.fields(), "event_type": "check", "state": 0}, context={"now": NOW})
    assert event.entity_id == subject.id


def recorded(**fields: str) -> AlarmValue:
    step = {"_t": "stateinc", "t": NOW, "val": 2}
    return AlarmValue.model_validate(
        {"state": step, "status": step, "creation_date": NOW, "last_update_date": NOW, **fields}
    )


@pytest.mark.parametrize(
    ("subject", "value", "expected"),
    [
        pytest.param(
            entity(RESOURCE),
            recorded(connector="nagios", connector_name="n1", component="srv01", resource="disk"),
            ("nagios", "n1", "resource", "srv01", "disk"),
            id="what-the-alarm-recorded-wins",
        ),
        pytest.param(
            entity(SERVICE),
            recorded(connector="svc", connector_name="svc", component="svc-1"),
            ("svc", "svc", "service", "svc-1", None),
            id="service-type-from-the-entity",
        ),
        pytest.param(
            None,
            recorded(connector="nagios", connector_name="n1", component="srv01", resource="disk"),
            ("nagios", "n1", "resource", "srv01", "disk"),
            id="no-entity-resource",
        ),
        pytest.param(
            None,
            recorded(connector="nagios", connector_name="n1", component="srv01"),
            ("nagios", "n1", "component", "srv01", None),
            id="no-entity-component",
        ),
        pytest.param(
            None,
            recorded(component="srv01"),
            (SYSTEM_CONNECTOR, SYSTEM_CONNECTOR, "component", "srv01", None),
            id="no-connector-recorded",
        ),
        pytest.param(
            None,
            recorded(connector="c", connector_name="n"),
            ("c", "n", "connector", None, None),
            id="no-entity-connector",
        ),
    ],
)
def test_an_alarm_is_addressed_by_what_it_recorded_and_typed_by_its_entity(
    subject: Entity | None, value: AlarmValue, expected: tuple[str | None, ...]
) -> None:
    found = event_address(subject, SYSTEM_CONNECTOR, keep_entity_connector=False, recorded=value)
    assert as_tuple(found) == expected


def test_fields_leave_out_what_is_empty() -> None:
    found = EventAddress("c", "n", event_address(entity(COMPONENT), "x").source_type, "srv01", "")
    assert found.fields() == {"connector": "c", "connector_name": "n", "source_type": "component", "component": "srv01"}


@pytest.mark.parametrize(
    ("connector", "expected"),
    [("centreon/centreon-1", ("centreon", "centreon-1")), ("a/b/c", ("a", "b/c")), (None, None), ("", None)],
)
def test_entity_connector_splits_at_the_first_slash(connector: str | None, expected: tuple[str, str] | None) -> None:
    assert entity_connector(entity(RESOURCE, connector=connector)) == expected
