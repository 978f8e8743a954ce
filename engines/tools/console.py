"""What every operator tool shares: URLs from the environment, one-line errors, exit codes, tables.

A tool's `main` is `run(PROG, parse, command, …)`: it parses the command line and runs the
command, turning our errors into one stderr line and an exit code (2 bad usage, 1 a service did
not answer) and never showing a traceback. Client library
errors reach the tools through the framework's boundaries (`broker_errors`, `database_errors`);
what those leave to their caller (a malformed URL, an operation MongoDB refused) is read here, once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NoReturn, TextIO, TypeVar
from urllib.parse import unquote, urlsplit

import aio_pika
import aio_pika.abc
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from framework import (
    DEFAULT_AMQP_URL,
    DEFAULT_DATABASE,
    DEFAULT_MONGO_URL,
    BrokerUnavailable,
    DatabaseUnavailable,
    broker_errors,
    database_errors,
    mask_url,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "Command",
    "Document",
    "Parser",
    "Unavailable",
    "UsageError",
    "amqp_url",
    "broker_failure",
    "connect_amqp",
    "connect_mongo",
    "mongo_errors",
    "mongo_url",
    "not_found",
    "run",
    "run_async",
    "scrub",
    "shorten",
    "table",
    "unroutable",
]

EXIT_OK: Final = 0
EXIT_UNAVAILABLE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

#: --amqp-url and --mongo-url of every tool, naming the framework's defaults ("%" doubled for argparse).
_AMQP_URL_HELP: Final = f"RabbitMQ URL (default: CPS_AMQP_URL, else {mask_url(DEFAULT_AMQP_URL)})".replace("%", "%%")
_MONGO_URL_HELP: Final = f"MongoDB URL (default: CPS_MONGO_URL, else {DEFAULT_MONGO_URL})".replace("%", "%%")

T = TypeVar("T")
Document = dict[str, Any]
#: What a tool runs once its command line is parsed: (arguments, stdout, stderr) -> exit code.
Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


class UsageError(Exception):
    """The operator's input is wrong; the message says which value and what to do (exit 2)."""


class Unavailable(Exception):
    """A service did not answer or refused the operation (exit 1)."""


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` returns its code (tests call it)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)

    # The URL options always hold a URL: `type` resolves the flag, else CPS_*_URL, else the
    # default, as the engines do, and argparse applies it to the empty default too.
    def add_amqp_url(self, purpose: str = "") -> None:
        """--amqp-url; `purpose` ends its help (e.g. "; for actions")."""
        self.add_argument("--amqp-url", default="", type=amqp_url, help=_AMQP_URL_HELP + purpose)

    def add_mongo_url(self) -> None:
        self.add_argument("--mongo-url", default="", type=mongo_url, help=_MONGO_URL_HELP)


def amqp_url(flag: str | None) -> str:
    return flag or os.environ.get("CPS_AMQP_URL") or DEFAULT_AMQP_URL


def mongo_url(flag: str | None) -> str:
    return flag or os.environ.get("CPS_MONGO_URL") or DEFAULT_MONGO_URL


def scrub(text: str, *urls: str) -> str:
    """`text` with each URL masked and each URL's password replaced, wherever it appears."""
    for url in urls:
        if not url:
            continue
        text = text.replace(url, mask_url(url))
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        for secret in {password, unquote(password or "")}:
            if secret and len(secret) > 1:
                text = text.replace(secret, "***")
    return text


def run(
    prog: str,
    parse: Callable[[], argparse.Namespace],
    command: Command,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`command(parse(), stdout, stderr)` (sys.stdout/sys.stderr by default) and its exit code.

    Our errors become `prog: message` on stderr, with the secrets of the arguments' amqp_url and
    mongo_url masked, and exit 2 (UsageError) or 1 (Unavailable); Ctrl-C exits 130.
    """
    out, err = stdout or sys.stdout, stderr or sys.stderr
    urls: list[str] = []
    try:
        args = parse()
        urls += [url for url in (getattr(args, "amqp_url", None), getattr(args, "mongo_url", None)) if url]
        return command(args, out, err)
    except _Exit as exc:
        return exc.code
    except UsageError as exc:
        print(scrub(f"{prog}: {exc}", *urls), file=err)
        return EXIT_USAGE
    except Unavailable as exc:
        print(scrub(f"{prog}: {exc}", *urls), file=err)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `cps-tail | head`: the reader left, which is not an error
        return EXIT_OK


async def connect_amqp(url: str, name: str) -> aio_pika.abc.AbstractConnection:
    """A connection to the broker; Unavailable (URL masked) when it does not answer in 5 s."""
    for library in ("aiormq", "aio_pika"):  # their warnings would repeat our one line, unmasked
        logging.getLogger(library).setLevel(logging.CRITICAL)
    try:
        with broker_errors(f"no answer from RabbitMQ at {mask_url(url)}"):
            return await aio_pika.connect(url, timeout=5, client_properties={"connection_name": name})
    except BrokerUnavailable as exc:
        raise Unavailable(f"{exc.detail}; is it running? (CPS_AMQP_URL, deploy/local/start)") from None
    except ValueError as exc:
        raise Unavailable(
            f"{mask_url(url)} is not a RabbitMQ URL ({type(exc).__name__}: {exc}); see CPS_AMQP_URL"
        ) from None


def connect_mongo(
    url: str, prog: str, *, named: str = "CPS_MONGO_URL", timeout: float = 5.0
) -> tuple[MongoClient[Document], str]:
    """A client for `url` and the database it names (else canopsis); nothing is sent yet.

    The server is looked for `timeout` s, unless the URL says otherwise (?serverSelectionTimeoutMS=).
    Raises UsageError naming `named` (the flag or variable the URL came from) if `url` is not a
    MongoDB URL.
    """
    try:
        parsed = parse_uri(url)
        options = {str(k).lower(): v for k, v in parsed["options"].items()}
        seconds = float(options.get("serverselectiontimeoutms", timeout))  # pymongo gives seconds
        client: MongoClient[Document] = MongoClient(url, appname=prog, serverSelectionTimeoutMS=int(seconds * 1000))
    except (PyMongoError, ValueError) as exc:  # pymongo's URL errors are PyMongoError or ValueError
        raise UsageError(f"{named}: {mask_url(url)!r} is not a MongoDB URL: {exc}") from None
    return client, str(parsed.get("database") or DEFAULT_DATABASE)


@contextmanager
def mongo_errors(url: str) -> Iterator[None]:
    """Wrap a tool's MongoDB calls: an outage (framework.database_errors) or a refusal becomes
    Unavailable, one line naming the masked URL. Our own errors raised inside pass through."""
    try:
        with database_errors():
            yield
    except DatabaseUnavailable as exc:
        raise Unavailable(
            f"no answer from MongoDB at {mask_url(url)} ({exc.detail}); is it running? "
            "(CPS_MONGO_URL, deploy/local/start)"
        ) from None
    except PyMongoError as exc:  # not an outage (authentication, a refused write): an engine's bug, a tool's answer
        raise Unavailable(f"MongoDB refused the operation: {exc}") from None


def broker_failure(exc: BaseException, doing: str) -> BrokerUnavailable:
    """A broker client's error kept by a future (a publish's confirm), as `broker_errors(doing)`
    translates it: BrokerUnavailable("<doing>: <reason>"). Anything else is a bug: raised as it is."""
    try:
        with broker_errors(doing):
            raise exc
    except BrokerUnavailable as translated:
        return translated


def unroutable(exc: BrokerUnavailable) -> bool:
    """Whether the broker returned a mandatory publish that no queue took (AMQP reply 312 NO_ROUTE)."""
    return "NO_ROUTE" in exc.detail


def not_found(exc: BrokerUnavailable) -> bool:
    """Whether the broker closed the channel with 404 NOT_FOUND: a passive declare of what is not there."""
    return "NOT_FOUND - " in exc.detail


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with a broker error that escaped the tool turned into Unavailable."""
    try:
        with broker_errors("RabbitMQ"):
            return asyncio.run(coro)
    except BrokerUnavailable as exc:
        raise Unavailable(exc.detail) from None


def shorten(text: str, width: int) -> str:
    """One printable line of at most `width` characters ("…" marks a cut)."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    flat = "".join(c if c.isprintable() else "?" for c in flat)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [columns, *rows]]
