"""Per-process Prometheus endpoint (`--metrics-port`): /metrics, /health/live and /health/ready.

A few dozen lines of asyncio.start_server rather than prometheus-client: the figures already
live in the runtime's `Stats`, are read when scraped, and the text format is stable and small.
Handle latency is observed per batch (the unit the runtime handles, writes and acks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from framework.observability.view import EngineView

__all__ = ["MetricsServer", "render_metrics"]

logger = logging.getLogger(__name__)

#: A request line and headers larger than this, or slower than REQUEST_TIMEOUT, is refused.
MAX_REQUEST: Final = 8192
REQUEST_TIMEOUT: Final = 5.0


def _number(value: float) -> str:
    return repr(float(value))


def _labels(pairs: dict[str, str]) -> str:
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in pairs.values())
    return "{" + ",".join(f'{k}="{v}"' for k, v in zip(pairs, escaped)) + "}"


def render_metrics(engine: EngineView, now: float | None = None) -> str:
    """The text exposition format (version 0.0.4) of the engine's figures."""
    now = time.time() if now is None else now
    s = engine.stats
    base = {"engine": engine.settings.name, "instance": engine.settings.instance_name}
    lab = _labels(base)
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, value: float | int) -> None:
        lines.extend((f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name}{lab} {_number(value)}"))

    metric("cps_events_received_total", "counter", "Deliveries received from the consumed queue.", s.received)
    metric("cps_events_processed_total", "counter", "Events decoded and handled.", s.processed)
    metric("cps_events_forwarded_total", "counter", "Messages published to the next queues.", s.forwarded)
    metric("cps_events_dropped_total", "counter", "Events consumed without output.", s.dropped)
    metric("cps_events_dead_lettered_total", "counter", "Events sent to the dead-letter queue.", s.dead)
    metric("cps_events_retried_total", "counter", "Retries after a service outage.", s.retried)
    metric("cps_reconnects_total", "counter", "Broker reconnections.", s.reconnects)
    metric("cps_in_flight", "gauge", "Deliveries received and not yet acked.", s.in_flight)
    metric("cps_consuming", "gauge", "1 while the consumer is registered.", int(engine.consuming))
    metric("cps_beat_duration_seconds", "gauge", "Duration of the last beat.", s.beat_seconds)
    metric("cps_last_beat_timestamp_seconds", "gauge", "Unix time the last beat ended (0: none yet).", s.last_beat)
    since = asyncio.get_running_loop().time() - s.last_delivery if s.last_delivery else -1.0
    metric("cps_seconds_since_last_delivery", "gauge", "Seconds since the last delivery (-1: none yet).", since)
    name = "cps_batch_handle_seconds"
    lines += [f"# HELP {name} Seconds to decode and handle one batch (observed per batch).", f"# TYPE {name} histogram"]
    for le, count in s.batch_seconds.cumulative():
        lines.append(f"{name}_bucket{_labels({**base, 'le': le})} {count}")
    lines += [f"{name}_sum{lab} {_number(s.batch_seconds.total)}", f"{name}_count{lab} {s.batch_seconds.count}"]
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves the engine's figures over HTTP/1.0-style requests (one response, then close).

    >>> async with MetricsServer(runner, port=9108):  # doctest: +SKIP
    ...     await engine.run()
    """

    def __init__(self, engine: EngineView, port: int, host: str = "0.0.0.0") -> None:
        self.engine = engine
        self.host, self.port = host, port
        self.requests = 0
        self._server: asyncio.Server | None = None

    def __repr__(self) -> str:
        return f"<MetricsServer {self.host}:{self.port} requests={self.requests}>"

    async def __aenter__(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def respond(self, method: str, path: str) -> tuple[int, str, str]:
        """(status, content type, body) for a request."""
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", "method not allowed\n"
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(self.engine)
        if path == "/health/live":
            return 200, "text/plain", "live\n"
        if path == "/health/ready":
            return (200, "text/plain", "ready\n") if self.engine.consuming else (503, "text/plain", "not consuming\n")
        return 404, "text/plain", "not found: try /metrics, /health/live, /health/ready\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_REQUEST:
                    raise ValueError("request too large")
                method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                status, ctype, body = self.respond(method, path)
                data = body.encode()
                reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                if method != "HEAD":
                    writer.write(data)
                await writer.drain()
                self.requests += 1
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a bad or slow client gets nothing; the engine is not concerned
        except Exception:
            logger.exception("metrics request failed")
        finally:
            writer.close()
