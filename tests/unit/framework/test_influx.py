"""framework.services.influx: line protocol as InfluxDB 1.x parses it, CPS_INFLUX_URL, and the
writer's error mapping."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from framework import ConfigError, MetricsUnavailable, PointsRefused, build_settings
from framework.services.influx import MAX_LINES_PER_REQUEST, InfluxTarget, InfluxWriter, Point, parse_influx_url

# ---- line protocol -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "line"),
    [
        (Point("load", {"value": 1.5}), "load value=1.5"),
        (Point("load", {"value": 1.5}, time=1764358800), "load value=1.5 1764358800"),
        (Point("load", {"value": 2.0}), "load value=2.0"),  # a float stays a float field
        (Point("n", {"value": 3}), "n value=3i"),
        (Point("n", {"value": -(2**63)}), f"n value={-(2**63)}i"),
        (Point("b", {"up": True, "down": False}), "b up=true,down=false"),
        (Point("big", {"value": 1e20}), "big value=1e+20"),
        (Point("tiny", {"value": 1.5e-07}), "tiny value=1.5e-07"),
        (Point("s", {"unit": "%"}), 's unit="%"'),
        (Point("s", {"text": 'say "hi"'}), r's text="say \"hi\""'),
        (Point("s", {"path": "C:\\Temp"}), r's path="C:\\Temp"'),
        (Point("s", {"text": "two\nlines"}), 's text="two\nlines"'),  # allowed inside a quoted string
        # measurement: comma and space escaped, = is plain
        (Point("disk used", {"value": 1.0}), r"disk\ used value=1.0"),
        (Point("a,b", {"value": 1.0}), r"a\,b value=1.0"),
        (Point("a=b", {"value": 1.0}), "a=b value=1.0"),
        (Point("°C'temp\"", {"value": 1.0}), "°C'temp\" value=1.0"),
        (Point("#conns", {"value": 1.0}), r"\#conns value=1.0"),  # else the line is a comment
        # tags: sorted; comma, space and = escaped; empty values left out
        (
            Point("m", {"value": 1.0}, {"resource": "disk 1", "component": "web,01", "connector": "a=b"}),
            r"m,component=web\,01,connector=a\=b,resource=disk\ 1 value=1.0",
        ),
        (Point("m", {"value": 1.0}, {"resource": "", "component": "c"}), "m,component=c value=1.0"),
        (Point("m", {"a b,c=d": 1.0}), r"m a\ b\,c\=d=1.0"),
        # backslashes: kept (the parser only looks at the byte before a special), a trailing one gets a space
        (Point("m", {"value": 1.0}, {"path": "C:\\Temp"}), r"m,path=C:\Temp value=1.0"),
        (Point("m", {"value": 1.0}, {"t": "C:\\ Drive"}), r"m,t=C:\\ Drive value=1.0"),
        (Point("m", {"value": 1.0}, {"t": "a\\\\,b"}), r"m,t=a\\\,b value=1.0"),
        (Point("m", {"value": 1.0}, {"path": "C:\\"}), r"m,path=C:\\  value=1.0"),
        # measurement: backslashes the server cannot store before a space, a comma or the end are dropped
        (Point("m\\", {"value": 1.0}), "m value=1.0"),
        (Point("C:\\ Used Space", {"value": 1.0}), r"C:\ Used\ Space value=1.0"),
        (Point("a\\\\,b\\c", {"value": 1.0}), r"a\,b\c value=1.0"),
        # field keys: the fields scanner pairs backslashes, so a special after an odd run gets two
        (Point("m", {"a\\ b": 1.0}), r"m a\\\ b=1.0"),
        (Point("m", {"value": 1.0}, {"t": "two\nlines"}), r"m,t=two\nlines value=1.0"),
    ],
)
def test_point_is_written_as_influxdb_1x_line_protocol(point: Point, line: str) -> None:
    assert point.to_line() == line


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (Point("", {"value": 1.0}), "empty measurement"),
        (Point("m", {}), "has no field"),
        (Point("m", {"value": float("nan")}), "not a finite number"),
        (Point("m", {"value": float("inf")}), "not a finite number"),
        (Point("m", {"value": 2**63}), "64-bit"),
        (Point("m", {"": 1.0}), "empty field key"),
        (Point("m", {"value": 1.0}, {"": "x"}), "empty tag"),
        (Point("\\", {"value": 1.0}), "empty once its unstorable backslashes are dropped"),
        (Point("m", {"value": None}), "is not a float"),  # type: ignore[dict-item]
    ],
)
def test_point_the_server_would_refuse_raises_value_error(point: Point, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        point.to_line()


def read_key_section(line: str) -> tuple[str, dict[str, str]]:
    """Measurement and tags as InfluxDB 1.x reads them (models/points.go `scanKey`, `unescapeTag`): a
    byte is escaped when the byte before it is a backslash; `\\,`, `\\ ` (and in tags `\\=`) lose it."""

    def split(text: str, separators: str) -> list[str]:
        parts, start = [], 0
        for i, char in enumerate(text):
            if char in separators and (i == 0 or text[i - 1] != "\\"):
                parts.append(text[start:i])
                start = i + 1
                if char == " ":
                    return parts
        return [*parts, text[start:]]

    def unescape(text: str, codes: str = ", =") -> str:
        for char in codes:
            text = text.replace("\\" + char, char)
        return text

    measurement, *tags = split(line, ", ")
    assert not re.search(r"\\\\[ ,]", measurement), "a backslash before an escaped special: unqueryable"
    pairs = [split(tag, "=") for tag in tags]
    return unescape(measurement, ", "), {unescape(k): unescape(v) for k, v in pairs}


NASTY = ["a\\", "x\\,y z=w", "\\\\\\ x", "C:\\ Drive", "=,= ", "a\\=b", "a\\\\", "°C'\"q", "C:\\Temp"]


@pytest.mark.parametrize("text", NASTY)
def test_escaped_tags_read_back_as_written(text: str) -> None:
    line = Point("m", {"value": 1.0}, {text: text, "z": "end"}, 1).to_line()
    expected = text + " " if text.endswith("\\") else text  # a trailing backslash gets a space
    assert read_key_section(line) == ("m", {expected: expected, "z": "end"})


@pytest.mark.parametrize("text", NASTY)
def test_escaped_measurement_reads_back_without_unstorable_backslashes(text: str) -> None:
    line = Point(text, {"value": 1.0}, {"t": "v"}, 1).to_line()
    assert read_key_section(line) == (re.sub(r"\\+(?=[ ,]|$)", "", text), {"t": "v"})


# ---- CPS_INFLUX_URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://127.0.0.1:8086", InfluxTarget("http://127.0.0.1:8086", "canopsis")),
        ("http://127.0.0.1:8086/", InfluxTarget("http://127.0.0.1:8086", "canopsis")),
        ("http://influx/metrics", InfluxTarget("http://influx", "metrics")),
        ("https://u:p%40ss@influx:8086/db?rp=week", InfluxTarget("https://influx:8086", "db", "u", "p@ss", "week")),
        ("http://h/proxy/influx/db", InfluxTarget("http://h/proxy/influx", "db")),
        ("http://[::1]:8086/db", InfluxTarget("http://[::1]:8086", "db")),
    ],
)
def test_influx_url_gives_server_database_and_credentials(url: str, target: InfluxTarget) -> None:
    assert parse_influx_url(url) == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://:8086/db", "must be http"),
        ("http://h:99999/db", "is not a URL"),
        ("http://u:secret@h/db?precision=ms", "unknown option 'precision'"),
    ],
)
def test_bad_influx_url_is_refused_without_its_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_influx_url(url)
    assert "secret" not in str(caught.value)


def test_bad_influx_url_stops_the_engine_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"CPS_INFLUX_URL: .*unknown option") as caught:
        build_settings(name="t", flags={}, environ={"CPS_INFLUX_URL": "http://u:secret@h/db?x=1"})
    assert "secret" not in str(caught.value)


async def test_writer_repr_masks_the_password() -> None:
    writer = InfluxWriter("http://admin:secret@127.0.0.1:8086/metrics")
    try:
        assert repr(writer) == "<InfluxWriter http://admin:***@127.0.0.1:8086/metrics db=metrics written=0>"
    finally:
        await writer.close()


# ---- the writer against a fake server ------------------------------------------------------------


class FakeInflux:
    """Answers /ping, /query and /write as InfluxDB 1.x; `write_status` scripts the /write answers."""

    def __init__(self, write_status: Callable[[bytes], tuple[int, str]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.written: list[str] = []
        self.queries: list[str] = []
        self.write_status = write_status or (lambda body: (204, ""))
        self.query_status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/ping"):
            return httpx.Response(204)
        if request.url.path.endswith("/query"):
            self.queries.append(parse_qs(request.content.decode())["q"][0])
            if self.query_status != 200:
                return httpx.Response(self.query_status, json={"error": "create database requires admin privilege"})
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        status, error = self.write_status(request.content)
        if status == 204:
            self.written.extend(request.content.decode().split("\n"))
            return httpx.Response(204)
        return httpx.Response(status, json={"error": error})

    def writer(self, url: str = "http://127.0.0.1:8086/metrics") -> InfluxWriter:
        return InfluxWriter(url, transport=httpx.MockTransport(self.handler))


POINTS = [Point("load", {"value": 1.5}, {"component": "web01"}, 1764358800), Point("up", {"value": 1.0})]


async def test_write_creates_the_database_once_then_posts_line_protocol_at_second_precision() -> None:
    server = FakeInflux()
    writer = server.writer("http://bob:pw@127.0.0.1:8086/metrics?rp=week")
    await writer.write(POINTS)
    await writer.write(POINTS[:1])
    await writer.close()
    assert server.queries == ['CREATE DATABASE "metrics"']
    write = server.requests[-1]
    assert write.method == "POST" and write.url.path == "/write"
    assert dict(write.url.params) == {"db": "metrics", "precision": "s", "rp": "week"}
    assert write.headers["authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    assert server.written == ["load,component=web01 value=1.5 1764358800", "up value=1.0", POINTS[0].to_line()]
    assert writer.written == 3


async def test_write_of_nothing_sends_nothing() -> None:
    server = FakeInflux()
    writer = server.writer()
    await writer.write([])
    await writer.close()
    assert server.requests == []


async def test_large_write_is_split_into_requests_of_bounded_size() -> None:
    server = FakeInflux()
    writer = server.writer()
    await writer.write([Point("m", {"value": float(i)}, time=i) for i in range(MAX_LINES_PER_REQUEST + 10)])
    await writer.close()
    writes = [r for r in server.requests if r.url.path == "/write"]
    assert [len(r.content.split(b"\n")) for r in writes] == [MAX_LINES_PER_REQUEST, 10]


async def test_refused_point_raises_points_refused_naming_the_line() -> None:
    error = "partial write: unable to parse 'bad value= 1': missing field value dropped=0"
    writer = FakeInflux(lambda body: (400, error)).writer()
    with pytest.raises(PointsRefused) as caught:
        await writer.write(POINTS)
    await writer.close()
    assert caught.value.line == "bad value= 1"
    assert caught.value.reason == f"InfluxDB refused a point: {error}"


async def test_field_type_conflict_is_refused_like_a_bad_event() -> None:
    error = (
        'partial write: field type conflict: input field "value" on measurement "load" is type float,'
        " already exists as type integer dropped=1"
    )
    writer = FakeInflux(lambda body: (400, error)).writer()
    with pytest.raises(PointsRefused, match="field type conflict") as caught:
        await writer.write(POINTS)
    await writer.close()
    assert caught.value.line is None


async def test_point_that_cannot_be_written_is_refused_before_sending() -> None:
    server = FakeInflux()
    writer = server.writer()
    with pytest.raises(PointsRefused, match="not a finite number"):
        await writer.write([Point("m", {"value": float("nan")})])
    await writer.close()
    assert server.requests == []


@pytest.mark.parametrize("status", [500, 503, 401, 429])
async def test_server_error_raises_metrics_unavailable_so_the_batch_is_retried(status: int) -> None:
    writer = FakeInflux(lambda body: (status, "timeout")).writer()
    with pytest.raises(MetricsUnavailable, match=f"HTTP {status}: timeout"):
        await writer.write(POINTS)
    await writer.close()


async def test_unreachable_server_raises_metrics_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    writer = InfluxWriter("http://u:secret@127.0.0.1:8086/db", transport=httpx.MockTransport(refuse))
    with pytest.raises(MetricsUnavailable, match="ConnectError: All connection attempts failed") as caught:
        await writer.write(POINTS)
    with pytest.raises(MetricsUnavailable):
        await writer.ping()
    await writer.close()
    assert caught.value.service == "InfluxDB" and "secret" not in str(caught.value)


async def test_dropped_database_is_created_again_before_the_next_write() -> None:
    answers = iter([(404, 'database not found: "metrics"'), (204, "")])
    server = FakeInflux(lambda body: next(answers))
    writer = server.writer()
    with pytest.raises(MetricsUnavailable, match="database not found"):
        await writer.write(POINTS)
    await writer.write(POINTS)
    await writer.close()
    assert server.queries == ['CREATE DATABASE "metrics"'] * 2
    assert len(server.written) == 2


async def test_user_without_admin_right_writes_to_an_existing_database(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeInflux()
    server.query_status = 403
    writer = server.writer()
    with caplog.at_level(logging.WARNING, logger="framework.services.influx"):
        await writer.write(POINTS)
        await writer.write(POINTS)
    await writer.close()
    assert len(server.written) == 4
    assert [r.getMessage() for r in caplog.records] == [
        'InfluxDB refused CREATE DATABASE "metrics" (HTTP 403: create database requires admin privilege);'
        " assuming the database exists"
    ]


async def test_database_name_is_quoted_in_influxql() -> None:
    server = FakeInflux()
    writer = server.writer("http://h:8086/we%22ird")
    await writer.create_database()
    await writer.close()
    assert server.queries == ['CREATE DATABASE "we\\"ird"']
