"""Webhooks: the request model, rendering, masking, the allow-list, retries (httpx.MockTransport), tickets."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from action_factories import alarm, entity

from engines.action.view import template_data
from engines.action.webhook import (
    Retry,
    TicketError,
    WebhookDenied,
    WebhookError,
    WebhookRequest,
    call,
    flatten,
    host_allowed,
    render_request,
    secrets_of,
    ticket_from_response,
)

PASSWORD = "s3cr3t-pa55"
TOKEN = "tok-0123456789"


def request(**fields: Any) -> WebhookRequest:
    return WebhookRequest.model_validate({"method": "POST", "url": "https://hooks.example/alarms", **fields})


def data() -> dict[str, object]:
    ent = entity(infos={"env": {"name": "env", "description": "where", "value": "prod"}})
    return template_data(alarm(ent), ent, additional={"Author": "alice", "Trigger": "create"})


# --- the request model -----------------------------------------------------------------------------


def test_canopsis_webhook_parameters_become_a_request() -> None:
    parsed = WebhookRequest.from_parameters(
        {
            "request": {
                "method": "post",
                "url": "https://h/x",
                "auth": {"username": "u", "password": PASSWORD},
                "headers": {"Content-Type": "application/json"},
                "payload": "{}",
                "skip_verify": True,
                "timeout": {"value": 30, "unit": "s"},
            },
            "retry_count": 3,
            "retry_delay": {"value": 1, "unit": "m"},
            "declare_ticket": {"ticket_id": "id"},
        }
    )
    assert parsed.method == "POST" and parsed.skip_verify and parsed.timeout == 30
    assert parsed.retry == Retry(count=3, delay=60)
    assert parsed.auth is not None and parsed.auth.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(parsed)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "needs parameters.request"),
        ({"request": {"method": "FETCH", "url": "https://h"}}, "request.method: Value error|method 'FETCH'"),
        ({"request": {"method": "GET", "url": ""}}, "request.url"),
        ({"request": {"method": "GET", "url": "https://h"}, "retry_count": 99}, "request.retry.count"),
        ({"request": {"method": "GET", "url": "https://h", "timeout": "soon"}}, "timeout must be seconds"),
    ],
)
def test_invalid_webhook_parameters_say_which_field(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookRequest.from_parameters(parameters)


def test_a_password_never_appears_in_a_validation_error() -> None:
    with pytest.raises(ValueError) as caught:
        WebhookRequest.from_parameters(
            {"request": {"method": "GET", "url": "https://h", "auth": {"username": "u", "password": PASSWORD, "x": 1}}}
        )
    assert PASSWORD not in str(caught.value)


# --- rendering ---------------------------------------------------------------------------------------


def test_url_headers_and_payload_are_rendered_from_the_alarm_and_entity() -> None:
    built = render_request(
        request(
            url="https://hooks.example/{{ .Entity.Infos.env.Value }}/{{ .Alarm.Value.Component }}",
            headers={"X-Alarm": "{{ .Alarm.ID }}", "Content-Type": "application/json"},
            payload='{"resource": "{{ .Alarm.Value.Resource }}", "state": {{ .Alarm.Value.State.Value }}, '
            '"status": {{ .Alarm.Value.Status.Value }}, "by": "{{ .AdditionalData.Author }}", '
            '"entity": "{{ .Entity.ID }} {{ .Entity.Name }}", "connector": "{{ .Alarm.Value.ConnectorName }}"}',
            timeout=7,
        ),
        data(),
    )
    assert built.method == "POST" and str(built.url) == "https://hooks.example/prod/web01"
    assert built.headers["X-Alarm"] == "alarm-disk" and built.headers["Content-Type"] == "application/json"
    assert built.content == (
        b'{"resource": "disk", "state": 2, "status": 1, "by": "alice", '
        b'"entity": "disk/web01 disk", "connector": "paris"}'
    )
    assert built.extensions["timeout"] == {"connect": 7, "read": 7, "write": 7, "pool": 7}


def test_basic_auth_becomes_an_authorization_header() -> None:
    built = render_request(request(auth={"username": "bot", "password": PASSWORD}), data())
    assert built.headers["Authorization"] == "Basic " + base64.b64encode(f"bot:{PASSWORD}".encode()).decode()


def test_a_failing_template_names_the_part_and_never_quotes_a_header() -> None:
    with pytest.raises(WebhookError, match="header 'Authorization' template: map has no entry") as caught:
        render_request(request(headers={"Authorization": f"Bearer {TOKEN}{{{{ .Alarm.Nope }}}}"}), data())
    assert TOKEN not in str(caught.value)
    with pytest.raises(WebhookError, match="payload template"):
        render_request(request(payload="{{ .Entity.Infos.missing.Value }}"), data())


@pytest.mark.parametrize("url", ["ftp://h/x", "/relative", "{{ .Alarm.Value.Resource }}"])
def test_only_absolute_http_urls_are_called(url: str) -> None:
    with pytest.raises(WebhookError, match="http"):
        render_request(request(url=url), data())


# --- secrets -------------------------------------------------------------------------------------------


def test_secrets_of_a_request() -> None:
    req = WebhookRequest.model_validate(
        {"method": "GET", "url": f"https://u:{PASSWORD}@h/?sig=abcd", "headers": {"X-Api-Key": TOKEN, "Accept": "json"}}
    )
    built = render_request(req, data())
    found = secrets_of(built)
    assert PASSWORD in found and TOKEN in found and "abcd" in found and "json" not in found


# --- allow-list ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("any.example", (), True),
        ("hooks.example", ("hooks.example",), True),
        ("HOOKS.example", ("hooks.example.",), True),
        ("evil.example", ("hooks.example",), False),
        ("a.hooks.example", ("*.hooks.example",), True),
        ("hooks.example", ("*.hooks.example",), False),
        ("xhooks.example", ("*.hooks.example",), False),
        ("127.0.0.1", ("localhost", "127.0.0.1"), True),
    ],
)
def test_host_allow_list(host: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert host_allowed(host, allowed) is ok


# --- calls and retries (MockTransport) -------------------------------------------------------------------


class Script:
    """A MockTransport handler answering from a list: statuses, or exceptions to raise."""

    def __init__(self, *answers: int | Exception, body: bytes = b'{"ok": true}') -> None:
        self.answers = list(answers)
        self.body = body
        self.seen: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.seen.append(req)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, content=self.body, headers={"Content-Type": "application/json"})


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_a_successful_call_is_made_once() -> None:
    script, sleeps = Script(200), Sleeps()
    async with client(script) as http:
        answer = await call(http, request(payload="{{ .Alarm.Value.Resource }}"), (), data=data(), sleep=sleeps)
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert len(script.seen) == 1 and script.seen[0].content == b"disk" and sleeps.delays == []


async def test_5xx_is_retried_until_success() -> None:
    script, sleeps = Script(503, 502, 201), Sleeps()
    async with client(script) as http:
        answer = await call(http, request(retry={"count": 3, "delay": 0.5}), (), data=data(), sleep=sleeps)
    assert answer.status_code == 201 and len(script.seen) == 3 and sleeps.delays == [0.5, 0.5]


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")]
)
async def test_connect_errors_and_timeouts_are_retried(error: Exception) -> None:
    script, sleeps = Script(error, 200), Sleeps()
    async with client(script) as http:
        answer = await call(http, request(), (), data=data(), default_retry=Retry(count=1, delay=2), sleep=sleeps)
    assert answer.status_code == 200 and len(script.seen) == 2 and sleeps.delays == [2]


async def test_4xx_is_not_retried() -> None:
    script, sleeps = Script(404, 200), Sleeps()
    async with client(script) as http:
        with pytest.raises(WebhookError) as caught:
            await call(http, request(retry={"count": 5, "delay": 1}), (), data=data(), sleep=sleeps)
    assert caught.value.status == 404 and caught.value.attempts == 1 and len(script.seen) == 1
    assert str(caught.value) == "POST https://hooks.example/alarms: 404 Not Found"


async def test_retries_are_bounded() -> None:
    script, sleeps = Script(500), Sleeps()
    async with client(script) as http:
        with pytest.raises(WebhookError, match=r"500 Internal Server Error after 3 attempts") as caught:
            await call(http, request(retry={"count": 2, "delay": 0}), (), data=data(), sleep=sleeps)
    assert len(script.seen) == 3 and caught.value.status == 500


async def test_a_host_outside_the_allow_list_is_never_called() -> None:
    script = Script(200)
    async with client(script) as http:
        with pytest.raises(WebhookDenied, match=r"host 'hooks\.example' is not in --webhook-allow-host"):
            await call(http, request(), ("other.example",), data=data())
        await call(http, request(), ("*.example",), data=data())
    assert len(script.seen) == 1


async def test_secrets_never_appear_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_request = request(
        url=f"https://bot:{PASSWORD}@hooks.example/alarms?token={TOKEN}",
        auth={"username": "bot", "password": PASSWORD},
        headers={"X-Api-Key": TOKEN, "Cookie": f"session={TOKEN}"},
        retry={"count": 2, "delay": 0},
    )
    failures = Script(httpx.ConnectError(f"refused for {PASSWORD} {TOKEN}"), 503, 500)
    async with client(failures) as http:
        with pytest.raises(WebhookError) as caught:
            await call(http, secret_request, (), data=data(), sleep=Sleeps())
    assert failures.seen[0].headers["X-Api-Key"] == TOKEN, "the secrets were sent"
    text = "\n".join([str(caught.value), caught.value.url, *(r.getMessage() for r in caplog.records)])
    assert "attempt 2 of 3" in text and "hooks.example" in text
    basic = base64.b64encode(f"bot:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, TOKEN, basic):
        assert secret not in text


# --- tickets from the answer --------------------------------------------------------------------------------


ANSWER = {
    "result": {"number": "INC0012", "link": "https://snow/INC0012", "sys": {"priority": 2}},
    "items": [{"id": 7}],
    "ok": True,
}


def test_flatten_gives_dotted_paths() -> None:
    assert flatten(ANSWER) == {
        "result.number": "INC0012",
        "result.link": "https://snow/INC0012",
        "result.sys.priority": 2,
        "items.0.id": 7,
        "ok": True,
    }


def test_ticket_id_url_and_custom_fields_are_read_by_path() -> None:
    declare = {
        "ticket_id": "result.number",
        "ticket_url": "result.link",
        "priority": "result.sys.priority",
        "first": "items.0.id",
        "empty_response": False,
        "is_regexp": False,
        "missing": "no.such",
    }
    assert ticket_from_response(ANSWER, declare) == {
        "ticket": "INC0012",
        "ticket_url": "https://snow/INC0012",
        "ticket_data": {"priority": "2", "first": "7"},
    }


def test_ticket_paths_may_be_regular_expressions() -> None:
    answer = {"objects": {"UserRequest::42": {"fields": {"friendlyname": "R-000042"}}}}
    declare = {"ticket_id": r"objects\.UserRequest::.*\.fields\.friendlyname", "is_regexp": True}
    assert ticket_from_response(answer, declare) == {"ticket": "R-000042"}


@pytest.mark.parametrize(
    ("answer", "declare", "message"),
    [
        ({"id": 1}, {"ticket_id": "number"}, "no 'number' for the ticket id"),
        ({"id": 1}, {}, "ticket_id is missing"),
        ([1, 2], {"ticket_id": "0"}, "JSON list, not an object"),
        (None, {"ticket_id": "id"}, "answered nothing"),
    ],
)
def test_a_ticket_that_cannot_be_read_is_an_error(answer: Any, declare: dict[str, Any], message: str) -> None:
    with pytest.raises(TicketError, match=message):
        ticket_from_response(answer, declare)


def test_an_empty_answer_is_accepted_with_empty_response() -> None:
    assert ticket_from_response(None, {"ticket_id": "id", "empty_response": True}) == {}
