"""A sandboxed renderer for the Go text/template subset Canopsis uses: in event-filter rules (che)
and in scenario outputs, authors and webhooks (action).

Supported: text, `{{ pipeline }}` actions with `{{-`/`-}}` trim markers, `{{/* comments */}}`,
field chains from the root (`.Event.Component`, `$.RegexMatch.Output.load`), string (`"…"`,
raw `` `…` ``), integer and boolean literals, and pipelines of the Canopsis functions in
`FUNCTIONS`, where the previous value is passed as the last argument, as in Go:
`{{ .Event.Output | split "," 1 | trim }}` equals `{{ trim (split "," 1 .Event.Output) }}`.
Control actions (`if`, `range`, `with`…), variables, parentheses and Go's builtins (`index`,
`printf`…) are refused at compile time with a TemplateError.

Sandbox: a field chain only looks keys up in mappings (`dict`s built by the caller); it never
reads an attribute, so `{{ .Event.__class__ }}` is just a missing key. Functions are the fixed
table below; nothing is evaluated.

Missing keys: Canopsis HEAD parses templates with `missingkey=error` (GO/lib/canopsis/template/
template.go), so `{{ .Event.ExtraInfos.site }}` without a `site` extra fails and the rule takes
its failure outcome. That is the default here; `missingkey="default"` gives Go's default instead
(a missing key prints "<no value>"). A key present with a null value prints "<no value>" in both.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

__all__ = ["FUNCTIONS", "MissingKey", "Template", "TemplateError", "compile_template", "lookup", "render"]

MissingKey = Literal["error", "default"]
NO_VALUE: Final = "<no value>"


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; `reason` says why, in Go's words."""

    def __init__(self, template: str, reason: str) -> None:
        self.template = template
        self.reason = reason
        shown = template if len(template) <= 80 else template[:77] + "..."
        super().__init__(f"template {shown!r}: {reason}")


class _Missing:
    """Go's invalid reflect.Value: what a missing key yields under missingkey=default."""

    __slots__ = ()


_MISSING: Final = _Missing()


def _split(sep: object, index: object, text: object) -> str:
    # Canopsis: a non-string value or an index out of range gives "" (it only logs).
    # SEP and INDEX were type-checked by Template._run, as Go checks typed parameters.
    if not isinstance(text, str) or not isinstance(sep, str) or not isinstance(index, int):
        return ""
    parts = list(text) if sep == "" else text.split(sep)  # Go splits "" into characters
    return parts[index] if 0 <= index < len(parts) else ""


def _replace(pattern: object, new: object, text: object) -> str:
    if not isinstance(text, str) or not isinstance(pattern, str) or not isinstance(new, str):
        return ""
    try:
        regex = _compile_regex(pattern)
    except re.error:
        return ""  # Canopsis logs a bad regexp and returns ""; literal ones fail at compile time
    return regex.sub(lambda match: _expand(new, match), text)


FUNCTIONS: Final[Mapping[str, tuple[int, Callable[..., str]]]] = {
    # name: (number of arguments, the piped value counting as the last one; implementation)
    "split": (3, _split),  # split SEP INDEX: the INDEX-th part of the value cut at SEP
    "trim": (1, lambda v: v.strip() if isinstance(v, str) else ""),
    "replace": (3, _replace),  # replace REGEXP NEW: Go regexp, `$1`/`${name}` in NEW
    "uppercase": (1, lambda v: v.upper() if isinstance(v, str) else ""),
    "lowercase": (1, lambda v: v.lower() if isinstance(v, str) else ""),
}
_KEYWORDS: Final = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil"}
)
_IDENT: Final = r"[^\W\d]\w*"
_TOKEN: Final = re.compile(
    rf"""(?P<space>\s+)
    |(?P<end>(?:(?<=\s)-)?}}}})
    |(?P<field>\$(?:\.{_IDENT})*|\.(?:{_IDENT}(?:\.{_IDENT})*)?)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<number>-?\d+(?![\w.]))
    |(?P<ident>{_IDENT})
    |(?P<pipe>\|)""",
    re.VERBOSE,
)
_COMMENT: Final = re.compile(r"/\*.*?\*/(?:\s+-)?}}", re.DOTALL)


@dataclass(frozen=True)
class _Field:
    path: tuple[str, ...]


@dataclass(frozen=True)
class _Literal:
    value: str | int | bool


_Operand = _Field | _Literal


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Operand, ...]


_Command = _Operand | _Call
_Node = str | tuple[_Command, ...]  # text, or a pipeline


@dataclass(frozen=True)
class Template:
    """A compiled template; `render` may be called any number of times, concurrently."""

    text: str
    nodes: tuple[_Node, ...]

    def render(self, data: Mapping[str, object], *, missingkey: MissingKey = "error") -> str:
        """The template applied to `data` (nested mappings, lists and JSON scalars).

        Raises TemplateError on a missing key (unless missingkey="default"), on a field read
        through a non-mapping value, and on a function argument of the wrong type.
        """
        out: list[str] = []
        for node in self.nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            value: object = _MISSING
            for index, command in enumerate(node):
                value = self._run(command, data, missingkey, () if index == 0 else (value,))
            out.append(_go_print(value, top=True))
        return "".join(out)

    def _run(
        self, command: _Command, data: Mapping[str, object], missingkey: MissingKey, piped: tuple[object, ...]
    ) -> object:
        if isinstance(command, _Literal):
            return command.value
        if isinstance(command, _Field):
            return _walk(self.text, data, command.path, missingkey)
        args = [self._run(arg, data, missingkey, ()) for arg in command.args] + list(piped)
        # Go hands an invalid value to an interface{} parameter as nil.
        args = [None if arg is _MISSING else arg for arg in args]
        for position, arg in enumerate(args[:-1]):  # SEP, INDEX, REGEXP, NEW are typed in Go
            wanted = int if command.name == "split" and position == 1 else str
            if isinstance(arg, bool) or not isinstance(arg, wanted):
                raise TemplateError(
                    self.text,
                    f"wrong type for value; expected "
                    f"{'int' if wanted is int else 'string'}; got "
                    f"{_go_type(arg)} in argument {position + 1} of "
                    f"{command.name}",
                )
        return FUNCTIONS[command.name][1](*args)


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """Parse `text` once; the result is cached, as rules render the same templates per event.

    Raises TemplateError for bad syntax, unsupported actions, unknown functions, a wrong
    number of arguments and invalid literal regexps, e.g.
    `template '{{ .Event.Output | lower }}': function 'lower' not defined`.
    """
    nodes: list[_Node] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            nodes.append(chunk)
            break
        at = start + 2
        if text[at : at + 1] == "-" and text[at + 1 : at + 2] in (" ", "\t", "\r", "\n"):
            chunk, at = chunk.rstrip(" \t\r\n"), at + 2
        nodes.append(chunk)
        if text.startswith("/*", _skip_space(text, at)):  # Go allows "{{- /* … */ -}}" only
            comment = _COMMENT.match(text, _skip_space(text, at))
            if comment is None:
                raise TemplateError(text, "unclosed comment")
            pos, trim_next = comment.end(), comment.group().endswith("-}}")
            continue
        tokens, pos, trim_next = _lex_action(text, at)
        nodes.append(_parse_pipeline(text, tokens))
    return Template(text, tuple(node for node in nodes if node != ""))


def render(template: str, data: Mapping[str, object], *, missingkey: MissingKey = "error") -> str:
    """Compile (cached) and render `template` over `data`; see Template.render.

    >>> render("{{ .Event.Output | split \\" \\" 0 }}", {"Event": {"Output": "CPU 97%"}})
    'CPU'
    """
    return compile_template(template).render(data, missingkey=missingkey)


def lookup(data: Mapping[str, object], path: str) -> object:
    """The value at dotted `path` (`Event.ExtraInfos.env`), as Canopsis `utils.GetField` reads it
    for copy actions; raises TemplateError if a key is missing or a step is not a mapping."""
    return _walk(path, data, tuple(path.split(".")), "error")


# --- lexing and parsing --------------------------------------------------------------------------


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _lex_action(text: str, at: int) -> tuple[list[tuple[str, str]], int, bool]:
    """Tokens of the action starting at `at`, the position after its `}}`, and its right trim."""
    tokens: list[tuple[str, str]] = []
    while at < len(text):
        token = _TOKEN.match(text, at)
        if token is None:
            if text[at] == "(":
                raise TemplateError(text, "parenthesized pipelines are not supported")
            raise TemplateError(text, f"unexpected {text[at]!r} in command")
        at = token.end()
        kind = token.lastgroup or ""
        if kind == "end":
            return tokens, at, token.group().startswith("-")
        if kind != "space":
            tokens.append((kind, token.group()))
    raise TemplateError(text, "unclosed action")


def _parse_pipeline(text: str, tokens: list[tuple[str, str]]) -> tuple[_Command, ...]:
    if not tokens:
        raise TemplateError(text, "missing value for command")
    commands: list[_Command] = []
    segment: list[tuple[str, str]] = []
    for token in [*tokens, ("pipe", "|")]:
        if token[0] != "pipe":
            segment.append(token)
            continue
        if not segment:
            raise TemplateError(text, "missing command")
        commands.append(_parse_command(text, segment, piped=bool(commands)))
        segment = []
    return tuple(commands)


def _parse_command(text: str, words: list[tuple[str, str]], *, piped: bool) -> _Command:
    kind, word = words[0]
    if kind == "ident" and word not in ("true", "false"):
        if word in _KEYWORDS:
            raise TemplateError(
                text,
                f"{word!r} is not supported (only field chains, literals and the functions {', '.join(FUNCTIONS)})",
            )
        if word not in FUNCTIONS:
            raise TemplateError(text, f"function {word!r} not defined")
        args = tuple(_parse_operand(text, w) for w in words[1:])
        want, got = FUNCTIONS[word][0], len(args) + piped
        if want != got:
            raise TemplateError(text, f"wrong number of args for {word}: want {want} got {got}")
        if word == "replace" and args and isinstance(args[0], _Literal):
            try:
                _compile_regex(str(args[0].value))
            except re.error as exc:
                raise TemplateError(text, f"replace: invalid regexp {args[0].value!r}: {exc}") from None
        return _Call(word, args)
    if piped:
        raise TemplateError(text, f"{word} after '|' is not a function")
    if len(words) > 1:
        raise TemplateError(text, f"can't give argument to non-function {word}")
    return _parse_operand(text, words[0])


def _parse_operand(text: str, token: tuple[str, str]) -> _Operand:
    kind, word = token
    if kind == "field":
        return _Field(tuple(part for part in word.lstrip("$").split(".") if part))
    if kind == "string":
        try:
            return _Literal(json.loads(word))  # Go's escapes \n \t \" \\ \uXXXX
        except ValueError:
            raise TemplateError(text, f"unsupported escape in string literal {word}") from None
    if kind == "raw":
        return _Literal(word[1:-1])
    if kind == "number":
        return _Literal(int(word))
    if word in ("true", "false"):
        return _Literal(word == "true")
    raise TemplateError(text, f"{word!r} as an argument is not supported; use a pipeline")


# --- evaluation ----------------------------------------------------------------------------------


def _walk(text: str, data: object, path: tuple[str, ...], missingkey: MissingKey) -> object:
    value = data
    for name in path:
        if value is _MISSING:
            if missingkey == "error":
                raise TemplateError(text, f"nil data; no entry for key {name!r}")
            return _MISSING
        if value is None:
            raise TemplateError(text, f"nil pointer evaluating {name}")
        if not isinstance(value, Mapping):  # the sandbox: mappings only, never getattr
            raise TemplateError(text, f"can't evaluate field {name} in type {_go_type(value)}")
        if name in value:
            value = value[name]
        elif missingkey == "error":
            raise TemplateError(text, f"map has no entry for key {name!r}")
        else:
            value = _MISSING
    return value


def _go_type(value: object) -> str:
    if value is None or value is _MISSING:
        return "nil"
    names = {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}"}
    return names.get(type(value), "map" if isinstance(value, Mapping) else type(value).__name__)


def _go_print(value: object, *, top: bool = False) -> str:
    """`value` as Go's fmt %v prints what JSON decoding gives (maps sorted by key)."""
    if value is _MISSING or value is None:
        return NO_VALUE if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_print(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return "map[" + " ".join(f"{k}:{_go_print(v)}" for k, v in items) + "]"
    raise TypeError(f"cannot print a {type(value).__name__}")  # data is JSON: a caller bug


def _go_float(value: float) -> str:
    """Go's %v for a float64 ('g', shortest digits): 1.5e+06, 123456, 0.0001, 1e-05."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # digits before the decimal point
    minus = "-" if sign else ""
    if not -4 <= point - 1 < 6:  # Go: %e when the exponent is < -4 or >= 6 for shortest
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"


@functools.lru_cache(maxsize=512)
def _compile_regex(pattern: str) -> re.Pattern[str]:
    # Go RE2 spells named groups (?P<n>…) or (?<n>…); Python knows only the first.
    return re.compile(re.sub(r"\(\?<(?=[^=!])", "(?P<", pattern))


_REFERENCE: Final = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups give ""."""

    def one(ref: re.Match[str]) -> str:
        name = ref.group(1) or ref.group(2)
        if name is None:
            return "$"
        try:
            found = match.group(int(name) if name.isdigit() else name)
        except IndexError:  # no such group
            return ""
        return found or ""

    return _REFERENCE.sub(one, template)
