"""Our exceptions, grouped by what the caller does about them.

    EngineError
    ├── ConfigError (ValueError)         bad flag, variable or file: one line on stderr, exit 2
    ├── BadEvent (ValueError)            this message can never be processed: dead-letter it
    │   ├── UndecodableBody              not JSON, not an object, too large
    │   ├── InvalidEvent                 JSON object refused by the message model
    │   └── PointsRefused                InfluxDB refused a point made from it (400: bad line, type conflict)
    ├── ServiceUnavailable               a service is down: back off and retry, never dead-letter
    │   ├── BrokerUnavailable
    │   ├── DatabaseUnavailable          MongoDB
    │   └── MetricsUnavailable           InfluxDB (no answer, 5xx, database missing)
    └── StalledConsumer                  connected, messages waiting, none delivered: exit non-zero

Any other exception raised by an engine's handler is a bug: its traceback is logged once and the
message is dead-lettered as `handler error: <Type>: <message>`.
"""

from __future__ import annotations

__all__ = [
    "BadEvent",
    "BrokerUnavailable",
    "ConfigError",
    "DatabaseUnavailable",
    "EngineError",
    "InvalidEvent",
    "MetricsUnavailable",
    "PointsRefused",
    "ServiceUnavailable",
    "StalledConsumer",
    "UndecodableBody",
]


class EngineError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(EngineError, ValueError):
    """The configuration is wrong; the message names the flag or variable and the value."""


class BadEvent(EngineError, ValueError):
    """A message that no retry can fix; it goes to the dead-letter queue with `reason`."""

    def __init__(self, reason: str, body: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body


class UndecodableBody(BadEvent):
    """The body is not a JSON object (or is too large to try)."""


class InvalidEvent(BadEvent):
    """The body is a JSON object that fails validation."""


class PointsRefused(BadEvent):
    """InfluxDB refused a point made from the event; `line` is the line protocol it names, if any."""

    def __init__(self, reason: str, line: str | None = None) -> None:
        super().__init__(reason)
        self.line = line


class ServiceUnavailable(EngineError):
    """A service the engine depends on did not answer; the work is retried after a delay."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


class BrokerUnavailable(ServiceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__("RabbitMQ", detail)


class DatabaseUnavailable(ServiceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__("MongoDB", detail)


class MetricsUnavailable(ServiceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__("InfluxDB", detail)


class StalledConsumer(EngineError):
    """Connected, messages are waiting, yet nothing arrives: the process exits so systemd restarts it."""
