"""A small async InfluxDB 1.x writer: points as line protocol, POSTed to `/write` at second precision.

    writer = InfluxWriter("http://user:pass@127.0.0.1:8086/canopsis")   # CPS_INFLUX_URL
    await writer.write([Point("load", {"value": 1.5}, {"component": "web01"}, time=1764358800)])
    await writer.close()

httpx errors become ours here and only here: an unreachable or failing server raises
MetricsUnavailable (the runtime retries the batch), points the server refuses raise PointsRefused
(a BadEvent: the runtime isolates and dead-letters the event that produced them).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from framework.errors import MetricsUnavailable, PointsRefused
from framework.urls import mask_url

__all__ = ["DEFAULT_DATABASE", "FieldValue", "InfluxTarget", "InfluxWriter", "Point", "PointWriter", "parse_influx_url"]

logger = logging.getLogger(__name__)

#: The database when CPS_INFLUX_URL names none (the legacy metric engine's).
DEFAULT_DATABASE: Final = "canopsis"
#: Lines per request: InfluxData advises 5,000; far below the server's 25 MB max-body-size.
MAX_LINES_PER_REQUEST: Final = 5000
#: Deadline of every request (connect, write, query), seconds.
REQUEST_TIMEOUT: Final = 10.0

FieldValue = float | int | str | bool

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# Characters the 1.x parser splits on: escaped with a backslash, which its reader removes.
_MEASUREMENT_SPECIALS: Final = " ,"
_KEY_SPECIALS: Final = " ,="
_UNPARSED_LINE: Final = re.compile(r"unable to parse '(.*)': ")
_UNSTORABLE_BACKSLASHES: Final = re.compile(r"\\+(?=[ ,]|\Z)")


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point; `time` in unix seconds (None: the server's clock).

    Field values keep their Python type: float → float field, int → integer field (`1i`),
    bool → boolean, str → string. A field's type is fixed per measurement by its first write,
    so producers must always give a field the same type.
    """

    measurement: str
    fields: Mapping[str, FieldValue]
    tags: Mapping[str, str] = field(default_factory=dict)
    time: int | None = None

    def to_line(self) -> str:
        """The point in InfluxDB 1.x line protocol.

        Tags are sorted (the server's preferred order) and empty tag values left out (the server
        refuses them). Raises ValueError for an empty measurement or key, no field, a float that
        is not finite or an integer outside int64.

        >>> Point("disk used", {"value": 42.5, "unit": "%"}, {"resource": "C:"}, 1764358800).to_line()
        'disk\\\\ used,resource=C: value=42.5,unit="%" 1764358800'
        """
        if not self.measurement:
            raise ValueError("empty measurement name")
        if not self.fields:
            raise ValueError(f"point {self.measurement!r} has no field")
        head = [_escape_measurement(self.measurement)]
        for key in sorted(self.tags):
            value = self.tags[key]
            if value:
                head.append(f"{_escape_key(key, 'tag')}={_escape_key(value, 'tag')}")
        fields = ",".join(f"{_escape_key(k, 'field key')}={_field_value(k, v)}" for k, v in self.fields.items())
        line = f"{','.join(head)} {fields}"
        return line if self.time is None else f"{line} {int(self.time)}"


def _escape(text: str, specials: str, part: Literal["measurement", "tag", "field key"]) -> str:
    """Escape `specials` with a backslash so that InfluxDB 1.x stores `text` as given, and finds it.

    Its parser (checked against 1.6.7; backslashes are "wontfix" in 1.x: influxdb#4865, #8587)
    takes a byte as escaped when the byte before it is a backslash, and keeps other backslashes,
    so a Windows path is written and stored unchanged. Where no escape gives back the text:
    * a measurement name with backslashes just before a space or comma, or at its end, is
      stored under a key its queries never find: those backslashes are dropped
      (`C:\\ Used Space` becomes `C: Used Space`);
    * a tag ending with a backslash would escape the separator after it: a space is added
      (`C:\\` is stored as `C:\\ `);
    * field keys are read by a scanner that pairs backslashes: a special after an odd run gets
      a second one (the key is stored with one backslash more);
    * a newline would end the line: it becomes the two characters `\\n`.
    """
    if part == "measurement":
        text = _UNSTORABLE_BACKSLASHES.sub("", text)
    elif text.endswith("\\"):
        text += " "
    out: list[str] = []
    run = 0  # backslashes just copied
    for char in text:
        if char == "\\":
            run += 1
            out.append(char)
            continue
        if char in specials:
            out.append("\\" * (1 + run % 2 if part == "field key" else 1) + char)
        elif char == "\n":
            out.append("\\n")
        else:
            out.append(char)
        run = 0
    return "".join(out)


def _escape_measurement(name: str) -> str:
    escaped = _escape(name, _MEASUREMENT_SPECIALS, "measurement")
    if not escaped:
        raise ValueError(f"measurement name {name!r} is empty once its unstorable backslashes are dropped")
    # A line starting with `#` is a comment: the server would silently skip the point.
    return "\\" + escaped if escaped.startswith("#") else escaped


def _escape_key(text: str, part: Literal["tag", "field key"]) -> str:
    if not text:
        raise ValueError(f"empty {part}")
    return _escape(text, _KEY_SPECIALS, part)


def _field_value(key: str, value: FieldValue) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"field {key!r}: {value} does not fit in a 64-bit integer")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field {key!r}: {value} is not a finite number")
        return repr(value)  # shortest round-trip form; the server reads 1e+20 and 1.5e-07
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ValueError(f"field {key!r}: {value!r} is not a float, int, bool or str")


# ---- the server ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InfluxTarget:
    """What CPS_INFLUX_URL says: where the server is, the database, credentials, retention policy."""

    base_url: str
    database: str
    username: str | None = None
    password: str | None = None
    retention_policy: str | None = None


def parse_influx_url(url: str) -> InfluxTarget:
    """Read `http[s]://[user:pass@]host[:port][/prefix]/[database][?rp=policy]`.

    The last path segment is the database (default "canopsis"); segments before it are a path
    prefix (a reverse proxy). Raises ValueError naming the masked URL.
    """
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown!r} must be http[s]://host[:port]/database")
    if parts.fragment:
        raise ValueError(f"{shown!r}: remove the #fragment")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"rp"})
    if unknown:
        raise ValueError(f"{shown!r}: unknown option {unknown[0]!r} (only ?rp=<retention policy>)")
    prefix, _, database = parts.path.rstrip("/").rpartition("/")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    return InfluxTarget(
        base_url=f"{parts.scheme}://{netloc}{prefix}",
        database=unquote(database) or DEFAULT_DATABASE,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        retention_policy=options.get("rp") or None,
    )


class PointWriter(Protocol):
    """Where points go: InfluxWriter, or a fake in tests."""

    async def write(self, points: Sequence[Point]) -> None: ...


class InfluxWriter:
    """Writes points to one InfluxDB 1.x database over HTTP (httpx), creating it if missing.

    Every request has a REQUEST_TIMEOUT deadline. The client binds no event loop when built.
    """

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.target = parse_influx_url(url)
        auth = None
        if self.target.username is not None:
            auth = httpx.BasicAuth(self.target.username, self.target.password or "")
        self._client = httpx.AsyncClient(
            base_url=self.target.base_url, auth=auth, timeout=REQUEST_TIMEOUT, transport=transport
        )
        self._database_ready = False
        self.written = 0
        self.requests = 0

    def __repr__(self) -> str:
        return f"<InfluxWriter {mask_url(self.url)} db={self.target.database} written={self.written}>"

    @property
    def database(self) -> str:
        return self.target.database

    async def ping(self) -> None:
        """Raise MetricsUnavailable unless the server answers `/ping`."""
        response = await self._send("GET", "/ping")
        if response.status_code >= 300:
            raise MetricsUnavailable(f"/ping answered {_describe(response)}")

    async def create_database(self) -> None:
        """`CREATE DATABASE` (a no-op when it exists). A user without the right is warned about
        once and the database assumed to exist. Raises MetricsUnavailable."""
        statement = f"CREATE DATABASE {_identifier(self.database)}"
        response = await self._send("POST", "/query", data={"q": statement})
        if response.status_code in (401, 403):
            logger.warning("InfluxDB refused %s (%s); assuming the database exists", statement, _describe(response))
        elif response.status_code >= 300:
            raise MetricsUnavailable(f"{statement}: {_describe(response)}")
        elif error := _statement_error(response):
            raise MetricsUnavailable(f"{statement}: {error}")
        self._database_ready = True

    async def write(self, points: Sequence[Point]) -> None:
        """Write `points`, MAX_LINES_PER_REQUEST per request; return once the server stored them.

        Raises MetricsUnavailable (no answer, 5xx, database dropped meanwhile: it is created
        again on the next call, refused credentials): retry later, the same points are
        idempotent. Raises PointsRefused (400: a malformed point or a field type conflict),
        naming the line; the server has stored the other points of that request.
        """
        if not points:
            return
        try:
            lines = [point.to_line() for point in points]
        except ValueError as exc:
            raise PointsRefused(f"cannot write a point to InfluxDB: {exc}") from None
        if not self._database_ready:
            await self.create_database()
        params = {"db": self.database, "precision": "s"}
        if self.target.retention_policy:
            params["rp"] = self.target.retention_policy
        for start in range(0, len(lines), MAX_LINES_PER_REQUEST):
            chunk = lines[start : start + MAX_LINES_PER_REQUEST]
            response = await self._send(
                "POST",
                "/write",
                params=params,
                content="\n".join(chunk).encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
            self._check_write(response, len(chunk))
            self.written += len(chunk)

    def _check_write(self, response: httpx.Response, count: int) -> None:
        status = response.status_code
        if status < 300:
            return
        error = _error_text(response)
        if status == 400:
            unparsed = _UNPARSED_LINE.search(error)
            raise PointsRefused(f"InfluxDB refused a point: {error}", line=unparsed[1] if unparsed else None)
        if status == 404:
            self._database_ready = False  # dropped while we run: created again before the next write
            raise MetricsUnavailable(f"database {self.database!r}: {error or 'not found'}; creating it again")
        hint = "; check the user and password in CPS_INFLUX_URL" if status in (401, 403) else ""
        raise MetricsUnavailable(f"write of {count} points: {_describe(response)}{hint}")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The one place httpx errors become ours."""
        self.requests += 1
        try:
            return await self._client.request(method, path, params=params, data=data, content=content, headers=headers)
        except httpx.TransportError as exc:  # connect, read, write, timeouts, protocol errors
            raise MetricsUnavailable(f"{type(exc).__name__}: {str(exc) or 'no answer'}") from exc

    async def close(self) -> None:
        await self._client.aclose()


def _identifier(name: str) -> str:
    """An InfluxQL quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error_text(response: httpx.Response) -> str:
    """The server's `{"error": …}`, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.headers.get("X-Influxdb-Error") or response.text[:500]


def _describe(response: httpx.Response) -> str:
    error = _error_text(response)
    return f"HTTP {response.status_code}" + (f": {error}" if error else "")


def _statement_error(response: httpx.Response) -> str | None:
    try:
        results = response.json().get("results") or []
    except (ValueError, AttributeError):
        return None
    errors = [r["error"] for r in results if isinstance(r, dict) and r.get("error")]
    return str(errors[0]) if errors else None
