"""engines.che.context: which entities che reads, creates and bumps for an event, and truncation."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from engines.che.context import (
    LONG_OUTPUT_LENGTH,
    OUTPUT_LENGTH,
    ContextResult,
    apply_context,
    entity_ids,
    record_pbehavior,
    truncate_outputs,
)
from engines.model import Entity, EntityInfo, Event

NOW: Final = 1_764_358_800
OLD: Final = NOW - 3600
CONNECTOR: Final = "centreon/centreon-1"
COMPONENT: Final = "srv01"
RESOURCE: Final = "disk_//srv01"
SERVICE: Final = "svc-web"
ABSENT: Final = object()

BASE: Final[dict[str, Any]] = {
    "event_type": "check",
    "source_type": "resource",
    "connector": "centreon",
    "connector_name": "centreon-1",
    "component": "srv01",
    "resource": "disk_/",
    "state": 2,
    "output": "Disk 95%",
}


def event(**changes: Any) -> Event:
    """BASE with `changes`; a value of ABSENT removes the key."""
    document = {k: v for k, v in {**BASE, **changes}.items() if v is not ABSENT}
    return Event.model_validate(document, context={"now": NOW})


def component_event(**changes: Any) -> Event:
    return event(source_type="component", resource=ABSENT, **changes)


def stored(entity_id: str, **fields: Any) -> Entity:
    """An entity as read from `default_entities`, last seen at OLD."""
    kind = {CONNECTOR: "connector", COMPONENT: "component", RESOURCE: "resource"}.get(entity_id, "service")
    document = {
        "_id": entity_id,
        "name": entity_id,
        "type": kind,
        "created": OLD - 10,
        "enable_history": [OLD - 10],
        "last_event_date": OLD,
    }
    if kind in ("component", "resource"):
        document |= {"connector": CONNECTOR, "component": COMPONENT}
    return Entity.model_validate(document | fields)


def known(*entities: Entity) -> dict[str, Entity]:
    return {entity.id: entity for entity in entities}


def bumped(result: ContextResult) -> list[str]:
    """Ids written without being created, in write order."""
    return [e.id for e in result.upserts if e.id not in result.created]


# --- entity_ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "message", "own", "load"),
    [
        ("resource check", event(), RESOURCE, (RESOURCE, COMPONENT, CONNECTOR)),
        ("resource ack", event(event_type="ack"), RESOURCE, (RESOURCE,)),
        ("component check", component_event(), COMPONENT, (COMPONENT, CONNECTOR)),
        ("system component check", component_event(initiator="system"), COMPONENT, (COMPONENT,)),
        ("connector check", event(source_type="connector", component=ABSENT, resource=ABSENT), CONNECTOR, (CONNECTOR,)),
        ("connector event naming a resource", event(source_type="connector"), CONNECTOR, (CONNECTOR,)),
        ("service check", event(source_type="service", component=SERVICE, resource=ABSENT), SERVICE, (SERVICE,)),
        ("metaalarm", event(source_type="metaalarm", resource=ABSENT), None, ()),
    ],
)
def test_entity_ids_name_own_entity_and_batch_to_load(
    scenario: str, message: Event, own: str | None, load: tuple[str, ...]
) -> None:
    ids = entity_ids(message)
    assert (ids.own, ids.load) == (own, load), scenario
    assert ids.connector == CONNECTOR


def test_entity_ids_of_resource_event_split_component_and_resource() -> None:
    ids = entity_ids(event())
    assert (ids.component, ids.resource) == (COMPONENT, RESOURCE)


# --- resource check: creation and bumps ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "present", "created", "touched"),
    [
        ("nothing known", (), [CONNECTOR, COMPONENT, RESOURCE], []),
        ("connector known", (CONNECTOR,), [COMPONENT, RESOURCE], [CONNECTOR]),
        ("connector and component known", (CONNECTOR, COMPONENT), [RESOURCE], [CONNECTOR]),
        ("component known, connector missing", (COMPONENT,), [CONNECTOR, RESOURCE], []),
        ("all known", (CONNECTOR, COMPONENT, RESOURCE), [], [CONNECTOR, RESOURCE]),
        ("resource known, parents missing", (RESOURCE,), [CONNECTOR, COMPONENT], [RESOURCE]),
    ],
)
def test_resource_check_creates_missing_entities_and_bumps_the_others(
    scenario: str, present: tuple[str, ...], created: list[str], touched: list[str]
) -> None:
    result = apply_context(event(), known(*(stored(i) for i in present)), NOW)
    assert result.error is None, scenario
    assert list(result.created) == created
    assert bumped(result) == touched
    assert result.upserts[-1].id == RESOURCE
    assert all(e.last_event_date == NOW for e in result.upserts)
    assert result.entity is not None and result.entity.id == RESOURCE


def test_resource_check_writes_parents_before_the_resource() -> None:
    result = apply_context(event(), {}, NOW)
    assert [e.type for e in result.upserts] == ["connector", "component", "resource"]


def test_new_entities_get_canopsis_defaults() -> None:
    upserts = apply_context(event(), {}, NOW).upserts
    connector, component, resource = (e.to_document() for e in upserts)
    defaults = {
        "enabled": True,
        "enable_history": [NOW],
        "created": NOW,
        "last_event_date": NOW,
        "infos": {},
        "impact_level": 1,
    }
    assert connector.items() >= ({"_id": CONNECTOR, "name": "centreon-1", "type": "connector"} | defaults).items()
    assert "connector" not in connector and "updated" not in connector
    assert (
        component.items()
        >= (
            {"_id": COMPONENT, "name": COMPONENT, "type": "component", "connector": CONNECTOR, "component": COMPONENT}
            | defaults
        ).items()
    )
    assert (
        resource.items()
        >= (
            {
                "_id": RESOURCE,
                "name": "disk_/",
                "type": "resource",
                "connector": CONNECTOR,
                "component": COMPONENT,
                "component_infos": {},
            }
            | defaults
        ).items()
    )


def test_new_resource_copies_its_component_infos() -> None:
    component = stored(COMPONENT, infos={"site": {"name": "site", "value": "paris"}})
    result = apply_context(event(), known(component), NOW)
    assert result.entity is not None
    assert result.entity.component_infos == {"site": EntityInfo(name="site", value="paris")}
    result.entity.component_infos["site"].value = "lyon"
    assert component.infos["site"].value == "paris"


def test_existing_component_is_not_touched_by_resource_events() -> None:
    result = apply_context(event(), known(stored(CONNECTOR), stored(COMPONENT)), NOW)
    assert COMPONENT not in [e.id for e in result.upserts]


def test_existing_resource_keeps_its_fields_and_only_gets_last_event_date() -> None:
    resource = stored(RESOURCE, infos={"os": {"name": "os", "value": "linux"}}, services=["s1"])
    result = apply_context(event(), known(stored(CONNECTOR), stored(COMPONENT), resource), NOW)
    assert result.entity is not None
    assert result.entity.to_document() == resource.to_document() | {"last_event_date": NOW}
    assert resource.last_event_date == OLD  # `known` is never mutated


@pytest.mark.parametrize(
    ("scenario", "present", "created"),
    [
        ("new connector missing", (), [CONNECTOR]),
        ("new connector exists", (CONNECTOR,), []),
    ],
)
def test_resource_whose_connector_changed_is_repointed(
    scenario: str, present: tuple[str, ...], created: list[str]
) -> None:
    resource = stored(RESOURCE, connector="nagios/old")
    entities = known(resource, stored(COMPONENT), *(stored(i) for i in present))
    result = apply_context(event(), entities, NOW)
    assert list(result.created) == created, scenario
    assert result.repointed == (RESOURCE,) and result.changed
    assert result.entity is not None and result.entity.connector == CONNECTOR


def test_soft_deleted_resource_is_attached_and_nothing_is_written() -> None:
    resource = stored(RESOURCE, soft_deleted=OLD)
    result = apply_context(event(), known(stored(CONNECTOR), stored(COMPONENT), resource), NOW)
    assert result == ContextResult(entity=resource)


def test_soft_deleted_connector_is_not_bumped() -> None:
    entities = known(stored(CONNECTOR, soft_deleted=OLD), stored(COMPONENT), stored(RESOURCE))
    result = apply_context(event(), entities, NOW)
    assert bumped(result) == [RESOURCE] and not result.created


def test_disabled_resource_is_bumped_and_attached_still_disabled() -> None:
    resource = stored(RESOURCE, enabled=False)
    result = apply_context(event(), known(stored(CONNECTOR), stored(COMPONENT), resource), NOW)
    assert result.entity is not None
    assert (result.entity.enabled, result.entity.last_event_date) == (False, NOW)


def test_unchanged_context_is_not_a_change() -> None:
    entities = known(stored(CONNECTOR), stored(COMPONENT), stored(RESOURCE))
    result = apply_context(event(), entities, NOW)
    assert not result.changed and result.upserts


# --- component, connector and service events -----------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "present", "created", "touched"),
    [
        ("nothing known", (), [CONNECTOR, COMPONENT], []),
        ("connector known", (CONNECTOR,), [COMPONENT], [CONNECTOR]),
        ("all known", (CONNECTOR, COMPONENT), [], [CONNECTOR, COMPONENT]),
    ],
)
def test_component_check_creates_connector_and_component(
    scenario: str, present: tuple[str, ...], created: list[str], touched: list[str]
) -> None:
    result = apply_context(component_event(), known(*(stored(i) for i in present)), NOW)
    assert (list(result.created), bumped(result)) == (created, touched), scenario
    assert result.entity is not None and result.entity.type == "component"


def test_system_component_check_loads_an_existing_component_without_writing() -> None:
    component = stored(COMPONENT)
    result = apply_context(component_event(initiator="system"), known(component), NOW)
    assert result == ContextResult(entity=component)


@pytest.mark.parametrize(
    ("scenario", "message", "error"),
    [
        (
            "system component check",
            component_event(initiator="system"),
            "component srv01 does not exist (component events sent by engines (initiator system) never create it)",
        ),
        (
            "connector check",
            event(source_type="connector", component=ABSENT, resource=ABSENT),
            "connector centreon/centreon-1 does not exist (connectors are created by resource and "
            "component check events)",
        ),
        (
            "service check",
            event(source_type="service", component=SERVICE, resource=ABSENT),
            "service svc-web does not exist (services are created through the API)",
        ),
        (
            "resource ack",
            event(event_type="ack"),
            "resource disk_//srv01 does not exist (only a check event creates it)",
        ),
        (
            "component snooze",
            component_event(event_type="snooze", duration=60),
            "component srv01 does not exist (only a check event not sent by an engine creates it)",
        ),
    ],
)
def test_event_that_cannot_create_its_missing_entity_is_an_error(scenario: str, message: Event, error: str) -> None:
    assert apply_context(message, {}, NOW) == ContextResult(error=error), scenario


@pytest.mark.parametrize(
    ("scenario", "message", "entity_id"),
    [
        ("connector", event(source_type="connector", component=ABSENT, resource=ABSENT), CONNECTOR),
        ("service", event(source_type="service", component=SERVICE, resource=ABSENT), SERVICE),
    ],
)
def test_connector_and_service_checks_bump_their_existing_entity(scenario: str, message: Event, entity_id: str) -> None:
    result = apply_context(message, known(stored(entity_id)), NOW)
    assert result.entity is not None and result.entity.last_event_date == NOW, scenario
    assert result.upserts == (result.entity,) and not result.created


def test_soft_deleted_service_is_attached_without_bump() -> None:
    service = stored(SERVICE, soft_deleted=OLD)
    message = event(source_type="service", component=SERVICE, resource=ABSENT)
    assert apply_context(message, known(service), NOW) == ContextResult(entity=service)


@pytest.mark.parametrize(
    "message",
    [
        event(event_type="ack"),
        event(event_type="resolve_deleted"),
        component_event(event_type="cancel"),
        event(event_type="ack", source_type="service", component=SERVICE, resource=ABSENT),
        event(event_type="ack", source_type="connector", component=ABSENT, resource=ABSENT),
    ],
    ids=["resource ack", "resource resolve_deleted", "component cancel", "service ack", "connector ack"],
)
def test_non_check_event_only_loads_its_existing_entity(message: Event) -> None:
    entity = stored(entity_ids(message).own or "")
    assert apply_context(message, known(entity), NOW) == ContextResult(entity=entity)


def test_metaalarm_event_passes_through_without_entity() -> None:
    message = event(source_type="metaalarm", resource=ABSENT)
    assert apply_context(message, {}, NOW) == ContextResult()


# --- pbehavior events: the entity records its pbehavior_info -------------------------------------

MAINTENANCE: Final[dict[str, Any]] = {
    "timestamp": NOW - 60,
    "id": "pbh-1",
    "name": "Upgrade",
    "reason": "r",
    "reason_name": "Default",
    "type": "default_maintenance",
    "type_name": "Default maintenance",
    "canonical_type": "maintenance",
    "icon_name": "build",
    "color": "",
    "author": "alice",
}
PAUSE: Final[dict[str, Any]] = {
    **MAINTENANCE,
    "id": "pbh-2",
    "type": "default_pause",
    "canonical_type": "pause",
    "timestamp": NOW - 30,
}


def pbh_event(event_type: str, info: dict[str, Any] | None = None, **identity: Any) -> Event:
    fields: dict[str, Any] = {
        "connector": "pbehavior",
        "connector_name": "pbehavior",
        "initiator": "system",
        "author": "system",
        "state": ABSENT,
        **identity,
    }
    if info is not None:
        fields["pbehavior_info"] = info
    return event(event_type=event_type, **fields)


@pytest.mark.parametrize(
    ("carried", "message", "recorded"),
    [
        pytest.param(None, pbh_event("pbhenter", MAINTENANCE), MAINTENANCE, id="enter-sets"),
        pytest.param({"id": ""}, pbh_event("pbhenter", MAINTENANCE), MAINTENANCE, id="enter-over-empty-id"),
        pytest.param(MAINTENANCE, pbh_event("pbhleave"), None, id="leave-removes"),
        pytest.param(MAINTENANCE, pbh_event("pbhleaveandenter", PAUSE), PAUSE, id="leave-and-enter-replaces"),
    ],
)
def test_pbehavior_event_records_the_pbehavior_on_the_entity(
    carried: dict[str, Any] | None, message: Event, recorded: dict[str, Any] | None
) -> None:
    entity = stored(RESOURCE, pbehavior_info=carried)
    result = apply_context(message, known(entity), NOW)
    assert result.entity is not None and result.upserts == (result.entity,)
    assert result.entity.pbehavior_info == recorded
    assert not result.created and result.entity.last_event_date == OLD  # not an event from the entity


def test_pbhenter_stamps_last_pbehavior_date_and_leave_keeps_it() -> None:
    entered = apply_context(pbh_event("pbhenter", MAINTENANCE), known(stored(RESOURCE)), NOW).entity
    assert entered is not None and entered.to_document()["last_pbehavior_date"] == NOW - 60
    left = apply_context(pbh_event("pbhleave"), known(entered), NOW).entity
    assert left is not None and "pbehavior_info" not in left.to_document()
    assert left.to_document()["last_pbehavior_date"] == NOW - 60


@pytest.mark.parametrize(
    ("carried", "message"),
    [
        pytest.param(MAINTENANCE, pbh_event("pbhenter", PAUSE), id="enter-while-in-one"),
        pytest.param(None, pbh_event("pbhenter"), id="enter-without-info"),
        pytest.param(None, pbh_event("pbhleave"), id="leave-while-in-none"),
        pytest.param(None, pbh_event("pbhleaveandenter", PAUSE), id="leave-and-enter-while-in-none"),
        pytest.param(
            MAINTENANCE,
            pbh_event("pbhleaveandenter", {**MAINTENANCE, "timestamp": NOW}),
            id="leave-and-enter-same-pbehavior",
        ),
        pytest.param(MAINTENANCE, pbh_event("pbhleave", PAUSE), id="leave-carrying-info"),
    ],
)
def test_stale_or_repeated_pbehavior_event_changes_nothing(carried: dict[str, Any] | None, message: Event) -> None:
    entity = stored(RESOURCE, pbehavior_info=carried)
    assert record_pbehavior(entity, message) is None
    assert apply_context(message, known(entity), NOW) == ContextResult(entity=entity)


def test_pbehavior_event_for_missing_entity_is_an_error() -> None:
    result = apply_context(pbh_event("pbhenter", MAINTENANCE), {}, NOW)
    assert result.error == f"resource {RESOURCE} does not exist (only a check event creates it)"


def test_soft_deleted_entity_does_not_record_pbehavior() -> None:
    entity = stored(RESOURCE, soft_deleted=OLD)
    assert apply_context(pbh_event("pbhenter", MAINTENANCE), known(entity), NOW) == ContextResult(entity=entity)


@pytest.mark.parametrize(
    ("identity", "entity_id"),
    [
        pytest.param({"source_type": "component", "resource": ABSENT}, COMPONENT, id="component"),
        pytest.param({"source_type": "service", "component": SERVICE, "resource": ABSENT}, SERVICE, id="service"),
        pytest.param(
            {
                "source_type": "connector",
                "connector": "centreon",
                "connector_name": "centreon-1",
                "component": ABSENT,
                "resource": ABSENT,
            },
            CONNECTOR,
            id="connector",
        ),
    ],
)
def test_pbehavior_event_records_on_any_kind_of_entity(identity: dict[str, Any], entity_id: str) -> None:
    result = apply_context(pbh_event("pbhenter", MAINTENANCE, **identity), known(stored(entity_id)), NOW)
    assert result.entity is not None and result.entity.id == entity_id
    assert result.entity.pbehavior_info == MAINTENANCE


# --- truncate_outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initiator", "output", "long_output", "expected"),
    [
        ("external", 255, 1024, (255, 1024)),
        ("external", 256, 1025, (255, 1024)),
        ("external", 1000, 10, (255, 10)),
        ("external", 0, 5000, (0, 1024)),
        ("user", 300, 2000, (300, 2000)),
        ("system", 300, 2000, (300, 2000)),
    ],
)
def test_external_outputs_are_cut_to_255_and_1024_characters(
    initiator: str, output: int, long_output: int, expected: tuple[int, int]
) -> None:
    message = event(initiator=initiator, output="o" * output, long_output="l" * long_output)
    cut = truncate_outputs(message)
    assert (len(cut.output or ""), len(cut.long_output or "")) == expected


def test_truncation_counts_characters_not_bytes() -> None:
    cut = truncate_outputs(event(output="é" * 300))
    assert cut.output == "é" * OUTPUT_LENGTH
    assert json.loads(cut.to_json())["output"] == "é" * OUTPUT_LENGTH


def test_truncation_leaves_the_event_alone_when_nothing_is_too_long() -> None:
    message = event(long_output="x" * LONG_OUTPUT_LENGTH)
    assert truncate_outputs(message) is message
    assert truncate_outputs(event(output=ABSENT)).output is None


def test_truncation_limit_below_one_means_no_limit() -> None:
    cut = truncate_outputs(event(output="x" * 300), output_length=0, long_output_length=2)
    assert cut.output == "x" * 300
