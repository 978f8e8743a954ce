"""An engine process: `python -m engines.<name> [flags]` runs `run(EngineClass)`, which parses the
flags, opens the services, runs the engine until SIGTERM or SIGINT, and exits with a code that
tells the service manager what to do."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from functools import partial
from typing import Any, Final, NoReturn

from framework.config.flags import parse_settings
from framework.config.settings import Settings
from framework.engine import Engine
from framework.errors import BrokerUnavailable, ConfigError, ServiceUnavailable, StalledConsumer
from framework.observability.logs import configure_logging
from framework.observability.notify import Notifier
from framework.observability.prometheus import MetricsServer
from framework.runtime.runner import Runner
from framework.services.connect import open_services
from framework.transport.amqp import AmqpTransport

__all__ = ["EXIT_CONFIG", "EXIT_OK", "EXIT_STALLED", "EXIT_UNAVAILABLE", "main", "run"]

EXIT_OK: Final = 0
EXIT_UNAVAILABLE: Final = 1  # a service never answered at start: let the service manager retry later
EXIT_CONFIG: Final = 2  # the command line or configuration is wrong: retrying will not help
EXIT_STALLED: Final = 3  # connected but no longer consuming: restart the process


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
    except BaseException as exc:
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
            engine,
            settings,
            AmqpTransport(settings.amqp_url),
            services=services,
            notifier=notifier,
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
                    raise ConfigError(
                        f"--metrics-port {settings.metrics_port}: cannot listen: {exc.strerror}"
                    ) from None
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
