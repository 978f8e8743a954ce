"""The flags every engine takes (`python -m engines.<name> --help`), and the settings they make."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from framework.config.settings import Settings, build_settings
from framework.engine import Engine
from framework.errors import ConfigError
from framework.observability.runinfo import project_version
from framework.transport.names import ALL_EVENTS

__all__ = ["build_parser", "parse_settings"]


class _Parser(argparse.ArgumentParser):
    """argparse that fails in one line, not usage plus error."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see --help)")


def build_parser(engine_cls: type[Engine[Any]]) -> argparse.ArgumentParser:
    name = engine_cls.name or "engine"
    p = _Parser(
        prog=f"python -m engines.{name}",
        description=(engine_cls.__doc__ or "").strip().splitlines()[0] if engine_cls.__doc__ else None,
        epilog="Flags override CPS_* environment variables (CPS_AMQP_URL, CPS_MONGO_URL, CPS_INFLUX_URL, "
        "CPS_PREFETCH, …), which override --config, which overrides the defaults.",
        argument_default=None,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {project_version()}")
    route = p.add_argument_group("routing")
    route.add_argument("--name", help=f"engine name; the default queue is Engine_<name> (default: {name})")
    route.add_argument("--instance", help="instance name shown in logs and connection names (default: the name)")
    route.add_argument("--consume-queue", help="queue to consume (default: Engine_<name>)")
    route.add_argument(
        "--publish-queue",
        dest="publish_queues",
        action="append",
        metavar="QUEUE",
        help="queue to forward to; repeat or use commas for several (a copy to each) "
        f"(default: {','.join(engine_cls.publish_to) or 'none'})",
    )
    route.add_argument(
        "--balanced",
        action="store_true",
        default=None,
        help="spread events round-robin over the publish queues instead of copying (next_balanced)",
    )
    route.add_argument("--exchange", help="exchange the consume queue is bound to (default: canopsis.events)")
    route.add_argument(
        "--bind",
        dest="bindings",
        action="append",
        metavar="ROUTING_KEY",
        help="bind the consume queue to --exchange with this key; repeatable "
        f"(default: {ALL_EVENTS!r} for the first engine of a chain, none otherwise)",
    )
    route.add_argument(
        "--partitions",
        type=int,
        help="consume N partition queues fed by entity hash, one active instance each, so that "
        "several instances keep each entity's order (default: 0, the plain queue)",
    )
    route.add_argument(
        "--chain-file",
        help="amqp2engines.conf: take this engine's next, next_balanced, "
        "beat_interval, exchange_name and routing_keys from its [engine:NAME] section",
    )
    route.add_argument("--config", help="TOML settings file (top-level keys for all engines, [NAME] tables per engine)")
    flow = p.add_argument_group("throughput")
    flow.add_argument("--prefetch", type=int, help="unacked deliveries the broker may send ahead (default: 300)")
    flow.add_argument("--batch-size", type=int, help="events handled and acked together (default: 100)")
    flow.add_argument("--batch-wait", type=float, help="seconds to wait for a fuller batch (default: 0)")
    flow.add_argument("--workers", type=int, help="events handled concurrently, never two of one entity (default: 1)")
    life = p.add_argument_group("lifecycle")
    life.add_argument(
        "--beat-interval",
        "--periodical-wait-time",
        dest="beat_interval",
        type=float,
        help="seconds between beats (default: 60)",
    )
    life.add_argument("--drain-timeout", type=float, help="seconds to finish in-flight work on SIGTERM (default: 10)")
    life.add_argument(
        "--stall-timeout", type=float, help="exit if messages wait but none is delivered for this long (default: 60)"
    )
    life.add_argument("--connect-attempts", type=int, help="attempts to reach the broker at start (default: 5)")
    diag = p.add_argument_group("diagnostics")
    diag.add_argument("-d", "--debug", action="store_true", default=None, help="log one line per event")
    diag.add_argument(
        "--print-event-on-error", action="store_true", default=None, help="log the body of every dead-lettered event"
    )
    diag.add_argument("--log-format", choices=("text", "json"), help="log line format (default: text)")
    diag.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /health/live and /health/ready on this TCP port (default: 0 = off)",
    )
    if engine_cls.options_model is not None:
        own = p.add_argument_group(f"{name} options")
        for field, info in engine_cls.options_model.model_fields.items():
            flag = "--" + field.replace("_", "-")
            text = f"{info.description or ''} (default: {info.default})".strip()
            if info.annotation is bool:
                own.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=None, help=text)
            else:
                own.add_argument(flag, dest=field, help=text)
    return p


def parse_settings(engine_cls: type[Engine[Any]], argv: Sequence[str] | None = None) -> Settings:
    """Settings from the command line, environment and files; raises ConfigError."""
    args = build_parser(engine_cls).parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if v is not None}
    defaults: dict[str, Any] = {**engine_cls.default_settings, "publish_queues": engine_cls.publish_to}
    if engine_cls.binds_events:
        defaults["bindings"] = (ALL_EVENTS,)
    return build_settings(
        name=engine_cls.name or "engine", flags=flags, defaults=defaults, options_model=engine_cls.options_model
    )
