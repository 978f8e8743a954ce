"""The legacy Canopsis chain file `amqp2engines.conf`: one ChainEntry per `[engine:NAME]` section."""

from __future__ import annotations

import configparser
import importlib
import keyword
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from framework.errors import ConfigError
from framework.transport.names import ALL_EVENTS, EVENTS_EXCHANGE, engine_queue

__all__ = ["ChainEntry", "load_chain", "parse_chain", "resolve_callable"]

#: `next = Engine_axe` is already a queue name: it is kept, not prefixed again.
QUEUE_PREFIX: Final = engine_queue("")
SECTION_PREFIX: Final = "engine:"
#: Legacy engines beat every 60 s when `beat_interval` is absent or 0.
DEFAULT_BEAT_INTERVAL: Final = 60.0
#: AMQP queue names are short strings: at most 255 bytes.
MAX_QUEUE_NAME_BYTES: Final = 255
#: Binding used when a section names an exchange but no routing_keys: every event.
DEFAULT_ROUTING_KEYS: Final = (ALL_EVENTS,)

_KNOWN_KEYS: Final = frozenset(
    {
        "next",
        "next_balanced",
        "beat_interval",
        "event_processing",
        "beat_processing",
        "exchange_name",
        "routing_keys",
    }
)


def _queue_name(name: str) -> str:
    # Legacy files write `next = axe`; some write the queue itself (`Engine_axe`): both mean Engine_axe.
    return name if name.startswith(QUEUE_PREFIX) else engine_queue(name)


@dataclass(frozen=True)
class ChainEntry:
    """One engine of the chain: the queue it consumes, where it publishes and what it runs.

    `next` holds the names as written (`axe` or `Engine_axe`); `publish_queues` holds the queues.
    With `next_balanced`, each event goes to one of `publish_queues` in turn instead of to all.
    `options` keeps the section's other keys (`max_retries`, `params`, ...) as written.
    """

    name: str
    next: tuple[str, ...] = ()
    next_balanced: bool = False
    beat_interval: float = DEFAULT_BEAT_INTERVAL
    event_processing: str | None = None
    beat_processing: str | None = None
    exchange_name: str | None = None
    routing_keys: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def consume_queue(self) -> str:
        """`Engine_<name>`: the queue this engine reads."""
        return _queue_name(self.name)

    @property
    def publish_queues(self) -> tuple[str, ...]:
        """`Engine_<n>` for each n in `next`, in order."""
        return tuple(_queue_name(n) for n in self.next)


def load_chain(path: str | os.PathLike[str]) -> dict[str, ChainEntry]:
    """Read and parse the chain file at `path`; see `parse_chain`.

    Raises ConfigError when the file is missing, unreadable or wrong.
    """
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(f"chain file {source!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"chain file {source!r} cannot be read: {exc}") from None
    return parse_chain(text, source)


def parse_chain(text: str, source: str = "<string>") -> dict[str, ChainEntry]:
    """Parse chain-file text into {engine name: ChainEntry}, in file order.

    Sections not named `engine:...` are ignored; keys of [DEFAULT] apply to every section, as
    with the legacy ConfigParser. `source` names the text in error messages. Raises ConfigError
    with `<source> [<section>] <key>: <problem> (<what to do>)`.
    """
    # Python 2's ConfigParser, which read these files, stripped ` ; comment` at the end of a
    # value but never `#`: `routing_keys = #` is a value.
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(_describe_syntax_error(source, text, exc)) from None
    chain: dict[str, ChainEntry] = {}
    for section in parser.sections():
        if section.startswith(SECTION_PREFIX):
            entry = _parse_section(source, section, parser[section])
            chain[entry.name] = entry
    return chain


def resolve_callable(dotted: str, what: str) -> Callable[..., Any]:
    """Import `package.module.function` and return the function.

    `what` names the setting in messages, e.g. "[engine:che] event_processing". Raises
    ConfigError if the path is malformed, cannot be imported or is not callable.
    """
    problem = _dotted_path_problem(dotted)
    if problem:
        raise ConfigError(f"{what}: {problem}")
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what}: cannot import {dotted!r}: {_one_line(exc)}") from exc
    try:
        target: object = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"{what}: cannot import {dotted!r}: module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if not callable(target):
        raise ConfigError(f"{what}: {dotted!r} is a {type(target).__name__}, not a function")
    return target


def _parse_section(source: str, section: str, values: Mapping[str, str]) -> ChainEntry:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source} [{section}] {key}: {problem}")

    name = section[len(SECTION_PREFIX) :]
    if not name:
        raise ConfigError(f"{source} [{section}]: no engine name after 'engine:' (write [engine:NAME])")
    if _has_space(name):
        raise ConfigError(f"{source} [{section}]: engine name {name!r} contains a space (remove it)")
    if len(_queue_name(name).encode()) > MAX_QUEUE_NAME_BYTES:
        raise ConfigError(f"{source} [{section}]: engine name is too long for an AMQP queue name")

    next_names = _split_list(values.get("next", ""), "queue name", lambda p: fail("next", p))
    _check_next_queues(values.get("next", ""), next_names, lambda p: fail("next", p))

    exchange_name = values.get("exchange_name")
    if exchange_name is not None:
        exchange_name = exchange_name.strip()
        if not exchange_name or _has_space(exchange_name):
            raise fail(
                "exchange_name",
                f"{exchange_name!r} is not an exchange name (write e.g. {EVENTS_EXCHANGE}, or remove the line)",
            )

    routing_keys: tuple[str, ...] = DEFAULT_ROUTING_KEYS if exchange_name else ()
    raw_keys = values.get("routing_keys")
    if raw_keys is not None:
        routing_keys = _split_list(raw_keys, "routing key", lambda p: fail("routing_keys", p))
        if not routing_keys:
            raise fail("routing_keys", f"no binding key (write routing_keys = {ALL_EVENTS} for every event)")
        if exchange_name is None:
            raise fail(
                "routing_keys",
                f"{raw_keys.strip()!r} has no exchange to bind to "
                f"(add exchange_name = {EVENTS_EXCHANGE}, or remove routing_keys)",
            )

    return ChainEntry(
        name=name,
        next=next_names,
        next_balanced=_parse_bool(values.get("next_balanced"), lambda p: fail("next_balanced", p)),
        beat_interval=_parse_seconds(values.get("beat_interval"), lambda p: fail("beat_interval", p)),
        event_processing=_parse_dotted(values.get("event_processing"), lambda p: fail("event_processing", p)),
        beat_processing=_parse_dotted(values.get("beat_processing"), lambda p: fail("beat_processing", p)),
        exchange_name=exchange_name,
        routing_keys=routing_keys,
        options=MappingProxyType({k: v for k, v in values.items() if k not in _KNOWN_KEYS}),
    )


_Fail = Callable[[str], ConfigError]


def _split_list(raw: str, what: str, fail: _Fail) -> tuple[str, ...]:
    """`a, b,c` → ("a", "b", "c"); an empty value is an empty tuple."""
    if not raw.strip():
        return ()
    items = tuple(item.strip() for item in raw.split(","))
    shown = raw.strip()
    for item in items:
        if not item:
            raise fail(f"empty {what} in {shown!r} (remove the extra comma)")
        if _has_space(item):
            raise fail(f"{item!r} in {shown!r} contains a space (separate names with commas)")
    return items


def _check_next_queues(raw: str, names: tuple[str, ...], fail: _Fail) -> None:
    seen: set[str] = set()
    for name in names:
        queue = _queue_name(name)
        if queue == QUEUE_PREFIX:
            raise fail(f"{name!r} has no engine name after {QUEUE_PREFIX!r} (write e.g. axe)")
        if len(queue.encode()) > MAX_QUEUE_NAME_BYTES:
            raise fail(f"{name!r} is too long for an AMQP queue name")
        if queue in seen:
            raise fail(f"queue {queue} is listed twice in {raw.strip()!r} (remove one)")
        seen.add(queue)


def _parse_bool(raw: str | None, fail: _Fail) -> bool:
    if raw is None:
        return False
    state = configparser.ConfigParser.BOOLEAN_STATES.get(raw.strip().lower())
    if state is None:
        raise fail(f"{raw.strip()!r} is not a boolean (write true or false)")
    return state


def _parse_seconds(raw: str | None, fail: _Fail) -> float:
    if raw is None:
        return DEFAULT_BEAT_INTERVAL
    try:
        seconds = float(raw)
    except ValueError:
        raise fail(f"{raw.strip()!r} is not a number of seconds (write e.g. 60)") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise fail(f"{raw.strip()!r} is not a number of seconds (write a positive number, e.g. 60)")
    # Legacy engine-launcher read 0 as "use the default", not "never beat".
    return seconds or DEFAULT_BEAT_INTERVAL


def _parse_dotted(raw: str | None, fail: _Fail) -> str | None:
    if raw is None:
        return None
    dotted = raw.strip()
    problem = _dotted_path_problem(dotted)
    if problem:
        raise fail(problem)
    return dotted


def _dotted_path_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    if len(parts) < 2 or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return f"{dotted!r} is not a dotted path module.function (write e.g. package.module.function)"
    return None


def _describe_syntax_error(source: str, text: str, exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return (
            f"{source} line {exc.lineno}: {exc.line.strip()!r} comes before any section "
            "(put it under an [engine:NAME] header)"
        )
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{source} line {exc.lineno}: section [{exc.section}] appears twice (merge the two)"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{source} [{exc.section}] {exc.option}: set twice, again on line {exc.lineno} (keep one)"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        # Quote the line from the text: what `errors` holds differs between Python versions.
        lineno = exc.errors[0][0]
        line = text.split("\n")[lineno - 1].strip()
        return f"{source} line {lineno}: cannot parse {line!r} (write key = value)"
    return f"{source}: {_one_line(exc)}"


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
