"""The event filter (`eventfilter` collection): load rules once, apply them to each event (§4.3).

Pure: `load_rules` turns documents into an ordered RuleSet, `apply_rules` returns the changed
copies of the event and entity with the outcome; the engine reads the collection and saves.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal, cast, get_args

from engines.model.template import Template, TemplateError, compile_template, lookup
from engines.model.entity import Entity, EntityInfo
from engines.model.event import EVENT_TYPES, Event, SourceType, State
from engines.model.pattern import Pattern, PatternError, entity_document, event_document

__all__ = ["FilterResult", "Outcome", "Rule", "RuleSet", "RuleType", "apply_rules", "load_rules"]

Outcome = Literal["pass", "break", "drop"]
RuleType = Literal["drop", "break", "enrichment", "change_entity"]
ActionType = Literal["set_field", "set_field_from_template", "set_entity_info",
                     "set_entity_info_from_template", "set_entity_info_from_dictionary", "copy",
                     "copy_to_entity_info", "set_tags", "set_tags_from_template"]  # fmt: skip
_TEMPLATED: Final = frozenset({"set_field_from_template", "set_entity_info_from_template",
                               "set_tags_from_template"})  # fmt: skip
_PATHS: Final = frozenset({"copy", "copy_to_entity_info", "set_tags",
                           "set_entity_info_from_dictionary"})  # fmt: skip
_IDENTITY: Final = ("resource", "component", "connector", "connector_name")

#: Go `types.Event` field names that actions may set → (JSON field, kind). Kinds coerce as Go's
#: `Event.SetField`: str takes strings only, int rounds floats, map merges string values.
_GO_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "Connector": ("connector", "str"), "ConnectorName": ("connector_name", "str"),
    "EventType": ("event_type", "event_type"), "SourceType": ("source_type", "source_type"),
    "Component": ("component", "str"), "Resource": ("resource", "str"),
    "PerfData": ("perf_data", "str"), "Status": ("status", "int"), "State": ("state", "state"),
    "Output": ("output", "str"), "LongOutput": ("long_output", "str"), "AlarmID": ("aid", "str"),
    "Author": ("author", "str"), "UserID": ("user_id", "str"), "Role": ("role", "str"),
    "Timestamp": ("timestamp", "int"), "Duration": ("duration", "int"),
    "Debug": ("debug", "bool"), "Initiator": ("initiator", "str"), "Tags": ("tags", "map"),
    "Ticket": ("ticket", "str"), "TicketURL": ("ticket_url", "str"),
    "TicketComment": ("ticket_comment", "str"), "TicketSystemName": ("ticket_system_name", "str"),
    "TicketData": ("ticket_data", "map"), "TicketMetaAlarmID": ("ticket_meta_alarm_id", "str"),
    "TicketRuleID": ("ticket_rule_id", "str"), "TicketRuleName": ("ticket_rule_name", "str"),
}  # fmt: skip
#: Go fields of struct or pointer type: SetField refuses them ("cannot set field").
_READ_ONLY: Final = frozenset({"ID", "Alarm", "Entity", "ExtraInfos", "AlarmChange",
                               "PbehaviorInfo", "ReceivedTimestamp"})  # fmt: skip
_EVENT_REGEX: Final = {"connector": "Connector", "connector_name": "ConnectorName",
                       "component": "Component", "resource": "Resource", "output": "Output",
                       "long_output": "LongOutput", "event_type": "EventType",
                       "source_type": "SourceType", "author": "Author", "initiator": "Initiator"}
_ENTITY_REGEX: Final = {"_id": "ID", "name": "Name", "category": "Category", "type": "Type"}


_NO_GROUPS: Final[Mapping[str, Mapping[str, str]]] = {}


class _Invalid(ValueError):
    """A rule document that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class Action:
    """One enrichment action; `template` is compiled for the *_from_template types."""

    index: int
    type: ActionType
    name: str
    description: str
    value: Any
    template: Template | None = None


@dataclass(frozen=True)
class Rule:
    """One loaded `eventfilter` document, its patterns and templates compiled.

    `windows` are the (start, stop) unix-second ranges in which the rule is active (none:
    always); `exdates` the (begin, end) ranges in which it is not. `identity` holds the
    change_entity templates by event field.
    """

    id: str
    type: RuleType
    priority: int = 0
    description: str = ""
    author: str = ""
    event_pattern: Pattern = field(default_factory=Pattern)
    entity_pattern: Pattern = field(default_factory=Pattern)
    identity: Mapping[str, Template] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    on_success: Outcome = "pass"
    on_failure: Outcome = "pass"
    external_data: Mapping[str, str] = field(default_factory=dict)  # name → source type
    windows: tuple[tuple[int, int], ...] = ()
    exdates: tuple[tuple[int, int], ...] = ()
    tag_regexps: tuple[tuple[str, re.Pattern[str]], ...] = ()  # event-pattern regexps, by field

    def is_active(self, now: int) -> bool:
        """Inside a window (bounds included) and outside every exdate (bounds excluded), as Go."""
        if not self.windows and not self.exdates:
            return True
        if any(begin < now < end for begin, end in self.exdates):
            return False
        return not self.windows or any(start <= now <= stop for start, stop in self.windows)


@dataclass(frozen=True)
class RuleSet:
    """Enabled rules in evaluation order: priority > 0 first, then priority, then _id (§4.3)."""

    rules: tuple[Rule, ...] = ()

    def __repr__(self) -> str:
        return f"<RuleSet rules={len(self.rules)} change_entity={len(self.identity.rules)}>"

    @cached_property
    def identity(self) -> RuleSet:
        """The change_entity rules: run before the entity is looked up (Canopsis: in fifo)."""
        return RuleSet(tuple(r for r in self.rules if r.type == "change_entity"))

    @cached_property
    def filters(self) -> RuleSet:
        """The drop, break and enrichment rules: run once the entity is known."""
        return RuleSet(tuple(r for r in self.rules if r.type != "change_entity"))


@dataclass(frozen=True)
class FilterResult:
    """What the filter did. The caller's event and entity are never changed: `event` and
    `entity` are changed copies, or the objects passed in when no rule could change them.

    `outcome` "drop" means discard the event; "break" and "pass" both forward it.
    `entity_changed` means an info value changed: the caller saves `entity`. `failures` are
    "rule <id>: <reason>" lines (Canopsis `eventfilter_failure`); `applied` lists matched rules.
    """

    event: Event
    entity: Entity | None
    outcome: Outcome
    entity_changed: bool
    failures: tuple[str, ...] = ()
    applied: tuple[str, ...] = ()


def load_rules(documents: Iterable[Mapping[str, Any]]) -> tuple[RuleSet, list[str]]:
    """Parse `eventfilter` documents; return the enabled rules in order and the problems found.

    A document that cannot be used is skipped with a message naming its `_id` and the problem:
    bad patterns, templates (syntax, unknown function) or actions are found here, not per event.
    A usable one with an oddity is kept and a warning listed:
      * enrichment without on_success/on_failure: "pass" is assumed (HEAD's API requires both,
        4.x documented "pass");
      * `rrule`: not expanded, the rule is active from start to stop only. The windows a
        Canopsis che worker resolved (`resolved_start`/`_stop`, `next_resolved_*`,
        `resolved_exdates`) are used when present, as Canopsis does;
      * `external_data`: no source exists (Canopsis community registers none), so the rule
        always fails: enrichment takes on_failure, change_entity drops.
    Disabled rules (`enabled: false`) are left out silently.
    """
    rules: list[Rule] = []
    problems: list[str] = []
    for document in documents:
        warnings: list[str] = []
        try:
            rule, enabled = _parse_rule(document, warnings)
        except (_Invalid, PatternError, TemplateError) as exc:
            problems.append(f"eventfilter rule {document.get('_id')!r} skipped: {exc}")
            continue
        problems.extend(f"eventfilter rule {rule.id!r}: {warning}" for warning in warnings)
        if enabled:
            rules.append(rule)
    rules.sort(key=lambda r: (r.priority <= 0, r.priority, r.id))
    return RuleSet(tuple(rules)), problems


def _parse_rule(doc: Mapping[str, Any], warnings: list[str]) -> tuple[Rule, bool]:
    rule_id, kind = doc.get("_id"), doc.get("type")
    if not isinstance(rule_id, str) or not rule_id:
        raise _Invalid(f"_id must be a non-empty string, got {rule_id!r}")
    if kind not in get_args(RuleType):
        raise _Invalid(f"type {kind!r} is not one of {', '.join(get_args(RuleType))}")
    priority, enabled = doc.get("priority", 0), doc.get("enabled", True)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise _Invalid(f"priority must be an integer, got {priority!r}")
    if not isinstance(enabled, bool):
        raise _Invalid(f"enabled must be true or false, got {enabled!r}")
    config = doc.get("config") or {}
    if not isinstance(config, Mapping):
        raise _Invalid(f"config must be an object, got {config!r}")
    event_pattern = Pattern.parse(doc.get("event_pattern"), what="event_pattern")
    entity_pattern = Pattern.parse(doc.get("entity_pattern"), what="entity_pattern")
    if event_pattern.is_empty and entity_pattern.is_empty:
        raise _Invalid("needs an event_pattern or an entity_pattern (without both it never "
                       "matches)")  # fmt: skip
    identity: dict[str, Template] = {}
    outcomes: dict[str, Outcome] = {"on_success": "pass", "on_failure": "pass"}
    actions: tuple[Action, ...] = ()
    if kind == "change_entity":
        for name in _IDENTITY:
            if (text := config.get(name)) not in (None, ""):
                if not isinstance(text, str):
                    raise _Invalid(f"config.{name} must be a template string, got {text!r}")
                identity[name] = compile_template(text)
        if not identity:
            raise _Invalid("change_entity needs config.resource, component, connector or "
                           "connector_name")
        if not entity_pattern.is_empty:
            warnings.append("change_entity with an entity_pattern: it matches only once the "
                            "entity is known (Canopsis ignores it: fifo has no entity)")
    if kind == "enrichment":
        raw_actions = config.get("actions")
        if not isinstance(raw_actions, list) or not raw_actions:
            raise _Invalid("enrichment needs a non-empty config.actions list")
        actions = tuple(_parse_action(i, raw) for i, raw in enumerate(raw_actions))
        for key in outcomes:
            value = config.get(key)
            if value in (None, ""):  # HEAD's API requires both; 4.x documented "pass"
                warnings.append(f"config.{key} missing: 'pass' assumed")
            elif value not in get_args(Outcome):
                raise _Invalid(f"config.{key} {value!r} is not one of pass, break, drop")
            else:
                outcomes[key] = value
    external = doc.get("external_data") or {}
    sources = {str(k): str(v.get("type")) if isinstance(v, Mapping) else "?"
               for k, v in external.items()} if isinstance(external, Mapping) else {}  # fmt: skip
    if sources:
        warnings.append(f"external_data {sorted(sources)}: no data source is available "
                        f"(Canopsis community has none either), the rule always fails")  # fmt: skip
    windows, exdates = _parse_schedule(doc, warnings)
    rule = Rule(
        id=rule_id, type=cast(RuleType, kind), priority=priority,
        description=str(doc.get("description") or ""), author=str(doc.get("author") or ""),
        event_pattern=event_pattern,
        entity_pattern=entity_pattern, identity=identity, actions=actions,
        on_success=outcomes["on_success"], on_failure=outcomes["on_failure"],
        external_data=sources, windows=windows, exdates=exdates,
        tag_regexps=_tag_regexps(event_pattern),
    )  # fmt: skip
    return rule, enabled


def _parse_action(index: int, raw: Any) -> Action:
    where = f"config.actions[{index}]"
    if not isinstance(raw, Mapping):
        raise _Invalid(f"{where} must be an object, got {raw!r}")
    kind, name, value = raw.get("type"), raw.get("name") or "", raw.get("value")
    if kind not in get_args(ActionType):
        raise _Invalid(f"{where}: type {kind!r} is not one of {', '.join(get_args(ActionType))}")
    if not isinstance(name, str) or (not name and kind != "set_entity_info_from_dictionary"):
        raise _Invalid(f"{where} ({kind}): name must be a non-empty string, got {name!r}")
    template = None
    if kind in _TEMPLATED or kind in _PATHS:
        if not isinstance(value, str) or not value:
            wanted = "a template" if kind in _TEMPLATED else "a path such as Event.ExtraInfos.x"
            raise _Invalid(f"{where} ({kind} {name!r}): value must be {wanted}, got {value!r}")
        if kind in _TEMPLATED:
            template = compile_template(value)
    if kind == "set_entity_info" and not _is_info_value(value):
        raise _Invalid(f"{where} (set_entity_info {name!r}): value {value!r} is not a string, "
                       f"whole number, boolean or list of strings")  # fmt: skip
    description = raw.get("description") or ""
    return Action(index, cast(ActionType, kind), name, str(description), value, template)


def _tag_regexps(pattern: Pattern) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The pattern's regexps with named groups, which set_tags re-applies."""
    found: list[tuple[str, re.Pattern[str]]] = []
    for condition in (c for group in pattern.groups for c in group if c.type == "regexp"):
        try:  # Go spells named groups (?<n>…) too; the pattern module checked the syntax
            regex = re.compile(re.sub(r"\(\?<(?=[^=!])", "(?P<", condition.value), re.ASCII)
        except re.error:
            continue
        if regex.groupindex:
            found.append((condition.field, regex))
    return tuple(found)


def _parse_schedule(doc: Mapping[str, Any], warnings: list[str]) -> tuple[
        tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:  # fmt: skip
    """Activity windows: Canopsis' resolved ones when a che worker wrote them, else start/stop."""
    windows = []
    for start_key, stop_key in (("resolved_start", "resolved_stop"),
                                ("next_resolved_start", "next_resolved_stop")):  # fmt: skip
        if doc.get(start_key) is not None and doc.get(stop_key) is not None:
            windows.append((_seconds(doc, start_key), _seconds(doc, stop_key)))
    if not windows and (doc.get("start") is not None or doc.get("stop") is not None):
        start, stop = _seconds(doc, "start"), _seconds(doc, "stop")
        if start >= stop:
            raise _Invalid(f"start {start} must be before stop {stop}")
        windows.append((start, stop))
        if doc.get("rrule"):
            warnings.append(f"rrule {doc['rrule']!r} is not expanded: active only from start "
                            f"to stop")  # fmt: skip
    exdates = []
    for i, item in enumerate(doc.get("resolved_exdates") or doc.get("exdates") or []):
        if not isinstance(item, Mapping):
            raise _Invalid(f"exdates[{i}] must be an object with begin and end, got {item!r}")
        exdates.append((_seconds(item, "begin"), _seconds(item, "end")))
    return tuple(windows), tuple(exdates)


def _seconds(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid(f"{key} must be unix seconds, got {value!r}")
    return int(value)


# --- evaluation ----------------------------------------------------------------------------------


def apply_rules(rules: RuleSet, event: Event, entity: Entity | None, now: int) -> FilterResult:
    """Run `rules` over a copy of `event` (and of `entity`) at `now` (unix seconds).

    change_entity rules run first (Canopsis runs them in fifo, before the entity lock; che
    calls `apply_rules(rules.identity, event, None, now)` before looking the entity up), then
    drop/break/enrichment rules, unless the entity is disabled: those are skipped entirely
    (§4.2 step 4). Rules run while the outcome is "pass", each seeing the event as earlier rules
    left it. A rule matches when its event pattern (if any) matches and its entity pattern (if
    any) matches the entity; without an entity, a rule with an entity pattern does not match
    (Canopsis skips the entity pattern then).

    Templates see `.Event` (Go field names, absent fields as Go zero values, `ExtraInfos`,
    `Entity` with `Infos.<name>.Value`), `.RegexMatch.<Field>.<group>` (also `ExtraInfos.<key>`,
    `Entity.Infos.<name>`) and an empty `.ExternalData`; a missing key fails the action, as
    Canopsis' `missingkey=error`. `Timestamp` reads as unix seconds, not a Go time.
    """
    state = _State(event, entity, now)
    enabled = entity is None or entity.enabled
    outcome: Outcome = "pass"
    for rule in (*rules.identity.rules, *(rules.filters.rules if enabled else ())):
        if outcome != "pass":
            break
        if not rule.is_active(now) or (match := state.match(rule)) is None:
            continue
        state.applied.append(rule.id)
        state.regex = _regex_view(*match)
        state.groups = match[0]
        if rule.type in ("enrichment", "change_entity") and not state.owned:
            # Copy on first write, shallow: most events match no rule. Actions replace values
            # and only change these dicts in place (pydantic copies the extras dict itself).
            state.event = state.event.model_copy()
            if state.event.extra is not None:
                state.event.extra = dict(state.event.extra)
            if entity is not None:
                state.entity = entity.model_copy(update={"infos": dict(entity.infos)})
            state.owned = True
        outcome = _APPLY[rule.type](rule, state)
        state.documents.clear()  # the rule may have changed the event or the entity
    changed = entity is not None and state.entity is not None and (
        entity.info_values() != state.entity.info_values())
    if changed and state.entity is not None and state.event.current_entity is not None:
        state.event.current_entity = state.entity.to_document()  # the event carries the entity
    return FilterResult(state.event, state.entity, outcome, changed, tuple(state.failures),
                        tuple(state.applied))  # fmt: skip


@dataclass
class _State:
    event: Event
    entity: Entity | None
    now: int
    failures: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    regex: dict[str, Any] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # pattern views, cached
    owned: bool = False  # event and entity are our copies, free to change

    def match(self, rule: Rule) -> tuple[Mapping[str, Mapping[str, str]],
                                         Mapping[str, Mapping[str, str]]] | None:  # fmt: skip
        """The regexp groups of the event and entity patterns, or None if the rule misses."""
        event_groups: Mapping[str, Mapping[str, str]] = _NO_GROUPS
        entity_groups: Mapping[str, Mapping[str, str]] = _NO_GROUPS
        if not rule.event_pattern.is_empty:
            if (doc := self.documents.get("event")) is None:
                doc = self.documents["event"] = event_document(self.event)
            if (match := rule.event_pattern.match(doc, now=self.now)) is None:
                return None
            event_groups = match.regex_groups
        if not rule.entity_pattern.is_empty:
            if self.entity is None:
                return None
            if (doc := self.documents.get("entity")) is None:
                doc = self.documents["entity"] = entity_document(self.entity)
            if (match := rule.entity_pattern.match(doc, now=self.now)) is None:
                return None
            entity_groups = match.regex_groups
        return event_groups, entity_groups

    def data(self) -> dict[str, Any]:
        """What templates and copy paths read: `.Event`, `.RegexMatch`, `.ExternalData`."""
        return {"Event": _event_view(self.event, self.entity), "RegexMatch": self.regex,
                "ExternalData": {}}  # fmt: skip

    def fail(self, rule: Rule, reason: str) -> None:
        self.failures.append(f"rule {rule.id}: {reason}")


def _change_entity(rule: Rule, state: _State) -> Outcome:
    if rule.external_data:
        state.fail(rule, f"external data {sorted(rule.external_data)}: no data source")
        return "drop"
    for name, template in rule.identity.items():
        try:  # each field sees the ones rendered before it, as in Canopsis
            setattr(state.event, name, template.render(state.data()))
        except TemplateError as exc:
            state.fail(rule, f"cannot render config.{name}: {exc}")
            return "drop"
    return "pass"


def _enrichment(rule: Rule, state: _State) -> Outcome:
    if rule.external_data:
        state.fail(rule, f"external data {sorted(rule.external_data)}: no data source")
        return rule.on_failure
    for action in rule.actions:
        try:
            reason = _ACTIONS[action.type](action, state, rule)
        except TemplateError as exc:
            reason = str(exc)
        if reason is not None:  # earlier actions keep their effect, as in Canopsis
            state.fail(rule, f"action {action.index} ({action.type} {action.name!r}): {reason}")
            return rule.on_failure
    return rule.on_success


_APPLY: Final[dict[str, Callable[[Rule, _State], Outcome]]] = {
    "drop": lambda rule, state: "drop", "break": lambda rule, state: "break",
    "change_entity": _change_entity, "enrichment": _enrichment,
}  # fmt: skip


# --- actions: each returns None on success, else the reason it failed ----------------------------


def _set_field(event: Event, name: str, value: Any) -> str | None:
    """Event.SetField: a Go field name gets a coerced value, an unknown name becomes an extra."""
    if name in _READ_ONLY:
        return f"field {name} cannot be set"
    if name not in _GO_FIELDS:
        if name in Event.model_fields:  # would shadow the declared field in the JSON
            return f"{name!r} is a JSON name; actions use Go names such as {_go_name(name)!r}"
        value = copy.deepcopy(value)  # never share a rule's or another field's object
        extras = event.__pydantic_extra__
        if extras is not None:
            extras[name] = value
        if isinstance(event.extra, dict):  # a received `extra` object wins when read back
            event.extra[name] = value
        return None
    attribute, kind = _GO_FIELDS[name]
    coerced: Any = value
    if kind in ("int", "state"):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            return f"{value!r} cannot be converted to an integer"
        if isinstance(value, float):  # Go's math.Round: halves away from zero
            coerced = int(math.copysign(math.floor(abs(value) + 0.5), value))
        if kind == "state":
            if coerced not in State._value2member_map_:
                return f"state {coerced} is not 0, 1, 2 or 3"
            coerced = State(coerced)
    elif kind == "bool" and not isinstance(value, bool):
        return f"{value!r} cannot be assigned to a bool"
    elif kind == "map":
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            return f"{value!r} cannot be assigned to a map of strings"
        coerced = {**(getattr(event, attribute) or {}), **value}  # Go merges into the map
    elif kind != "bool" and not isinstance(value, str):
        return f"{value!r} cannot be assigned to a string"
    elif kind == "source_type":
        if value not in SourceType._value2member_map_:
            return f"source type {value!r} is not one of {', '.join(SourceType)}"
        coerced = SourceType(value)
    elif kind == "event_type" and value not in EVENT_TYPES:
        return f"event type {value!r} is not one Canopsis accepts"
    setattr(event, attribute, coerced)
    return None


def _set_info(state: _State, name: str, description: str, value: Any) -> str | None:
    if state.entity is None:
        return "the event has no entity"
    if not _is_info_value(value):
        return f"info value {value!r} is not a string, whole number, boolean or list of strings"
    current = state.entity.infos.get(name)
    if current is None or current.value != value:  # same value: no change, as Canopsis
        state.entity.infos[name] = EntityInfo(name=name, description=description, value=value)
    return None


def _tags(regex: re.Pattern[str] | None, text: Any) -> str | dict[str, str]:
    """Tags from re-applying the event pattern's regexp (groups `name` and `value`) to `text`."""
    if regex is None:
        return {}
    if not isinstance(text, str):
        return f"{text!r} is not a string"
    tags = {}
    for found in regex.finditer(text):
        groups = found.groupdict()
        if groups.get("name") and groups.get("value"):
            tags[groups["name"]] = groups["value"]
    return tags


def _set_tags(action: Action, state: _State, rule: Rule) -> str | None:
    tags = _tags(_matched_regexp(rule, state.groups), lookup(state.data(), action.value))
    if isinstance(tags, str):
        return tags
    return _set_field(state.event, action.name, tags) if tags else None


def _set_tags_from_template(action: Action, state: _State, rule: Rule) -> str | None:
    assert action.template is not None
    text = action.template.render(state.data())
    regex = _matched_regexp(rule, state.groups)
    tags = {action.name: text} if regex is None else _tags(regex, text)
    if isinstance(tags, str):
        return tags
    return _set_field(state.event, "Tags", tags) if tags else None


def _from_dictionary(action: Action, state: _State, rule: Rule) -> str | None:
    try:
        found = lookup(state.data(), action.value)
    except TemplateError:
        return None  # Canopsis: a missing dictionary is not a failure
    if not isinstance(found, Mapping):
        return f"{action.value} is not a map"
    for key, value in found.items():
        if (reason := _set_info(state, str(key), action.description, value)) is not None:
            return f"{key}: {reason}"
    return None


def _render(action: Action, state: _State) -> str:
    assert action.template is not None
    return action.template.render(state.data())


_ACTIONS: Final[dict[str, Callable[[Action, _State, Rule], str | None]]] = {
    "set_field": lambda a, s, r: _set_field(s.event, a.name, a.value),
    "set_field_from_template": lambda a, s, r: _set_field(s.event, a.name, _render(a, s)),
    "set_entity_info": lambda a, s, r: _set_info(s, a.name, a.description, a.value),
    "set_entity_info_from_template": lambda a, s, r: _set_info(
        s, a.name, a.description, _render(a, s)),
    "set_entity_info_from_dictionary": _from_dictionary,
    "copy": lambda a, s, r: _set_field(s.event, a.name, lookup(s.data(), a.value)),
    "copy_to_entity_info": lambda a, s, r: _set_info(
        s, a.name, a.description, lookup(s.data(), a.value)),
    "set_tags": _set_tags,
    "set_tags_from_template": _set_tags_from_template,
}  # fmt: skip


# --- views: plain dicts keyed by Go field names, the only thing templates can read ---------------


def _event_view(event: Event, entity: Entity | None) -> dict[str, Any]:
    zero = {"str": "", "int": 0, "state": 0, "source_type": "", "event_type": "", "bool": False,
            "map": {}}  # fmt: skip
    view: dict[str, Any] = {}
    for go_name, (attribute, kind) in _GO_FIELDS.items():
        value = getattr(event, attribute)
        view[go_name] = zero[kind] if value is None else _plain(value)
    view["Status"] = event.status  # a pointer in Go: nil prints "<no value>"
    view["ExtraInfos"] = {**(event.model_extra or {}), **(event.extra or {})}
    view["Entity"] = None if entity is None else _entity_view(entity)
    return view


def _entity_view(entity: Entity) -> dict[str, Any]:
    def infos(items: Mapping[str, EntityInfo]) -> dict[str, Any]:
        return {k: {"Name": i.name, "Description": i.description, "Value": i.value}
                for k, i in items.items()}  # fmt: skip

    return {"ID": entity.id, "Name": entity.name, "Type": entity.type.value,
            "Enabled": entity.enabled, "Category": entity.category or "",
            "Component": entity.component or "", "Connector": entity.connector or "",
            "ImpactLevel": entity.impact_level, "Infos": infos(entity.infos),
            "ComponentInfos": infos(entity.component_infos)}  # fmt: skip


def _regex_view(event_groups: Mapping[str, Mapping[str, str]],
                entity_groups: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:  # fmt: skip
    """`.RegexMatch`: every field present (Go's nil maps), so a missing group is a missing key."""
    view: dict[str, Any] = {go: {} for go in _EVENT_REGEX.values()}
    view["ExtraInfos"] = {}
    on_entity: dict[str, Any] = {go: {} for go in _ENTITY_REGEX.values()}
    on_entity.update(Infos={}, ComponentInfos={})
    for groups, names, target, prefixes in (
        (event_groups, _EVENT_REGEX, view, {"extra.": "ExtraInfos"}),
        (entity_groups, _ENTITY_REGEX, on_entity,
         {"infos.": "Infos", "component_infos.": "ComponentInfos"}),
    ):  # fmt: skip
        for name, found in groups.items():
            if name in names:
                target[names[name]] = dict(found)
            for prefix, key in prefixes.items():
                if name.startswith(prefix):
                    target[key][name[len(prefix):]] = dict(found)
    view["Entity"] = on_entity
    return view


def _matched_regexp(rule: Rule, groups: Mapping[str, Mapping[str, str]]) -> re.Pattern[str] | None:
    """Canopsis `MatchedRegexp`: the event-pattern regexp whose named groups were captured.

    The match result names fields, not conditions: the first regexp on a captured field whose
    group names cover the captured ones is taken (Canopsis refuses two different ones).
    """
    for field_name, regex in rule.tag_regexps:
        named = {key for key in groups.get(field_name, {}) if not key.isdigit()}
        if named and named <= regex.groupindex.keys():
            return regex
    return None


_ALL_GO: Final = {attribute: go for go, (attribute, _) in _GO_FIELDS.items()}


def _go_name(attribute: str) -> str:
    return _ALL_GO.get(attribute, "".join(part.title() for part in attribute.split("_")))


def _is_info_value(value: Any) -> bool:
    """Canopsis `IsInfoValueValid`: string, whole number, bool or list of strings."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, (str, int, bool))


def _plain(value: Any) -> Any:
    """Enums as their JSON value, so templates print 2 and "resource"."""
    if isinstance(value, State):
        return int(value)
    return value.value if isinstance(value, SourceType) else value
