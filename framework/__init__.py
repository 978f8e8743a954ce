"""The engine runtime: AMQP, settings, lifecycle, services. Engines and tools import from here
only (tests/unit/framework/test_public_api.py holds both the list and the rule)."""

from framework.config.chainfile import ChainEntry, load_chain, resolve_callable
from framework.config.settings import Settings, build_settings
from framework.engine import DROP, BatchOutcome, BeatOutput, Drop, Engine, Outcome, in_turns
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
from framework.message import Message
from framework.observability.runinfo import RUN_INFO_COLLECTION
from framework.observability.stats import Stats
from framework.runtime.embedded import EmbeddedChain
from framework.runtime.lease import holder_id
from framework.runtime.process import main, run
from framework.runtime.runner import Runner
from framework.services.connect import Services
from framework.services.influx import InfluxWriter, Point, PointWriter
from framework.services.mongo import DEFAULT_DATABASE, DUPLICATE_KEY, database_errors
from framework.transport.amqp import broker_errors
from framework.transport.memory import MemoryBroker, StoredMessage
from framework.transport.names import (
    ALL_EVENTS,
    DEAD_ENGINE_HEADER,
    DEAD_QUEUE_HEADER,
    DEAD_REASON_HEADER,
    EVENTS_EXCHANGE,
    dead_letter_queue,
    engine_queue,
)
from framework.urls import DEFAULT_AMQP_URL, DEFAULT_MONGO_URL, MASK, SECRET_NAME, mask_url

__all__ = [
    "ALL_EVENTS",
    "DEAD_ENGINE_HEADER",
    "DEAD_QUEUE_HEADER",
    "DEAD_REASON_HEADER",
    "DEFAULT_AMQP_URL",
    "DEFAULT_DATABASE",
    "DEFAULT_MONGO_URL",
    "DROP",
    "DUPLICATE_KEY",
    "EVENTS_EXCHANGE",
    "MASK",
    "RUN_INFO_COLLECTION",
    "SECRET_NAME",
    "BadEvent",
    "BatchOutcome",
    "BeatOutput",
    "BrokerUnavailable",
    "ChainEntry",
    "ConfigError",
    "DatabaseUnavailable",
    "Drop",
    "EmbeddedChain",
    "Engine",
    "EngineError",
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
    "Services",
    "Settings",
    "StalledConsumer",
    "Stats",
    "StoredMessage",
    "UndecodableBody",
    "broker_errors",
    "build_settings",
    "database_errors",
    "dead_letter_queue",
    "engine_queue",
    "holder_id",
    "in_turns",
    "load_chain",
    "main",
    "mask_url",
    "resolve_callable",
    "run",
]
