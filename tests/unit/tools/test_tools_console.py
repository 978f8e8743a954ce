"""What the operator tools share: masking, one-line errors and exit codes, tables."""

from __future__ import annotations

import io

import aiormq.exceptions
import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from engines.tools import alarms, demo, dlq, feeder, healthcheck, pbehavior, tail
from engines.tools.console import (
    Unavailable,
    UsageError,
    broker_failure,
    mongo_errors,
    not_found,
    scrub,
    shorten,
    table,
    unroutable,
)
from framework import BrokerUnavailable

SECRET_AMQP = "amqp://bob:s3cr%40t@127.0.0.1:1/%2F"  # port 1: refused at once


def test_scrub_masks_the_url_and_its_password_anywhere() -> None:
    text = f"failed on {SECRET_AMQP}: password s3cr@t refused"
    masked = scrub(text, SECRET_AMQP)
    assert "s3cr" not in masked and "amqp://bob:***@127.0.0.1:1/%2F" in masked


def test_shorten_keeps_one_printable_line() -> None:
    assert shorten("a\nb\tc", 10) == "a\\nb c"
    assert shorten("x" * 70, 60) == "x" * 59 + "…"
    assert shorten("\x00ok", 10) == "?ok"


def test_table_aligns_columns() -> None:
    assert table(("a", "bb"), [("xxx", "y")]) == ["a    bb", "xxx  y"]


def test_a_confirms_error_is_translated_by_the_framework_boundary_and_a_bug_is_not() -> None:
    missing = aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no exchange 'x' in vhost '/'")
    failure = broker_failure(missing, "declaring x")
    assert failure.detail == "declaring x: ChannelNotFoundEntity: NOT_FOUND - no exchange 'x' in vhost '/'"
    assert not_found(failure) and not unroutable(failure)
    with pytest.raises(KeyError):
        broker_failure(KeyError("bug"), "publishing")


def test_a_returned_publish_is_told_from_other_refusals() -> None:
    returned = BrokerUnavailable(
        "publishing: PublishError: Message delivery failed: Basic.Return(reply_code=312, "
        "reply_text='NO_ROUTE', exchange='canopsis.events', routing_key='a.b')"
    )
    assert unroutable(returned) and not not_found(returned)
    assert not unroutable(BrokerUnavailable("publishing: ConnectionResetError: reset"))


@pytest.mark.parametrize(
    "error, words",
    [
        (
            ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused, Timeout: 0.2s"),
            "no answer from MongoDB at mongodb://u:***@127.0.0.1:1/x (ServerSelectionTimeoutError: 127.0.0.1:1: "
            "[Errno 111] Connection refused); is it running?",
        ),
        (OperationFailure("Authentication failed.", 18), "MongoDB refused the operation: Authentication failed."),
    ],
)
def test_database_errors_become_one_unavailable_line(error: Exception, words: str) -> None:
    with pytest.raises(Unavailable) as raised, mongo_errors("mongodb://u:pw@127.0.0.1:1/x"):
        raise error
    assert words in str(raised.value) and "pw" not in str(raised.value)


def test_our_errors_pass_through_the_database_boundary() -> None:
    with pytest.raises(UsageError), mongo_errors("mongodb://127.0.0.1:1/x"):
        raise UsageError("no such alarm")


@pytest.mark.parametrize(
    "tool, argv",
    [
        (dlq, ["list", "che"]),
        (feeder, ["--count", "1"]),
        (tail, ["--count", "1"]),
        (alarms, ["--mongo-url", "mongodb://127.0.0.1:27017/x", "ack", "a/b"]),
    ],
)
def test_unreachable_broker_is_one_masked_line_and_exit_1(tool, argv, monkeypatch) -> None:
    monkeypatch.setenv("CPS_AMQP_URL", SECRET_AMQP)
    if tool is alarms:  # it reads MongoDB first: make that the unreachable service
        argv = ["--mongo-url", "mongodb://carol:hunter22@127.0.0.1:1/x?serverSelectionTimeoutMS=200", *argv[2:]]
    out, err = io.StringIO(), io.StringIO()
    assert tool.main(argv, stdout=out, stderr=err) == 1
    message = err.getvalue()
    assert message.count("\n") == 1 and message.startswith(f"{tool.PROG}: ")
    assert "s3cr" not in message and "hunter22" not in message and "Traceback" not in message
    assert "***@127.0.0.1:1" in message


SECRET_MONGO = "mongodb://carol:hunter22@127.0.0.1:1/x?serverSelectionTimeoutMS=200"


@pytest.mark.parametrize("tool, argv", [(alarms, ["list"]), (pbehavior, ["list"]), (healthcheck, [])])
def test_unreachable_database_is_one_masked_line_and_exit_1(tool, argv, monkeypatch) -> None:
    monkeypatch.setenv("CPS_MONGO_URL", SECRET_MONGO)
    out, err = io.StringIO(), io.StringIO()
    assert tool.main(argv, stdout=out, stderr=err) == 1
    message = err.getvalue()
    assert message.count("\n") == 1 and message.startswith(f"{tool.PROG}: no answer from MongoDB at ")
    assert "hunter22" not in message and "carol:***@127.0.0.1:1" in message and out.getvalue() == ""


@pytest.mark.parametrize(
    "tool, argv, words",
    [
        (dlq, [], "required"),
        (dlq, ["replay", "che"], "--all"),
        (dlq, ["replay", "che", "--all", "2"], "--all"),
        (dlq, ["replay", "che", "--to", "q", "1", "--bogus"], "unrecognized arguments: --bogus"),
        (dlq, ["show", "che", "x"], "not a message number"),
        (feeder, ["--rate", "-1"], "--rate"),
        (feeder, ["--rate", "0"], "--count"),
        (feeder, ["--alarms", "150"], "percentage"),
        (feeder, ["--exchange", "", "--count", "1"], "--routing-key"),
        (tail, ["--count", "0"], "--count"),
        (tail, ["--exchange", ""], "default exchange"),
        (alarms, ["snooze", "a/b"], "--duration"),
        (alarms, ["changestate", "a/b", "--state", "7"], "--state"),
        (alarms, ["list", "--open", "--resolved"], "not allowed"),
        (pbehavior, [], "required"),
        (demo, ["--bogus"], "unrecognized arguments: --bogus"),
        (demo, ["--chain-file", "/nonexistent/amqp2engines.conf"], "/nonexistent/amqp2engines.conf"),
        (demo, ["--events", "/nonexistent/events.jsonl"], "/nonexistent/events.jsonl"),
        (pbehavior, ["--timezone", "Mars/Olympus", "list"], "--timezone"),
        (pbehavior, ["--mongo-url", "http://x", "list"], "not a MongoDB URL"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(tool, argv, words) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert tool.main(argv, stdout=out, stderr=err) == 2
    assert out.getvalue() == "" and err.getvalue().count("\n") == 1 and words in err.getvalue()


def test_help_exits_0(capsys) -> None:
    assert dlq.main(["--help"]) == 0
    assert "replay" in capsys.readouterr().out


def test_every_cps_command_is_a_module_of_engines_tools() -> None:
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    tools = ["alarms", "demo", "dlq", "feeder", "healthcheck", "pbehavior", "tail"]
    assert {name: scripts.get(name) for name in scripts if name.startswith("cps-")} == {
        f"cps-{tool}": f"engines.tools.{tool}:main" for tool in tools
    }
