"""What the framework offers engines and tools, and the rule that they take it from `framework` only.

The list is written out: a name added to or removed from the public surface is a decision that
shows in review, not a side effect of an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import framework

ROOT = Path(__file__).resolve().parents[3]

PUBLIC = [
    "ALL_EVENTS",
    "BadEvent",
    "BatchOutcome",
    "BeatOutput",
    "BrokerUnavailable",
    "ChainEntry",
    "ConfigError",
    "DEAD_ENGINE_HEADER",
    "DEAD_QUEUE_HEADER",
    "DEAD_REASON_HEADER",
    "DEFAULT_AMQP_URL",
    "DEFAULT_DATABASE",
    "DEFAULT_MONGO_URL",
    "DROP",
    "DUPLICATE_KEY",
    "DatabaseUnavailable",
    "Drop",
    "EVENTS_EXCHANGE",
    "EmbeddedChain",
    "Engine",
    "EngineError",
    "InfluxWriter",
    "InvalidEvent",
    "MASK",
    "MemoryBroker",
    "Message",
    "MetricsUnavailable",
    "Outcome",
    "Point",
    "PointWriter",
    "PointsRefused",
    "RUN_INFO_COLLECTION",
    "Runner",
    "SECRET_NAME",
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


def test_the_public_surface_is_the_list_and_each_name_exists() -> None:
    assert sorted(framework.__all__) == sorted(PUBLIC)
    assert all(hasattr(framework, name) for name in PUBLIC)


def test_engines_tools_and_benchmarks_import_the_framework_only_through_its_public_surface() -> None:
    offenders = []
    for folder in ("engines", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("framework."):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
                elif isinstance(node, ast.Import):
                    offenders += [
                        f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}"
                        for a in node.names
                        if a.name.startswith("framework.")
                    ]
    assert not offenders, (
        "import these from `framework` (add them to its __all__ if they must be public):\n" + "\n".join(offenders)
    )
