"""engines.che.eventfilter: rule loading, ordering, windows, outcomes, actions, change_entity."""

from __future__ import annotations

import re
from typing import Any, Final

import pytest

from engines.che.eventfilter import FilterResult, RuleSet, apply_rules, load_rules
from engines.model import Entity, EntityInfo, Event, SourceType, State

NOW: Final = 1_764_358_800
ON_SRV01: Final = [[{"field": "component", "cond": {"type": "eq", "value": "srv01"}}]]
LOAD: Final = [[{"field": "output", "cond": {"type": "regexp", "value": r"load=(?P<load>\d+)"}}]]


def make_event(**changes: Any) -> Event:
    document = {
        "event_type": "check",
        "source_type": "resource",
        "connector": "centreon",
        "connector_name": "centreon-1",
        "component": "srv01",
        "resource": "cpu",
        "state": 1,
        "output": "load=97",
        "timestamp": NOW,
        "site": "paris",
        **changes,
    }
    return Event.model_validate(document, context={"now": NOW})


def make_entity(**changes: Any) -> Entity:
    document = {
        "_id": "cpu/srv01",
        "name": "cpu",
        "type": "resource",
        "created": NOW,
        "infos": {"env": {"name": "env", "description": "", "value": "prod"}},
        **changes,
    }
    return Entity.model_validate(document)


def rule(rule_id: str, kind: str = "enrichment", **fields: Any) -> dict[str, Any]:
    """An eventfilter document on srv01; enrichment rules default to pass/pass."""
    document: dict[str, Any] = {"_id": rule_id, "type": kind, "event_pattern": ON_SRV01, **fields}
    if kind == "enrichment":
        document["config"] = {"on_success": "pass", "on_failure": "pass", **document.get("config", {})}
    return document


def action(kind: str, name: str, value: Any, **more: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "value": value, **more}


def enrich(rule_id: str, *actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    config = {"actions": list(actions), **fields.pop("config", {})}
    return rule(rule_id, config=config, **fields)


def rules_of(*documents: dict[str, Any]) -> RuleSet:
    loaded, problems = load_rules(documents)
    assert problems == []
    return loaded


def run(
    *documents: dict[str, Any], event: Event | None = None, entity: Entity | None = None, now: int = NOW
) -> FilterResult:
    return apply_rules(rules_of(*documents), event or make_event(), entity, now)


# --- loading and ordering ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priorities", "expected"),
    [
        ({"a": 0, "b": 0, "c": 0}, ["a", "b", "c"]),
        ({"a": 3, "b": 1, "c": 2}, ["b", "c", "a"]),
        ({"a": 0, "b": 5, "c": -1}, ["b", "c", "a"]),  # priority > 0 first, then ascending
        ({"z": 1, "a": 1, "m": 0}, ["a", "z", "m"]),  # ties by _id
        ({"x": -2, "y": 0, "w": 0}, ["x", "w", "y"]),
    ],
)
def test_rules_are_ordered_positive_priority_first_then_priority_then_id(
    priorities: dict[str, int], expected: list[str]
) -> None:
    documents = [rule(i, "break", priority=p) for i, p in priorities.items()]
    assert [r.id for r in rules_of(*documents).rules] == expected


@pytest.mark.parametrize(("enabled", "loaded"), [(True, True), (False, False), (None, True)])
def test_only_enabled_rules_are_loaded(enabled: bool | None, loaded: bool) -> None:
    document = rule("r", "break")
    if enabled is not None:
        document["enabled"] = enabled
    assert [r.id for r in rules_of(document).rules] == (["r"] if loaded else [])


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"type": "drop", "event_pattern": ON_SRV01}, "_id must be a non-empty string"),
        (rule("r", "delete"), "type 'delete' is not one of"),
        (rule("r", "drop", priority="high"), "priority must be an integer"),
        (rule("r", "drop", enabled="yes"), "enabled must be true or false"),
        ({"_id": "r", "type": "drop"}, "needs an event_pattern or an entity_pattern"),
        (rule("r", "drop", event_pattern={"component": "srv01"}), "event_pattern: must be a list"),
        (
            rule("r", "drop", entity_pattern=[[{"field": "name", "cond": {"type": "bad"}}]]),
            r"entity_pattern\[0\]\[0\] \(field name\): unknown condition type 'bad'",
        ),
        (rule("r", "change_entity"), "change_entity needs config.resource"),
        (rule("r", "change_entity", config={"component": "{{ .Event.Nope"}), "unclosed action"),
        (rule("r", config={"actions": []}), "enrichment needs a non-empty config.actions"),
        (enrich("r", action("rename", "Output", "x")), r"config.actions\[0\]: type 'rename' is not one of set_field"),
        (enrich("r", action("set_field", "", "x")), "name must be a non-empty string"),
        (enrich("r", action("set_field_from_template", "Output", "{{ lower .x }}")), "function 'lower' not defined"),
        (enrich("r", action("copy", "Output", 3)), "value must be a path"),
        (enrich("r", action("set_entity_info", "x", 1.5)), "is not a string, whole number"),
        (
            enrich("r", action("set_field", "Output", "x"), config={"on_success": "stop"}),
            "config.on_success 'stop' is not one of pass, break, drop",
        ),
        (rule("r", "drop", start=NOW, stop=NOW - 1), "start .* must be before stop"),
        (rule("r", "drop", start=NOW), "stop must be unix seconds, got None"),
        (rule("r", "drop", exdates=[1]), r"exdates\[0\] must be an object"),
    ],
)
def test_invalid_rule_is_skipped_with_message_naming_rule_and_problem(document: dict[str, Any], problem: str) -> None:
    good = rule("good", "break")
    loaded, problems = load_rules([document, good])
    assert [r.id for r in loaded.rules] == ["good"]
    assert len(problems) == 1
    assert problems[0].startswith(f"eventfilter rule {document.get('_id')!r} skipped: ")
    assert re.search(problem, problems[0])


@pytest.mark.parametrize(
    ("document", "warning"),
    [
        (
            {
                "_id": "r",
                "type": "enrichment",
                "event_pattern": ON_SRV01,
                "config": {"actions": [action("set_field", "Output", "x")]},
            },
            "config.on_success missing: 'pass' assumed",
        ),
        (rule("r", "drop", start=NOW, stop=NOW + 60, rrule="FREQ=DAILY"), "rrule .* not expanded"),
        (rule("r", "drop", external_data={"cmdb": {"type": "mongo"}}), "external_data"),
        (
            rule("r", "change_entity", entity_pattern=ON_SRV01, config={"component": "x"}),
            "change_entity with an entity_pattern",
        ),
    ],
)
def test_usable_rule_with_oddity_is_kept_with_a_warning(document: dict[str, Any], warning: str) -> None:
    loaded, problems = load_rules([document])
    assert [r.id for r in loaded.rules] == ["r"]
    assert problems and all(p.startswith("eventfilter rule 'r': ") for p in problems)
    assert re.search(warning, problems[0])


# --- windows, matching, outcomes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "active"),
    [
        ({}, True),
        ({"start": NOW - 10, "stop": NOW + 10}, True),
        ({"start": NOW, "stop": NOW + 10}, True),  # bounds included, as Go's Before/After
        ({"start": NOW - 10, "stop": NOW}, True),
        ({"start": NOW + 1, "stop": NOW + 10}, False),
        ({"start": NOW - 10, "stop": NOW - 1}, False),
        ({"start": NOW - 10, "stop": NOW + 10, "exdates": [{"begin": NOW - 1, "end": NOW + 1}]}, False),
        (
            {"start": NOW - 10, "stop": NOW + 10, "exdates": [{"begin": NOW, "end": NOW + 1}]},
            True,
        ),  # exdate bounds excluded
        (
            {
                "resolved_start": NOW - 90,
                "resolved_stop": NOW - 60,
                "start": 0,
                "stop": 1,
                "next_resolved_start": NOW - 5,
                "next_resolved_stop": NOW + 5,
            },
            True,
        ),
        ({"resolved_start": NOW - 90, "resolved_stop": NOW - 60}, False),
    ],
)
def test_rule_applies_only_inside_its_window(schedule: dict[str, Any], active: bool) -> None:
    loaded, _ = load_rules([rule("r", "drop", **schedule)])
    result = apply_rules(loaded, make_event(), None, NOW)
    assert result.outcome == ("drop" if active else "pass")


@pytest.mark.parametrize(
    ("patterns", "entity", "matches"),
    [
        ({"event_pattern": ON_SRV01}, None, True),
        ({"event_pattern": [[{"field": "component", "cond": {"type": "eq", "value": "x"}}]]}, None, False),
        (
            {
                "event_pattern": None,
                "entity_pattern": [
                    [{"field": "infos.env", "field_type": "string", "cond": {"type": "eq", "value": "prod"}}]
                ],
            },
            make_entity(),
            True,
        ),
        (
            {"event_pattern": None, "entity_pattern": [[{"field": "name", "cond": {"type": "eq", "value": "cpu"}}]]},
            None,
            False,
        ),  # no entity: entity pattern misses
        (
            {
                "event_pattern": ON_SRV01,
                "entity_pattern": [[{"field": "name", "cond": {"type": "eq", "value": "mem"}}]],
            },
            make_entity(),
            False,
        ),
        (
            {
                "event_pattern": [
                    [{"field": "extra.site", "field_type": "string", "cond": {"type": "eq", "value": "paris"}}]
                ]
            },
            None,
            True,
        ),
    ],
)
def test_rule_matches_event_pattern_then_entity_pattern(
    patterns: dict[str, Any], entity: Entity | None, matches: bool
) -> None:
    result = run({"_id": "r", "type": "drop", **patterns}, entity=entity)
    assert (result.outcome, result.applied) == (("drop", ("r",)) if matches else ("pass", ()))


@pytest.mark.parametrize(
    ("documents", "outcome", "output"),
    [
        ([rule("d", "drop")], "drop", "load=97"),
        (
            [rule("b", "break", priority=1), enrich("e", action("set_field", "Output", "late"), priority=2)],
            "break",
            "load=97",
        ),  # break stops evaluation
        (
            [enrich("e", action("set_field", "Output", "set"), priority=1), rule("b", "break", priority=2)],
            "break",
            "set",
        ),
        (
            [
                enrich("e", action("set_field", "Output", "a"), config={"on_success": "drop"}, priority=1),
                enrich("f", action("set_field", "Output", "b"), priority=2),
            ],
            "drop",
            "a",
        ),
        (
            [
                enrich("e", action("set_field", "State", "bad"), config={"on_failure": "break"}, priority=1),
                enrich("f", action("set_field", "Output", "b"), priority=2),
            ],
            "break",
            "load=97",
        ),
        (
            [
                enrich("e", action("set_field", "Output", "a"), priority=1),
                enrich("f", action("set_field", "Output", "b"), priority=2),
            ],
            "pass",
            "b",
        ),
    ],
)
def test_outcome_stops_evaluation_unless_pass(documents: list[dict[str, Any]], outcome: str, output: str) -> None:
    result = run(*documents)
    assert (result.outcome, result.event.output) == (outcome, output)


def test_later_rule_sees_event_changed_by_earlier_rule() -> None:
    first = enrich("a", action("set_field", "Component", "renamed"), priority=1)
    renamed = [[{"field": "component", "cond": {"type": "eq", "value": "renamed"}}]]
    second = rule("b", "drop", priority=2, event_pattern=renamed)
    assert run(first, second).outcome == "drop"


def test_caller_event_and_entity_are_never_changed() -> None:
    event, entity = make_event(), make_entity()
    result = run(
        enrich("e", action("set_field", "Output", "x"), action("set_entity_info", "team", "ops")),
        event=event,
        entity=entity,
    )
    assert (event.output, "team" in entity.infos) == ("load=97", False)
    assert result.entity is not None
    assert (result.event.output, result.entity.infos["team"].value) == ("x", "ops")


# --- actions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "field", "expected"),
    [
        (action("set_field", "Output", "new"), "output", "new"),
        (action("set_field", "State", 3), "state", State.CRITICAL),
        (action("set_field", "State", 2.5), "state", State.CRITICAL),  # Go rounds half away
        (action("set_field", "SourceType", "component"), "source_type", SourceType.COMPONENT),
        (action("set_field", "EventType", "ack"), "event_type", "ack"),
        (action("set_field", "Timestamp", NOW - 5), "timestamp", NOW - 5),
        (action("set_field", "Debug", True), "debug", True),
        (action("set_field", "Tags", {"a": "1"}), "tags", {"old": "x", "a": "1"}),  # merged
        (action("set_field", "client", {"id": 7}), "client", {"id": 7}),  # unknown: an extra
        (
            action("set_field_from_template", "Resource", "{{ .Event.Resource }}-{{ .Event.ExtraInfos.site }}"),
            "resource",
            "cpu-paris",
        ),
        (
            action("set_field_from_template", "LongOutput", "load {{ .RegexMatch.Output.load }}"),
            "long_output",
            "load 97",
        ),
        (action("copy", "Output", "Event.ExtraInfos.site"), "output", "paris"),
        (action("copy", "Author", "RegexMatch.Output.load"), "author", "97"),
        (action("copy", "where", "Event.Component"), "where", "srv01"),
    ],
)
def test_event_action_sets_field(act: dict[str, Any], field: str, expected: Any) -> None:
    event = make_event(tags={"old": "x"}, long_output="env=prod team=ops")
    result = run(enrich("e", act, event_pattern=LOAD), event=event)
    assert result.failures == ()
    assert getattr(result.event, field) == expected
    result.event.to_json()  # serialises without pydantic warnings (filterwarnings=error)


def test_set_tags_reapplies_event_pattern_regexp_with_name_and_value_groups() -> None:
    tagging = [[{"field": "output", "cond": {"type": "regexp", "value": r"(?P<name>\w+)=(?P<value>\w+)"}}]]
    event = make_event(output="env=prod team=ops bad=")
    result = run(enrich("e", action("set_tags", "Tags", "Event.Output"), event_pattern=tagging), event=event)
    assert result.event.tags == {"env": "prod", "team": "ops"}


def test_set_tags_from_template_without_regexp_groups_sets_one_named_tag() -> None:
    act = action("set_tags_from_template", "site", "{{ .Event.ExtraInfos.site }}")
    result = run(enrich("e", act), event=make_event(tags={"old": "x"}))
    assert result.event.tags == {"old": "x", "site": "paris"}


def test_set_tags_adds_nothing_when_pattern_regexp_lacks_name_and_value_groups() -> None:
    # Canopsis re-applies the pattern's regexp: here `load=(?P<load>…)` yields no tag.
    act = action("set_tags", "Tags", "Event.LongOutput")
    result = run(enrich("e", act, event_pattern=LOAD), event=make_event(long_output="a=b"))
    assert (result.failures, result.event.tags) == ((), None)


def test_set_tags_from_template_uses_regexp_groups_when_pattern_has_them() -> None:
    tagging = [[{"field": "output", "cond": {"type": "regexp", "value": r"(?P<name>\w+):(?P<value>\w+)"}}]]
    event = make_event(output="x:y", site="a:b c:d")
    result = run(
        enrich("e", action("set_tags_from_template", "ignored", "{{ .Event.ExtraInfos.site }}"), event_pattern=tagging),
        event=event,
    )
    assert result.event.tags == {"a": "b", "c": "d"}


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        (action("set_field", "State", "2"), "'2' cannot be converted to an integer"),
        (action("set_field", "State", 7), "state 7 is not 0, 1, 2 or 3"),
        (action("set_field", "Output", 5), "5 cannot be assigned to a string"),
        (action("set_field", "SourceType", "host"), "source type 'host' is not one of"),
        (action("set_field", "EventType", "nope"), "event type 'nope'"),
        (action("set_field", "Debug", "yes"), "cannot be assigned to a bool"),
        (action("set_field", "Tags", {"a": 1}), "cannot be assigned to a map of strings"),
        (action("set_field", "Entity", {}), "field Entity cannot be set"),
        (action("set_field", "output", "x"), "Go names such as 'Output'"),
        (
            action("set_field_from_template", "Output", "{{ .Event.ExtraInfos.absent }}"),
            "map has no entry for key 'absent'",
        ),
        (action("set_field_from_template", "Output", "{{ .RegexMatch.Resource.g }}"), "map has no entry for key 'g'"),
        (action("copy", "Output", "Event.ExtraInfos.absent"), "no entry for key 'absent'"),
        (action("copy", "Output", "Event.State"), "1 cannot be assigned to a string"),
        (action("set_entity_info", "team", "ops"), "the event has no entity"),
        (action("set_tags", "Tags", "Event.State"), "1 is not a string"),
    ],
)
def test_failing_action_stops_rule_with_on_failure(act: dict[str, Any], reason: str) -> None:
    document = enrich(
        "e",
        action("set_field", "Author", "first"),
        act,
        action("set_field", "Output", "never"),
        event_pattern=LOAD,
        config={"on_success": "pass", "on_failure": "drop"},
    )
    result = run(document)
    assert result.outcome == "drop"
    assert result.event.author == "first"  # actions before the failing one keep their effect
    assert result.event.output == "load=97"
    assert len(result.failures) == 1
    assert result.failures[0].startswith(f"rule e: action 1 ({act['type']} {act['name']!r}): ")
    assert reason in result.failures[0]


@pytest.mark.parametrize(
    ("act", "infos"),
    [
        (action("set_entity_info", "team", "ops", description="owner"), {"team": "ops"}),
        (action("set_entity_info", "ports", ["80", "443"]), {"ports": ["80", "443"]}),
        (action("set_entity_info", "level", 2.0), {"level": 2.0}),
        (
            action("set_entity_info_from_template", "site", "{{ .Event.ExtraInfos.site | uppercase }}"),
            {"site": "PARIS"},
        ),
        (action("set_entity_info_from_template", "load", "{{ .RegexMatch.Output.load }}"), {"load": "97"}),
        (action("copy_to_entity_info", "where", "Event.ExtraInfos.site"), {"where": "paris"}),
        (action("copy_to_entity_info", "was", "Event.Entity.Infos.env.Value"), {"was": "prod"}),
        (action("set_entity_info_from_dictionary", "", "Event.ExtraInfos.cmdb"), {"owner": "ops", "rack": 12}),
        (action("set_entity_info_from_dictionary", "", "Event.ExtraInfos.absent"), {}),
    ],
)
def test_entity_info_action_changes_entity_copy(act: dict[str, Any], infos: dict[str, Any]) -> None:
    event = make_event(cmdb={"owner": "ops", "rack": 12})
    result = run(enrich("e", act, event_pattern=LOAD), event=event, entity=make_entity())
    assert result.failures == ()
    assert result.entity is not None
    assert result.entity.info_values() == {"env": "prod", **infos}
    assert result.entity_changed is bool(infos)
    if act.get("description"):
        assert result.entity.infos["team"].description == "owner"


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        (action("copy_to_entity_info", "x", "Event.ExtraInfos.cmdb"), "is not a string, whole"),
        (action("copy_to_entity_info", "x", "Event.ExtraInfos.absent"), "no entry for key"),
        (action("set_entity_info_from_dictionary", "", "Event.Component"), "is not a map"),
        (action("set_entity_info_from_dictionary", "", "Event.ExtraInfos.bad"), "ratio:"),
    ],
)
def test_failing_entity_info_action_takes_on_failure(act: dict[str, Any], reason: str) -> None:
    event = make_event(cmdb={"a": "b"}, bad={"ratio": 0.5})
    document = enrich("e", act, config={"on_failure": "break"})
    result = run(document, event=event, entity=make_entity())
    assert (result.outcome, result.entity_changed) == ("break", False)
    assert reason in result.failures[0]


def test_setting_an_info_to_its_current_value_is_no_change() -> None:
    result = run(enrich("e", action("set_entity_info", "env", "prod")), entity=make_entity())
    assert result.entity_changed is False


def test_changed_infos_refresh_the_entity_carried_by_the_event() -> None:
    entity = make_entity()
    event = make_event(current_entity=entity.to_document())
    result = run(enrich("e", action("set_entity_info", "team", "ops")), event=event, entity=entity)
    assert result.event.current_entity is not None
    assert result.event.current_entity["infos"]["team"]["value"] == "ops"


def test_external_data_is_unavailable_so_enrichment_takes_on_failure() -> None:
    document = enrich(
        "e",
        action("set_field", "Output", "x"),
        config={"on_failure": "drop"},
        external_data={"cmdb": {"type": "mongo"}},
    )
    loaded, _ = load_rules([document])
    result = apply_rules(loaded, make_event(), None, NOW)
    assert (result.outcome, result.event.output) == ("drop", "load=97")
    assert "external data ['cmdb']" in result.failures[0]


# --- change_entity and disabled entities ---------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"component": "{{ .Event.Component | uppercase }}"}, ("SRV01", "cpu", "centreon")),
        ({"resource": "pre-{{ .Event.Resource }}-{{ .RegexMatch.Output.load }}"}, ("srv01", "pre-cpu-97", "centreon")),
        ({"connector": "x", "component": "{{ .Event.ExtraInfos.site }}"}, ("paris", "cpu", "x")),
    ],
)
def test_change_entity_renders_templates_into_identity(config: dict[str, str], expected: tuple[str, str, str]) -> None:
    result = run(rule("c", "change_entity", event_pattern=LOAD, config=config))
    assert result.outcome == "pass"
    assert (result.event.component, result.event.resource, result.event.connector) == expected
    assert result.event.entity_id == f"{expected[1]}/{expected[0]}"


def test_change_entity_template_failure_drops_event() -> None:
    result = run(rule("c", "change_entity", config={"component": "{{ .Event.ExtraInfos.nope }}"}))
    assert result.outcome == "drop"
    assert result.failures[0].startswith("rule c: cannot render config.component: ")


def test_change_entity_runs_before_filters_whatever_the_priority() -> None:
    renamed = [[{"field": "component", "cond": {"type": "eq", "value": "new"}}]]
    documents = [
        rule("drop-new", "drop", priority=1, event_pattern=renamed),
        rule("rename", "change_entity", priority=9, config={"component": "new"}),
    ]
    loaded = rules_of(*documents)
    assert [r.id for r in loaded.identity.rules] == ["rename"]
    assert [r.id for r in loaded.filters.rules] == ["drop-new"]
    assert apply_rules(loaded, make_event(), None, NOW).outcome == "drop"


def test_disabled_entity_skips_filter_but_not_change_entity() -> None:
    documents = [
        rule("rename", "change_entity", config={"resource": "renamed"}),
        rule("drop", "drop"),
        enrich("e", action("set_entity_info", "team", "ops")),
    ]
    result = run(*documents, entity=make_entity(enabled=False))
    assert (result.outcome, result.event.resource, result.applied) == ("pass", "renamed", ("rename",))
    assert result.entity_changed is False


def test_enabled_entity_gets_the_filter() -> None:
    result = run(rule("drop", "drop"), entity=make_entity(enabled=True))
    assert result.outcome == "drop"


def test_entity_view_exposes_infos_to_templates() -> None:
    entity = make_entity(infos={"env": EntityInfo(name="env", value="prod").model_dump()})
    act = action("set_field_from_template", "Output", "{{ .Event.Entity.Name }} in {{ .Event.Entity.Infos.env.Value }}")
    assert run(enrich("e", act), entity=entity).event.output == "cpu in prod"


def test_event_matching_no_rule_comes_back_unchanged_without_copy() -> None:
    event, entity = make_event(), make_entity()
    other = [[{"field": "component", "cond": {"type": "eq", "value": "other"}}]]
    result = run(rule("d", "drop", event_pattern=other), event=event, entity=entity)
    assert (result.outcome, result.event, result.entity) == ("pass", event, entity)
    assert (result.entity_changed, result.failures, result.applied) == (False, (), ())
