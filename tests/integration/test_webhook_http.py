"""Webhook calls against a real HTTP server on 127.0.0.1, started by the test.

(Named test_webhook_http.py: tests/unit/action/test_webhook.py holds the unit tests, and two
test modules may not share a basename in this layout.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from engines.action.view import template_data
from engines.action.webhook import Retry, WebhookDenied, WebhookError, WebhookRequest, call, ticket_from_response
from engines.axe.lifecycle import apply_event
from engines.axe.rules import Rules
from engines.model import Entity, Event

pytestmark = pytest.mark.integration

NOW = 1_764_000_000
PASSWORD = "Pa55-w0rd-never-logged"
TOKEN = "api-token-0123456789abcdef"


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A minimal HTTP/1.1 server: answers each request with the next scripted status, then the last."""

    statuses: list[int]
    answer: dict[str, Any] = field(default_factory=lambda: {"result": {"number": "INC0042"}})
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(method, target, headers, body))
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            content = json.dumps(self.answer).encode() if status < 300 else b'{"error": "busy"}'
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(content)}"
                f"\r\nConnection: close\r\n\r\n".encode()
                + content
            )
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(statuses=[200])
    listener = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield srv
        listener.close()


def data() -> dict[str, object]:
    entity = Entity.model_validate(
        {
            "_id": "disk/web01",
            "name": "disk",
            "type": "resource",
            "created": NOW,
            "component": "web01",
            "connector": "nagios/paris",
            "infos": {"site": {"name": "site", "value": "paris-2"}},
        }
    )
    event = Event.model_validate(
        {
            "connector": "nagios",
            "connector_name": "paris",
            "event_type": "check",
            "source_type": "resource",
            "component": "web01",
            "resource": "disk",
            "state": 3,
            "output": "disk full",
            "timestamp": NOW,
        },
        context={"now": NOW},
    )
    alarm = apply_event(None, event, entity, Rules(), NOW, "alarm-1").alarm
    assert alarm is not None
    return template_data(alarm, entity)


def request(server: Server, **fields: Any) -> WebhookRequest:
    return WebhookRequest.model_validate(
        {
            "method": "PUT",
            "url": server.url + "/api/{{ .Entity.Infos.site.Value }}/incidents?token=" + TOKEN,
            "headers": {"Content-Type": "application/json", "X-Resource": "{{ .Alarm.Value.Resource }}"},
            "auth": {"username": "canopsis", "password": PASSWORD},
            "payload": '{"summary":'
            ' "{{ .Alarm.Value.Component }}/{{ .Alarm.Value.Resource }}: {{ .Alarm.Value.Output }}",'
            ' "severity": {{ .Alarm.Value.State.Value }}, "alarm": "{{ .Alarm.ID }}"}',
            **fields,
        }
    )


async def test_method_headers_and_body_reach_the_server(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        answer = await call(client, request(server), ("127.0.0.1",), data=data())
    assert answer.status_code == 200
    (got,) = server.received
    assert got.method == "PUT" and got.target == f"/api/paris-2/incidents?token={TOKEN}"
    assert got.headers["content-type"] == "application/json" and got.headers["x-resource"] == "disk"
    assert got.headers["authorization"] == "Basic " + base64.b64encode(f"canopsis:{PASSWORD}".encode()).decode()
    assert json.loads(got.body) == {"summary": "web01/disk: disk full", "severity": 3, "alarm": "alarm-1"}
    assert ticket_from_response(answer.json(), {"ticket_id": "result.number"}) == {"ticket": "INC0042"}


async def test_503_is_retried_then_the_call_succeeds(server: Server) -> None:
    server.statuses = [503, 503, 201]
    async with httpx.AsyncClient() as client:
        answer = await call(client, request(server, retry={"count": 3, "delay": 0.05}), (), data=data())
    assert answer.status_code == 201 and len(server.received) == 3
    assert len({r.body for r in server.received}) == 1, "each attempt sends the same request"


async def test_retries_end_with_an_error_and_secrets_never_reach_the_logs(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.statuses = [503]
    async with httpx.AsyncClient() as client:
        with pytest.raises(WebhookError) as caught:
            await call(client, request(server), (), data=data(), default_retry=Retry(count=2, delay=0.05))
    assert caught.value.status == 503 and caught.value.attempts == 3 and len(server.received) == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "attempt 3 of 3" in logged and "token=***" in logged
    basic = base64.b64encode(f"canopsis:{PASSWORD}".encode()).decode()
    for text in (logged, str(caught.value)):
        for secret in (PASSWORD, TOKEN, basic):
            assert secret not in text


async def test_an_unreachable_server_is_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    closed = Server(statuses=[200], port=port)
    async with httpx.AsyncClient() as client:
        with pytest.raises(WebhookError, match="ConnectError") as caught:
            await call(client, request(closed, retry={"count": 1, "delay": 0.05}), (), data=data(), default_timeout=2)
    assert caught.value.attempts == 2 and caught.value.status is None
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text


async def test_the_allow_list_keeps_calls_from_other_hosts(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(WebhookDenied):
            await call(client, request(server), ("hooks.example",), data=data())
    assert server.received == []
