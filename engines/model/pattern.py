"""The Canopsis pattern language (event, entity and alarm patterns): parse once, match fast.

Semantics follow Canopsis HEAD `GO/lib/canopsis/pattern/conditions.go` and its matchers
(`pattern/event.go`, `pattern/match/entity.go`, `pattern/match/alarm.go`); see `Condition`.

Over 400 lines on purpose: parsing compiles each condition into the check that matching runs,
so both halves follow one table of condition and field types and are read side by side.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, cast

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from engines.model.entity import Entity
from engines.model.event import Event

__all__ = ["Condition", "Match", "Pattern", "PatternError", "entity_document", "event_document"]

FieldType = Literal["string", "int", "bool", "string_array"]
FIELD_TYPES: Final[tuple[str, ...]] = ("string", "int", "bool", "string_array")
CONDITION_TYPES: Final[tuple[str, ...]] = (
    "eq",
    "neq",
    "gt",
    "lt",
    "regexp",
    "contain",
    "not_contain",
    "begin_with",
    "not_begin_with",
    "end_with",
    "not_end_with",
    "has_every",
    "has_one_of",
    "has_not",
    "is_empty",
    "exist",
    "relative_time",
    "absolute_time",
    "is_one_of",
    "is_not_one_of",
)
#: Canopsis converts a relative_time duration to seconds (`DurationWithUnit.To("s")`), which has
#: no factor for months ("M") and years ("y"): such a condition can never match there.
UNIT_SECONDS: Final[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_NO: Final = object()  # a reader's answer for "this value is not of the condition's kind"
#: Which field types each condition type accepts (Canopsis `MatchString`, `MatchInt`, ...).
_APPLIES_TO: Final[dict[str, tuple[str, ...]]] = {
    "eq": ("string", "int", "bool"),
    "neq": ("string", "int"),
    "gt": ("int",),
    "lt": ("int",),
    "exist": ("string",),
    "is_empty": ("string_array",),
    "has_every": ("string_array",),
    "has_one_of": ("string_array",),
    "has_not": ("string_array",),
    "relative_time": (),
    "absolute_time": (),
}

Check = Callable[[Any, float], object]  # truthy when the condition holds (an re.Match for regexp)
GroupKeys = tuple[tuple[str, int], ...]  # (key in Match.regex_groups[field], regexp group index)
Step = tuple[tuple[str, ...], str, Check, GroupKeys]  # (path, field, check, group keys)
Plan = dict[str, tuple[tuple[Step, ...], ...]]


class PatternError(ValueError):
    """A pattern refused at parse time; the message says where, on which field, and why.

    Example: `event_pattern[0][1] (field state): 'gt' needs a number, got 'high'`.
    """

    def __init__(
        self,
        problem: str,
        *,
        what: str = "pattern",
        group: int | None = None,
        condition: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.what = what
        self.group = group
        self.condition = condition
        self.field = field
        where = what + "".join(f"[{i}]" for i in (group, condition) if i is not None)
        super().__init__(f"{where}{f' (field {field})' if field else ''}: {problem}")


@dataclass(frozen=True)
class Match:
    """A successful match: regexp groups captured by the matching group, per field.

    `regex_groups["output"]["load"]` is what Canopsis templates read as `.RegexMatch.Output.load`.
    Named groups appear by name, unnamed ones by their rank among unnamed groups ("1", "2"…), a
    group that took no part in the match as "" (Canopsis `FindStringSubmatchMap`). Only `regexp`
    conditions with at least one group contribute.
    """

    regex_groups: Mapping[str, Mapping[str, str]]


class Condition(BaseModel):
    """One `{field, field_type?, cond: {type, value}}`, validated and compiled on construction.

    What each type applies to (value shape in brackets):
      * strings: eq/neq [str], regexp/contain/not_contain/begin_with/not_begin_with/end_with/
        not_end_with [str], is_one_of/is_not_one_of [non-empty list of str], exist [bool];
      * whole numbers: eq/neq/gt/lt [number]; gt/lt also take a duration [{"value", "unit"}],
        compared in seconds (alarm `v.duration`); booleans: eq [bool];
      * string arrays: has_every/has_one_of/has_not [non-empty list of str], is_empty [bool];
      * times (unix seconds, or datetime, naive = UTC): relative_time [{"value": N, "unit":
        s|m|h|d|w}] holds when the time is strictly after `now` - N units; absolute_time
        [{"from", "to"}] when from < time < to (both strict, as Go's After/Before).
    `regexp` is searched (not anchored); Go's `(?<name>…)` and `\\z` are translated, and `\\d \\w
    \\s \\b` are ASCII-only as in Go. The substring types compare plainly (Canopsis builds escaped
    regexps; its `^((?!x).)*$` for not_contain also refuses any multi-line value: not copied).

    Without `field_type` (built-in fields) a missing or null value reads as Go's zero value: ""
    for string conditions (so neq, not_*, is_not_one_of and exist false hold), 0 for numbers,
    false for eq on booleans, [] for arrays (has_not and is_empty true hold); a missing time never
    matches. `exist` is true when the value is present, not null and not "". With `field_type`
    (custom fields `extra.*`, `infos.*`…) a missing, null or wrongly typed value never matches,
    whatever the condition (Canopsis `MatchInfoCondition`). A present value of the wrong type
    never matches either (eq "2" on an int `state`). Integral floats count as whole numbers,
    booleans do not.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    field: str
    field_type: FieldType | None = None
    type: str
    value: Any = None

    _path: tuple[str, ...] = PrivateAttr()
    _check: Check = PrivateAttr()
    _group_keys: GroupKeys = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _validate(cls, data: Any) -> Any:
        if isinstance(data, dict):
            try:
                field_type, _, value = _kind_and_value(data)
            except ValueError as exc:
                reason = {"reason": str(exc)}  # through a placeholder: braces are not a template
                raise PydanticCustomError("invalid_condition", "{reason}", reason) from None
            data = {**data, "field_type": field_type, "value": value}
        return data

    def __eq__(self, other: object) -> bool:
        # pydantic's __eq__ also compares private attributes: these compiled closures never are.
        if not isinstance(other, Condition):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def model_post_init(self, context: Any, /) -> None:
        _, kind, value = _kind_and_value(self.model_dump())
        self._path = tuple(self.field.split("."))
        self._check, self._group_keys = _compile(self.type, kind, self.field_type, value)


class Pattern(BaseModel):
    """A list of groups: the pattern matches when every condition of at least one group holds."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    groups: tuple[tuple[Condition, ...], ...] = ()

    _plan: tuple[tuple[Step, ...], ...] = PrivateAttr()  # copied by model_copy, unlike slots

    def model_post_init(self, context: Any, /) -> None:
        # Flattened once so `match` touches no pydantic machinery.
        self._plan = tuple(tuple((c._path, c.field, c._check, c._group_keys) for c in group) for group in self.groups)

    def __eq__(self, other: object) -> bool:
        return self.groups == other.groups if isinstance(other, Pattern) else NotImplemented

    @classmethod
    def parse(cls, raw: Any, *, what: str = "pattern") -> Pattern:
        """Build a pattern from its Canopsis JSON form (list of lists of conditions).

        None and [] give the empty pattern. Raises PatternError naming `what`, the group and
        condition indexes, the field and the problem.
        """
        if raw is None:
            return cls()
        if not isinstance(raw, list):
            raise PatternError(f"must be a list of groups, got {_show(raw)}", what=what)
        groups = []
        for i, raw_group in enumerate(raw):
            if not isinstance(raw_group, list) or not raw_group:
                problem = f"must be a non-empty list of conditions, got {_show(raw_group)}"
                raise PatternError(problem, what=what, group=i)
            groups.append(tuple(_parse_condition(c, what, i, j) for j, c in enumerate(raw_group)))
        return cls(groups=tuple(groups))

    @property
    def is_empty(self) -> bool:
        """True for a pattern without groups; `match` never matches it.

        Canopsis treats an empty pattern as "match everything" in some places and as "not set" in
        others (an event-filter rule with neither pattern never matches): callers decide.
        """
        return not self.groups

    def match(self, doc: Mapping[str, Any], *, now: float) -> Match | None:
        """Match `doc` (e.g. `event_document(event)`), `now` in unix seconds for relative_time.

        Fields are dotted paths into nested mappings (`v.state.val`, `infos.env`); when a key is
        missing, the rest of the path is also tried as one key (`extra.a.b` finds extra["a.b"]).
        Returns None when no group matches, else the regexp groups of the first matching group.
        """
        # Read past pydantic's __getattr__, which costs more than a whole group of conditions.
        plan = cast(Plan, self.__pydantic_private__)["_plan"]
        for group in plan:
            captured: dict[str, dict[str, str]] = {}
            for path, field, check, group_keys in group:
                result = check(_lookup(doc, path), now)
                if not result:
                    break
                if group_keys and isinstance(result, re.Match):
                    found = captured.setdefault(field, {})  # two regexps on one field: merged
                    for key, index in group_keys:
                        found[key] = result.group(index) or ""
            else:
                return Match(captured)
        return None


def event_document(event: Event) -> dict[str, Any]:
    """The event as patterns see it: declared fields by JSON name, enums as plain values, and
    "extra" = the event's unknown top-level keys merged with a received `extra` object (Canopsis
    `InjectExtraInfos`), so `extra.<key>` resolves. A missing `state` reads as 0 in matches."""
    doc = dict(event.__dict__)  # pydantic keeps exactly the declared fields there
    doc["source_type"] = event.source_type.value
    doc["state"] = None if event.state is None else int(event.state)
    doc["extra"] = {**(event.model_extra or {}), **(event.extra or {})}
    return doc


def entity_document(entity: Entity) -> dict[str, Any]:
    """The entity as patterns see it: `_id`, name, category, type, connector, component,
    impact_level, last_event_date, enabled, and infos / component_infos as name → value."""
    return {
        "_id": entity.id,
        "name": entity.name,
        "category": entity.category,
        "type": entity.type.value,
        "connector": entity.connector,
        "component": entity.component,
        "impact_level": entity.impact_level,
        "last_event_date": entity.last_event_date,
        "enabled": entity.enabled,
        "infos": entity.info_values(),
        "component_infos": {name: info.value for name, info in entity.component_infos.items()},
    }


# --- parsing -------------------------------------------------------------------------------------


def _parse_condition(raw: Any, what: str, group: int, index: int) -> Condition:
    where: dict[str, Any] = {"what": what, "group": group, "condition": index}
    if not isinstance(raw, dict):
        raise PatternError(f"must be an object with field and cond, got {_show(raw)}", **where)
    field = raw.get("field")
    if not isinstance(field, str) or not field:
        raise PatternError(f"'field' must be a non-empty string, got {_show(field)}", **where)
    cond = raw.get("cond")
    if not isinstance(cond, dict):
        problem = f"'cond' must be an object with type and value, got {_show(cond)}"
        raise PatternError(problem, field=field, **where)
    data = {
        "field": field,
        "field_type": raw.get("field_type") or None,
        "type": cond.get("type"),
        "value": cond.get("value"),
    }
    try:
        return Condition.model_validate(data)
    except ValidationError as exc:
        raise PatternError(str(exc.errors()[0]["msg"]), field=field, **where) from None


def _kind_and_value(data: Mapping[str, Any]) -> tuple[str | None, str, Any]:
    """Check a condition; return (field_type, kind the field is read as, normalised value).

    The kind is a field type, "time", or "ref" (exist without field_type: any present value).
    """
    field, field_type = data.get("field"), data.get("field_type")
    ctype, value = data.get("type"), data.get("value")
    if not isinstance(field, str) or not field:
        raise ValueError(f"'field' must be a non-empty string, got {_show(field)}")
    if field_type is not None and field_type not in FIELD_TYPES:
        raise ValueError(f"unknown field_type {_show(field_type)}, not one of {FIELD_TYPES}")
    if ctype not in CONDITION_TYPES:
        raise ValueError(f"unknown condition type {_show(ctype)}, not one of {CONDITION_TYPES}")
    applies = _APPLIES_TO.get(ctype, ("string",))
    if field_type is not None and field_type not in applies:
        raise ValueError(f"{ctype!r} does not apply to field_type {field_type!r}")
    kind = field_type or (applies[0] if applies else "time")
    if ctype in ("eq", "neq", "gt", "lt"):
        if ctype in ("gt", "lt") and field_type is None and isinstance(value, dict):
            return None, "int", _duration(ctype, value)[0]  # alarm durations (v.duration)
        kinds = (field_type,) if field_type else applies  # else the value's JSON type decides
        for candidate in kinds:
            if (found := _read(candidate, value)) is not _NO:
                return field_type, candidate, found
        number = "a whole number" if isinstance(value, float) else "a number"
        wanted = [{"string": "a string", "int": number, "bool": "a boolean"}[k] for k in kinds]
        needs = ", ".join(wanted[:-1]) + " or " * (len(wanted) > 1) + wanted[-1]
        raise ValueError(f"{ctype!r} needs {needs}, got {_show(value)}")
    if ctype in ("is_empty", "exist"):
        if not isinstance(value, bool):
            raise ValueError(f"{ctype!r} needs true or false, got {_show(value)}")
        return field_type, "ref" if ctype == "exist" and field_type is None else kind, value
    if ctype in ("is_one_of", "is_not_one_of", "has_every", "has_one_of", "has_not"):
        if not value or _read("string_array", value) is _NO:
            raise ValueError(f"{ctype!r} needs a non-empty list of strings, got {_show(value)}")
        return field_type, kind, list(value)
    if ctype == "relative_time":
        return field_type, kind, _duration(ctype, value)[0]
    if ctype == "absolute_time":
        bounds = value if isinstance(value, dict) else {}
        ends = [_read("int", bounds.get(k)) for k in ("from", "to")]
        if _NO in ends or bounds.keys() != {"from", "to"}:
            raise ValueError(f"'absolute_time' needs {{'from': unix seconds, 'to': unix seconds}}, got {_show(value)}")
        return field_type, kind, {"from": ends[0], "to": ends[1]}
    if not isinstance(value, str):
        raise ValueError(f"{ctype!r} needs a string, got {_show(value)}")
    if ctype == "regexp":
        try:
            with warnings.catch_warnings():  # Python reads "[[:alpha:]]" as a nested set: refuse
                warnings.simplefilter("error", FutureWarning)
                re.compile(_python_regex(value), re.ASCII)
        except (re.error, FutureWarning) as exc:
            raise ValueError(f"invalid regular expression {_show(value)}: {exc}") from None
    return field_type, kind, value


def _duration(ctype: str, value: Any) -> tuple[dict[str, Any], int]:
    """A Canopsis `{"value": N, "unit": "s|m|h|d|w"}`, normalised, and its length in seconds."""
    amount: Any = _read("int", value.get("value")) if isinstance(value, dict) else _NO
    if amount is _NO or value.keys() != {"value", "unit"} or not isinstance(value["unit"], str):
        raise ValueError(f"{ctype!r} needs {{'value': N, 'unit': 's|m|h|d|w'}}, got {_show(value)}")
    unit = value["unit"]
    if unit not in UNIT_SECONDS:
        raise ValueError(
            f"{ctype!r} unit {unit!r} is not one of s, m, h, d, w (Canopsis cannot convert months or years to seconds)"
        )
    seconds: int = amount * UNIT_SECONDS[unit]
    return {"value": amount, "unit": unit}, seconds


#: Tokens to rewrite, and what to skip whole: escapes and character classes ("]" first is literal).
_GO_SYNTAX: Final = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]|\(\?<(?=[^=!])")


def _python_regex(expr: str) -> str:
    """Go RE2 syntax to Python's: `(?<name>` → `(?P<name>`, `\\z` → `\\Z` (outside classes)."""
    fixes = {"(?<": "(?P<", "\\z": "\\Z"}
    return _GO_SYNTAX.sub(lambda token: fixes.get(token.group(), token.group()), expr)


# --- matching ------------------------------------------------------------------------------------

#: test(value read as the condition's kind, operand, now); truthy when the condition holds.
_TESTS: Final[dict[str, Callable[[Any, Any, float], object]]] = {
    "eq": lambda v, x, now: v == x,
    "neq": lambda v, x, now: v != x,
    "gt": lambda v, x, now: v > x,
    "lt": lambda v, x, now: v < x,
    "regexp": lambda v, x, now: x.search(v),  # the re.Match carries the groups
    "contain": lambda v, x, now: x in v,
    "not_contain": lambda v, x, now: x not in v,
    "begin_with": lambda v, x, now: v.startswith(x),
    "not_begin_with": lambda v, x, now: not v.startswith(x),
    "end_with": lambda v, x, now: v.endswith(x),
    "not_end_with": lambda v, x, now: not v.endswith(x),
    "is_one_of": lambda v, x, now: v in x,
    "is_not_one_of": lambda v, x, now: v not in x,
    "has_every": lambda v, x, now: x.issubset(v),
    "has_one_of": lambda v, x, now: not x.isdisjoint(v),
    "has_not": lambda v, x, now: x.isdisjoint(v),
    "is_empty": lambda v, x, now: (len(v) == 0) == x,
    "exist": lambda v, x, now: (v is not None and v != "") == x,
    "relative_time": lambda v, x, now: v > now - x,
    "absolute_time": lambda v, x, now: x[0] < v < x[1],
}
#: What a missing or null built-in field reads as: Go's zero value of the field's type.
_ZERO: Final[dict[str, Any]] = {
    "string": "",
    "int": 0,
    "bool": False,
    "string_array": (),
    "ref": None,
}


def _compile(ctype: str, kind: str, field_type: str | None, value: Any) -> tuple[Check, GroupKeys]:
    """The check for one validated condition, and the regexp groups it captures."""
    test, operand = _TESTS[ctype], value
    keys: GroupKeys = ()
    if ctype == "regexp":
        operand = re.compile(_python_regex(value), re.ASCII)
        names = {index: name for name, index in operand.groupindex.items()}
        unnamed = iter(range(1, operand.groups + 1))  # Canopsis numbers unnamed groups apart
        keys = tuple((names.get(i) or str(next(unnamed)), i) for i in range(1, operand.groups + 1))
    elif isinstance(value, list):
        operand = frozenset(value)
    elif ctype == "absolute_time":
        operand = (value["from"], value["to"])
    elif isinstance(value, dict):  # relative_time, or gt/lt on a duration
        operand = _duration(ctype, value)[1]
    # Typed (custom) fields never match when missing (Canopsis MatchInfoCondition); times neither.
    missing = _NO if field_type is not None else _ZERO.get(kind, _NO)

    def check(raw: Any, now: float) -> object:
        found = missing if raw is None else _read(kind, raw)
        return found is not _NO and test(found, operand, now)

    return check, keys


def _read(kind: str, raw: Any) -> Any:
    """`raw` as a value of `kind`, or _NO (Canopsis GetStringValue, GetIntValue, …)."""
    if kind in ("string", "bool"):
        return raw if isinstance(raw, str if kind == "string" else bool) else _NO
    if kind in ("int", "time"):
        if isinstance(raw, bool):
            return _NO
        if isinstance(raw, int) or (kind == "time" and isinstance(raw, float)):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if kind == "time" and isinstance(raw, datetime):
            aware = raw if raw.tzinfo else raw.replace(tzinfo=UTC)  # pymongo: UTC
            return aware.timestamp()
        return _NO
    if kind == "string_array":
        ok = isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw)
        return raw if ok else _NO
    return raw  # "ref": any present value


def _lookup(doc: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for depth, key in enumerate(path):
        if type(value) is not dict and not isinstance(value, Mapping):  # the ABC check is slow
            return None
        if key in value:
            value = value[key]
        else:  # keys may contain dots themselves: extra["a.b"] for `extra.a.b`
            return value.get(".".join(path[depth:])) if depth < len(path) - 1 else None
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
