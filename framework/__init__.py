"""The engine runtime: AMQP, settings, lifecycle. Engines import from here only."""

from framework.cli import main, run
from framework.engine import DROP, BatchOutcome, Drop, Engine, Outcome, in_turns
from framework.errors import (
    BadEvent,
    BrokerUnavailable,
    ConfigError,
    DatabaseUnavailable,
    EngineError,
    InvalidEvent,
    MetricsUnavailable,
    PointsRefused,
    ServiceUnavailable,
    StalledConsumer,
    UndecodableBody,
)
from framework.influx import InfluxWriter, Point, PointWriter
from framework.memory import MemoryBroker
from framework.message import Message
from framework.runner import Runner, Stats
from framework.settings import Settings, build_settings

__all__ = [
    "DROP",
    "BadEvent",
    "BatchOutcome",
    "BrokerUnavailable",
    "ConfigError",
    "DatabaseUnavailable",
    "Drop",
    "Engine",
    "EngineError",
    "in_turns",
    "InfluxWriter",
    "InvalidEvent",
    "MemoryBroker",
    "Message",
    "MetricsUnavailable",
    "Outcome",
    "Point",
    "PointWriter",
    "PointsRefused",
    "Runner",
    "ServiceUnavailable",
    "Settings",
    "StalledConsumer",
    "Stats",
    "UndecodableBody",
    "build_settings",
    "main",
    "run",
]
