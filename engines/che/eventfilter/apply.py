"""Applying the event filter: the loaded rules run over a copy of each event and its entity.

Pure: `apply_rules` returns the changed copies with the outcome and the failures to log.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engines.che.eventfilter.rules import Action, Outcome, Rule, RuleSet, is_info_value
from engines.che.eventfilter.views import GO_FIELDS, event_view, go_name, regex_view
from engines.model.entity import Entity, EntityInfo
from engines.model.event import EVENT_TYPES, Event, SourceType, State
from engines.model.pattern import entity_document, event_document
from engines.model.template import TemplateError, lookup

__all__ = ["FilterResult", "apply_rules"]

#: Go fields of struct or pointer type: SetField refuses them ("cannot set field").
_READ_ONLY: Final = frozenset(
    {"ID", "Alarm", "Entity", "ExtraInfos", "AlarmChange", "PbehaviorInfo", "ReceivedTimestamp"}
)
_NO_GROUPS: Final[Mapping[str, Mapping[str, str]]] = {}


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
        state.regex = regex_view(*match)
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
    changed = entity is not None and state.entity is not None and (entity.info_values() != state.entity.info_values())
    if changed and state.entity is not None and state.event.current_entity is not None:
        state.event.current_entity = state.entity.to_document()  # the event carries the entity
    return FilterResult(state.event, state.entity, outcome, changed, tuple(state.failures), tuple(state.applied))


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

    def match(self, rule: Rule) -> tuple[Mapping[str, Mapping[str, str]], Mapping[str, Mapping[str, str]]] | None:
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
        return {"Event": event_view(self.event, self.entity), "RegexMatch": self.regex, "ExternalData": {}}

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
    "drop": lambda rule, state: "drop",
    "break": lambda rule, state: "break",
    "change_entity": _change_entity,
    "enrichment": _enrichment,
}


# --- actions: each returns None on success, else the reason it failed ----------------------------


def _set_field(event: Event, name: str, value: Any) -> str | None:
    """Event.SetField: a Go field name gets a coerced value, an unknown name becomes an extra."""
    if name in _READ_ONLY:
        return f"field {name} cannot be set"
    if name not in GO_FIELDS:
        if name in Event.model_fields:  # would shadow the declared field in the JSON
            return f"{name!r} is a JSON name; actions use Go names such as {go_name(name)!r}"
        value = copy.deepcopy(value)  # never share a rule's or another field's object
        extras = event.__pydantic_extra__
        if extras is not None:
            extras[name] = value
        if isinstance(event.extra, dict):  # a received `extra` object wins when read back
            event.extra[name] = value
        return None
    attribute, kind = GO_FIELDS[name]
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
    if not is_info_value(value):
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
    "set_entity_info_from_template": lambda a, s, r: _set_info(s, a.name, a.description, _render(a, s)),
    "set_entity_info_from_dictionary": _from_dictionary,
    "copy": lambda a, s, r: _set_field(s.event, a.name, lookup(s.data(), a.value)),
    "copy_to_entity_info": lambda a, s, r: _set_info(s, a.name, a.description, lookup(s.data(), a.value)),
    "set_tags": _set_tags,
    "set_tags_from_template": _set_tags_from_template,
}


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
