"""Engines as real processes on a real RabbitMQ: routing, dead letters, chain files, beats, the command line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

from framework.transport.names import DEAD_QUEUE_HEADER, DEAD_REASON_HEADER, dead_letter_queue, engine_queue

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Bounds for a batch of about a thousand events on two slow shared cores.
FLOW_TIMEOUT = 60.0


async def test_two_publish_queues_each_receive_every_event(names, engines, amqp, events) -> None:
    source, first, second = names.queue("in"), names.queue("a"), names.queue("b")
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--bind",
        names.routing_key,
        "--publish-queue",
        first,
        "--publish-queue",
        second,
        consume_queue=source,
    )
    sent = events.many(1000)
    a = await amqp.consume(first)
    b = await amqp.consume(second)

    await amqp.publish(sent, routing_key=names.routing_key)
    await a.wait_count(1000, FLOW_TIMEOUT)
    await b.wait_count(1000, FLOW_TIMEOUT)
    await a.linger(0.5)  # a duplicate would arrive now

    got_a, got_b = await a.stop(), await b.stop()
    assert [m.json() for m in got_a] == sent, f"{len(got_a)} in {first}\n{engine.describe()}"
    assert [m.body for m in got_b] == [m.body for m in got_a], f"{len(got_b)} in {second}"


async def test_comma_separated_publish_queues_each_receive_every_event(names, engines, amqp, events) -> None:
    source, first, second = names.queue("in"), names.queue("a"), names.queue("b")
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--publish-queue",
        f"{first},{second}",
        consume_queue=source,
    )
    await amqp.publish(events.many(1000), queue=source)

    got_a = await amqp.collect(first, 1000, FLOW_TIMEOUT, linger=0.5)
    got_b = await amqp.collect(second, 1000, FLOW_TIMEOUT)

    assert events.seqs(got_a) == list(range(1000)), engine.describe()
    assert events.seqs(got_b) == list(range(1000)), engine.describe()


async def test_balanced_publish_splits_events(names, engines, amqp, events) -> None:
    source, first, second = names.queue("in"), names.queue("a"), names.queue("b")
    engine = await engines.start(
        "passthrough",
        "--consume-queue",
        source,
        "--publish-queue",
        f"{first},{second}",
        "--balanced",
        consume_queue=source,
    )
    a = await amqp.consume(first)
    b = await amqp.consume(second)

    await amqp.publish(events.many(1000), queue=source)
    await a.wait_until(lambda _: len(a.messages) + len(b.messages) >= 1000, FLOW_TIMEOUT)
    await a.linger(0.5)

    seqs_a, seqs_b = events.seqs(await a.stop()), events.seqs(await b.stop())
    counts = f"{len(seqs_a)} in {first}, {len(seqs_b)} in {second}"
    assert sorted(seqs_a + seqs_b) == list(range(1000)), f"{counts}\n{engine.describe()}"
    assert 400 <= len(seqs_a) <= 600, counts
    assert 400 <= len(seqs_b) <= 600, counts


def _garbage(index: int, invalid_events: bool) -> bytes:
    """Bodies no engine can take; each unique by `index` where the format allows."""
    kinds: list[bytes] = [
        b"not json at all %d" % index,
        b"\xff\xfe\x00 binary %d" % index,
        b"",
        b'{"unterminated": %d' % index,
        b"[%d, 2, 3]" % index,
        b'"a json string %d"' % index,
        b"%d" % index,
        b"null",
    ]
    if invalid_events:
        base = {
            "connector": "pytest",
            "connector_name": "garbage",
            "event_type": "check",
            "source_type": "resource",
            "component": "host",
            "resource": "disk",
            "garbage": index,
        }
        kinds += [
            json.dumps({k: v for k, v in base.items() if k != "connector"}).encode(),
            json.dumps({**base, "event_type": "not-a-type"}).encode(),
            json.dumps({k: v for k, v in base.items() if k != "resource"}).encode(),
            json.dumps({**base, "state": 9}).encode(),
            json.dumps({**base, "connector_name": ""}).encode(),
        ]
    return kinds[index % len(kinds)]


def _write_chain(path: Path, text: str) -> Path:
    path.write_text(dedent(text))
    return path


@pytest.mark.parametrize("module", ["passthrough", "dynamic"])
async def test_garbage_goes_to_dead_letter_queue_and_valid_events_pass(
    module, names, engines, amqp, events, tmp_path
) -> None:
    if module == "passthrough":
        source, target = names.queue("in"), names.queue("out")
        args = ("--consume-queue", source, "--publish-queue", target)
    else:
        name, out = names.engine("dyn"), names.engine("out")
        source, target = engine_queue(name), engine_queue(out)
        chain = _write_chain(tmp_path / "amqp2engines.conf", f"[engine:{name}]\nnext = {out}\n")
        args = ("--name", name, "--chain-file", str(chain))
    engine = await engines.start(module, *args, consume_queue=source)

    garbage = [_garbage(i, invalid_events=module == "dynamic") for i in range(1000)]
    bodies, headers = [], []
    for i in range(1000):
        bodies += [events.make(i), garbage[i]]
        headers += [None, {"x-test-index": i}]
    await amqp.publish(bodies, queue=source, headers=headers)

    forwarded = await amqp.collect(target, 1000, FLOW_TIMEOUT, linger=0.5)
    dead = await amqp.collect(dead_letter_queue(source), 1000, FLOW_TIMEOUT, linger=0.5)

    assert sorted(events.seqs(forwarded)) == list(range(1000)), f"{len(forwarded)} forwarded\n{engine.describe()}"
    assert sorted(m.headers.get("x-test-index", -1) for m in dead) == list(range(1000)), (
        f"{len(dead)} dead-lettered\n{engine.describe()}"
    )
    for message in dead:
        index = message.headers["x-test-index"]
        assert message.body == garbage[index], f"dead letter {index} changed"
        assert isinstance(message.headers.get(DEAD_REASON_HEADER), str), message.headers
        assert message.headers[DEAD_REASON_HEADER], message.headers
        assert message.headers.get(DEAD_QUEUE_HEADER) == source, message.headers
    assert engine.returncode is None, engine.describe()


async def test_amqp2engines_chain_runs_with_dotted_processing_and_beat(names, engines, amqp, events, tmp_path) -> None:
    first, middle, last, out = (names.engine(role) for role in ("first", "middle", "last", "out"))
    chain = _write_chain(
        tmp_path / "amqp2engines.conf",
        f"""\
        [engine:{first}]
        exchange_name = canopsis.events
        routing_keys = #
        event_processing = chain_functions.add_path
        next = {middle}

        [engine:{middle}]
        event_processing = chain_functions.drop_marked_else_add_path
        beat_processing = chain_functions.beat_now
        beat_interval = 1
        next = {last}

        [engine:{last}]
        event_processing = chain_functions.add_path
        next = {out}
        """,
    )
    env = {"CPS_TEST_RUN": events.run}
    # `first` binds to canopsis.events before `middle` beats: a beat sent earlier would be unroutable.
    procs = [
        await engines.start(
            "dynamic", "--name", name, "--chain-file", str(chain), consume_queue=engine_queue(name), env=env
        )
        for name in (first, middle, last)
    ]
    collector = await amqp.consume(engine_queue(out), events.mine)

    def is_beat(message) -> bool:
        return "beat_no" in message.json()

    def beats_in(messages) -> int:
        return sum(map(is_beat, messages))

    # `middle` beats every second from its start: three beats cross the chain within ~5 s.
    three_beats = await collector.wait_until(lambda messages: beats_in(messages) >= 3, 6.0)
    sent = [events.make(seq, drop=seq % 10 == 3) for seq in range(300)]
    await amqp.publish(sent, routing_key="pytest.check", window=1)  # one by one: arrival order is checked
    kept = [e["seq"] for e in sent if not e["drop"]]
    await collector.wait_until(lambda messages: len(messages) - beats_in(messages) >= len(kept), FLOW_TIMEOUT)
    got = await collector.stop()
    logs = "\n".join(p.describe() for p in procs)
    forwarded = [m.json() for m in got if not is_beat(m)]
    beats = [m.json() for m in got if is_beat(m)]

    assert [e["seq"] for e in forwarded] == kept, f"{len(forwarded)} events\n{logs}"
    assert all(e["path"] == [first, middle, last] for e in forwarded), forwarded[:3]
    assert three_beats, f"{len(beats)} beats in all\n{logs}"
    assert all(b["path"] == [first, middle, last] for b in beats), beats
    stamps = sorted(b["beat_at"] for b in beats)
    intervals = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert all(0.5 <= i <= 2.0 for i in intervals), intervals
    assert all(p.returncode is None for p in procs), logs


def _run_passthrough(*args: str, amqp_url: str) -> subprocess.CompletedProcess[str]:
    """Run an engine that must end by itself (bad flags, no broker); bounded by a timeout."""
    return subprocess.run(
        [sys.executable, "-m", "engines.passthrough", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CPS_AMQP_URL": amqp_url},
    )


#: Nothing listens on port 1: connecting is refused at once.
CLOSED_PORT_URL = "amqp://guest:s3cret-pass@127.0.0.1:1/%2F"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--no-such-flag"], "--no-such-flag"),
        (["--prefetch", "many"], "many"),
        (["--publish-queue", "a,,b"], "remove the extra comma"),
        (["--prefetch", "0"], "--prefetch"),
    ],
    ids=["unknown-flag", "not-a-number", "empty-queue-name", "out-of-range"],
)
def test_bad_flag_exits_2_with_one_line(args, expected) -> None:
    # The broker URL is unreachable on purpose: an accepted flag would exit 1, not hang.
    done = _run_passthrough(*args, amqp_url=CLOSED_PORT_URL)

    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert expected in lines[0], done.stderr
    assert done.stdout == ""


def test_unreachable_broker_exits_non_zero_after_bounded_retries() -> None:
    started = time.monotonic()
    done = _run_passthrough("--connect-attempts", "2", amqp_url=CLOSED_PORT_URL)
    elapsed = time.monotonic() - started

    assert done.returncode == 1, done.stderr
    assert elapsed < 10, f"{elapsed:.1f} s\n{done.stderr}"
    assert "amqp://guest:***@127.0.0.1:1" in done.stderr
    assert "s3cret-pass" not in done.stderr
    assert "deploy/local/start" in done.stderr.splitlines()[-1], done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_unreachable_broker_logs_one_warning_line_per_retry() -> None:
    # STYLE §11: an expected transient failure is one WARNING line giving the next retry delay;
    # framework/observability/logs.py means to silence the AMQP client's own reconnect noise.
    done = _run_passthrough("--connect-attempts", "3", amqp_url=CLOSED_PORT_URL)

    lines = done.stderr.splitlines()
    retries = [line for line in lines if " WARNING " in line and "retrying in" in line]
    assert len(retries) == 2, done.stderr
    assert lines == [*retries, lines[-1]], f"lines besides the retries and the final one:\n{done.stderr}"
