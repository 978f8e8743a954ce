"""Run any `[engine:NAME]` section of amqp2engines.conf: its event_processing and beat_processing.

The functions keep the legacy calling convention, so old processing code runs unchanged:
`event_processing(engine=, event=, msg=, logger=, **params)` returns a dict that replaces the
event, DROP (or the legacy -1) to drop it, or anything else (None) to forward the original;
`beat_processing(engine=, logger=)` may return events, which go to the head of the chain.
Either may be `async def`; plain functions run on the event loop, so they must be quick.
"""

from __future__ import annotations

import ast
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from engines.model import Event
from framework import (
    DROP,
    ChainEntry,
    ConfigError,
    Engine,
    Outcome,
    Settings,
    load_chain,
    resolve_callable,
)

__all__ = ["LEGACY_DROP", "DynamicEngine"]

#: The legacy engines' DROP value.
LEGACY_DROP: Final = -1


class DynamicEngine(Engine[Event]):
    """Runs the event_processing/beat_processing of one amqp2engines.conf section (--name, --chain-file)."""

    name = "dynamic"
    message_model = Event

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if settings.chain_file is None:
            raise ConfigError("--chain-file is required: the dynamic engine runs a section of amqp2engines.conf")
        entry = load_chain(settings.chain_file)[settings.name]  # presence checked by build_settings
        self.entry: ChainEntry = entry
        self.params = _params(entry)
        self.logger = logging.getLogger(f"engines.dynamic.{settings.name}")
        where = f"{settings.chain_file} [engine:{settings.name}]"
        self._event_processing = _optional(entry.event_processing, f"{where} event_processing")
        self._beat_processing = _optional(entry.beat_processing, f"{where} beat_processing")

    async def handle(self, event: Event) -> Outcome:
        if self._event_processing is None:
            return event
        payload = event.model_dump(mode="json", exclude_unset=True)
        result = await _call(
            self._event_processing, engine=self, event=payload, msg=event, logger=self.logger, **self.params
        )
        if result is DROP or result == LEGACY_DROP:
            return DROP
        if isinstance(result, Mapping):
            return Event.model_validate(result, context={"now": event.timestamp})
        return event

    async def beat(self) -> list[Event]:
        if self._beat_processing is None:
            return []
        result = await _call(self._beat_processing, engine=self, logger=self.logger)
        if not isinstance(result, Iterable) or isinstance(result, (str, bytes, Mapping)):
            return []
        return [Event.model_validate(item) for item in result]


def _optional(dotted: str | None, what: str) -> Callable[..., Any] | None:
    return resolve_callable(dotted, what) if dotted else None


def _params(entry: ChainEntry) -> dict[str, Any]:
    """`params` is a Python literal in legacy files (a dict of keyword arguments)."""
    raw = entry.options.get("params")
    if not raw:
        return {}
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"[engine:{entry.name}] params: {raw!r} is not a Python dict literal")
    return value


async def _call(function: Callable[..., Any], **kwargs: Any) -> Any:
    result = function(**kwargs)
    return await result if inspect.isawaitable(result) else result
