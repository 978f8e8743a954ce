"""Event-filter rule documents, parsed once: patterns, templates, actions and activity windows are
checked at load, so a broken rule is skipped with a reason instead of failing on each event."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal, cast, get_args

from engines.model.pattern import Pattern, PatternError
from engines.model.template import Template, TemplateError, compile_template

__all__ = ["Action", "ActionType", "Outcome", "Rule", "RuleSet", "RuleType", "is_info_value", "load_rules"]

Outcome = Literal["pass", "break", "drop"]
RuleType = Literal["drop", "break", "enrichment", "change_entity"]
ActionType = Literal[
    "set_field",
    "set_field_from_template",
    "set_entity_info",
    "set_entity_info_from_template",
    "set_entity_info_from_dictionary",
    "copy",
    "copy_to_entity_info",
    "set_tags",
    "set_tags_from_template",
]
_TEMPLATED: Final = frozenset({"set_field_from_template", "set_entity_info_from_template", "set_tags_from_template"})
_PATHS: Final = frozenset({"copy", "copy_to_entity_info", "set_tags", "set_entity_info_from_dictionary"})
_IDENTITY: Final = ("resource", "component", "connector", "connector_name")


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
        raise _Invalid("needs an event_pattern or an entity_pattern (without both it never matches)")
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
            raise _Invalid("change_entity needs config.resource, component, connector or connector_name")
        if not entity_pattern.is_empty:
            warnings.append(
                "change_entity with an entity_pattern: it matches only once the "
                "entity is known (Canopsis ignores it: fifo has no entity)"
            )
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
    sources = (
        {str(k): str(v.get("type")) if isinstance(v, Mapping) else "?" for k, v in external.items()}
        if isinstance(external, Mapping)
        else {}
    )
    if sources:
        warnings.append(
            f"external_data {sorted(sources)}: no data source is available "
            f"(Canopsis community has none either), the rule always fails"
        )
    windows, exdates = _parse_schedule(doc, warnings)
    rule = Rule(
        id=rule_id,
        type=cast(RuleType, kind),
        priority=priority,
        description=str(doc.get("description") or ""),
        author=str(doc.get("author") or ""),
        event_pattern=event_pattern,
        entity_pattern=entity_pattern,
        identity=identity,
        actions=actions,
        on_success=outcomes["on_success"],
        on_failure=outcomes["on_failure"],
        external_data=sources,
        windows=windows,
        exdates=exdates,
        tag_regexps=_tag_regexps(event_pattern),
    )
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
    if kind == "set_entity_info" and not is_info_value(value):
        raise _Invalid(
            f"{where} (set_entity_info {name!r}): value {value!r} is not a string, "
            f"whole number, boolean or list of strings"
        )
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


def _parse_schedule(
    doc: Mapping[str, Any], warnings: list[str]
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Activity windows: Canopsis' resolved ones when a che worker wrote them, else start/stop."""
    windows = []
    for start_key, stop_key in (("resolved_start", "resolved_stop"), ("next_resolved_start", "next_resolved_stop")):
        if doc.get(start_key) is not None and doc.get(stop_key) is not None:
            windows.append((_seconds(doc, start_key), _seconds(doc, stop_key)))
    if not windows and (doc.get("start") is not None or doc.get("stop") is not None):
        start, stop = _seconds(doc, "start"), _seconds(doc, "stop")
        if start >= stop:
            raise _Invalid(f"start {start} must be before stop {stop}")
        windows.append((start, stop))
        if doc.get("rrule"):
            warnings.append(f"rrule {doc['rrule']!r} is not expanded: active only from start to stop")
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


def is_info_value(value: Any) -> bool:
    """Canopsis `IsInfoValueValid`: string, whole number, bool or list of strings."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, (str, int, bool))
