"""The command line every engine shares: `python -m engines.<name> [flags]`, and the process exit codes."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial
from typing import Any, Final, NoReturn

from framework.transport.amqp import AmqpTransport
from framework.engine import Engine
from framework.errors import BrokerUnavailable, ConfigError, ServiceUnavailable, StalledConsumer
from framework.observability.logs import configure_logging
from framework.transport.names import ALL_EVENTS
from framework.observability.notify import Notifier
from framework.observability.prometheus import MetricsServer
from framework.observability.runinfo import project_version
from framework.runtime.runner import Runner
from framework.services.connect import open_services
from framework.config.settings import Settings, build_settings

__all__ = ["run", "main", "parse_settings", "EXIT_OK", "EXIT_UNAVAILABLE", "EXIT_CONFIG", "EXIT_STALLED"]

EXIT_OK: Final = 0
EXIT_UNAVAILABLE: Final = 1  # a service never answered at start: let the service manager retry later
EXIT_CONFIG: Final = 2  # the command line or configuration is wrong: retrying will not help
EXIT_STALLED: Final = 3  # connected but no longer consuming: restart the process


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
        "--publish-queue", dest="publish_queues", action="append", metavar="QUEUE",
        help="queue to forward to; repeat or use commas for several (a copy to each) "
        f"(default: {','.join(engine_cls.publish_to) or 'none'})",
    )
    route.add_argument("--balanced", action="store_true", default=None,
                       help="spread events round-robin over the publish queues instead of copying (next_balanced)")
    route.add_argument("--exchange", help="exchange the consume queue is bound to (default: canopsis.events)")
    route.add_argument("--bind", dest="bindings", action="append", metavar="ROUTING_KEY",
                       help="bind the consume queue to --exchange with this key; repeatable "
                       f"(default: {ALL_EVENTS!r} for the first engine of a chain, none otherwise)")
    route.add_argument("--partitions", type=int,
                       help="consume N partition queues fed by entity hash, one active instance each, so that "
                       "several instances keep each entity's order (default: 0, the plain queue)")
    route.add_argument("--chain-file", help="amqp2engines.conf: take this engine's next, next_balanced, "
                       "beat_interval, exchange_name and routing_keys from its [engine:NAME] section")
    route.add_argument("--config", help="TOML settings file (top-level keys for all engines, [NAME] tables per engine)")
    flow = p.add_argument_group("throughput")
    flow.add_argument("--prefetch", type=int, help="unacked deliveries the broker may send ahead (default: 300)")
    flow.add_argument("--batch-size", type=int, help="events handled and acked together (default: 100)")
    flow.add_argument("--batch-wait", type=float, help="seconds to wait for a fuller batch (default: 0)")
    flow.add_argument("--workers", type=int, help="events handled concurrently, never two of one entity (default: 1)")
    life = p.add_argument_group("lifecycle")
    life.add_argument("--beat-interval", "--periodical-wait-time", dest="beat_interval", type=float,
                      help="seconds between beats (default: 60)")
    life.add_argument("--drain-timeout", type=float, help="seconds to finish in-flight work on SIGTERM (default: 10)")
    life.add_argument("--stall-timeout", type=float,
                      help="exit if messages wait but none is delivered for this long (default: 60)")
    life.add_argument("--connect-attempts", type=int, help="attempts to reach the broker at start (default: 5)")
    diag = p.add_argument_group("diagnostics")
    diag.add_argument("-d", "--debug", action="store_true", default=None, help="log one line per event")
    diag.add_argument("--print-event-on-error", action="store_true", default=None,
                      help="log the body of every dead-lettered event")
    diag.add_argument("--log-format", choices=("text", "json"), help="log line format (default: text)")
    diag.add_argument("--metrics-port", type=int,
                      help="serve /metrics, /health/live and /health/ready on this TCP port (default: 0 = off)")
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


def main(engine_cls: type[Engine[Any]], argv: Sequence[str] | None = None) -> int:
    """Run one engine process; returns the exit code."""
    try:
        settings = parse_settings(engine_cls, argv)
    except ConfigError as exc:
        print(f"{engine_cls.name or 'engine'}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.instance_name, debug=settings.debug, fmt=settings.log_format)
    try:
        asyncio.run(_serve(engine_cls, settings))
    except BaseException as exc:  # noqa: BLE001 - mapped to an exit code below, or re-raised
        return _exit_code(exc, settings)
    return EXIT_OK


def run(engine_cls: type[Engine[Any]]) -> NoReturn:
    """Entry point of `engines/<name>/__main__.py`."""
    sys.exit(main(engine_cls))


async def _serve(engine_cls: type[Engine[Any]], settings: Settings) -> None:
    engine = engine_cls(settings)
    services = await open_services(engine_cls.uses, settings)
    try:
        notifier = Notifier.from_environ()
        runner = Runner(
            engine, settings, AmqpTransport(settings.amqp_url), services=services, notifier=notifier,
            on_ready=partial(_ready, notifier, settings),
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
        async with AsyncExitStack() as stack:
            if settings.metrics_port:
                try:
                    await stack.enter_async_context(MetricsServer(runner, settings.metrics_port))
                except OSError as exc:
                    raise ConfigError(f"--metrics-port {settings.metrics_port}: cannot listen: {exc.strerror}") from None
            await runner.run()
    finally:
        await services.close()


def _ready(notifier: Notifier, settings: Settings) -> None:
    """The consumer is registered (again, after a reconnect): tell systemd."""
    notifier.send("READY=1", f"STATUS=consuming {settings.consume_queue}")


def _exit_code(exc: BaseException, settings: Settings) -> int:
    """Map what ended the process to an exit code; unknown errors are re-raised (a bug)."""
    leaf = _first_leaf(exc)
    prefix = f"{settings.instance_name}:"
    if isinstance(leaf, ConfigError):
        print(f"{prefix} {leaf}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(leaf, StalledConsumer):
        print(f"{prefix} {leaf}", file=sys.stderr)
        return EXIT_STALLED
    if isinstance(leaf, BrokerUnavailable):
        print(f"{prefix} CPS_AMQP_URL: {leaf.detail}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if isinstance(leaf, ServiceUnavailable):
        print(f"{prefix} {leaf}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if isinstance(leaf, KeyboardInterrupt):
        return EXIT_OK
    raise exc


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
