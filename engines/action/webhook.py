"""Webhook actions: the request model, its rendering, the HTTP call, and tickets read from the answer.

Secrets never reach a log line or an error message: the basic-auth password, the value of any
header whose name says it is a credential (Authorization, Cookie, *token*, *key*, *secret*…), a
URL's userinfo password and the values of credential-like query parameters are replaced by
"***" wherever this module writes text. For the same reason, importing it raises the `httpx` and
`httpcore` loggers to WARNING: their INFO/DEBUG lines print request URLs with query strings.

Host allow-list (`--webhook-allow-host`): empty allows every host; otherwise only the hosts it
lists (exact, case-insensitive) and, for an entry `*.example.com`, the subdomains of
example.com. Redirects are not followed, so an allowed host cannot bounce a call elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar, Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from engines.model.template import TemplateError, render
from framework import MASK, SECRET_NAME, mask_url

__all__ = [
    "BasicAuth",
    "Retry",
    "TicketError",
    "WebhookDenied",
    "WebhookError",
    "WebhookRequest",
    "call",
    "flatten",
    "host_allowed",
    "render_request",
    "secrets_of",
    "ticket_from_response",
]

logger = logging.getLogger(__name__)

for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TIMEOUT: Final = 10.0
MAX_TIMEOUT: Final = 300.0
MAX_RETRIES: Final = 10
MAX_RETRY_DELAY: Final = 300.0
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600}
_SECRET_HEADER: Final = re.compile(r"auth|cookie|token|secret|passw|api[-_]?key|signature|credential", re.I)
#: Keys of Canopsis' `declare_ticket` that are settings, not response fields to copy.
_DECLARE_SETTINGS: Final = frozenset(
    {"empty_response", "is_regexp", "ticket_id", "ticket_url", "ticket_id_tpl", "ticket_url_tpl", "ticket_url_title"}
)


class WebhookError(Exception):
    """A webhook call failed; `str()` is a sentence with the masked URL, never a secret.

    `status` is the last HTTP status (None when no answer came), `attempts` how many were made.
    """

    def __init__(self, method: str, url: str, reason: str, *, status: int | None = None, attempts: int = 0) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        self.status = status
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{method} {url}: {reason}{tries}")


class WebhookDenied(WebhookError):
    """The URL's host is not in the allow-list; never retried."""


class TicketError(ValueError):
    """The webhook's answer does not hold the ticket `declare_ticket` asks for."""


class BasicAuth(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    username: str
    password: SecretStr

    def header(self) -> str:
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class Retry(BaseModel):
    """Attempts after the first one (`count`) and the seconds between two (`delay`)."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(default=0, ge=0, le=MAX_RETRIES)
    delay: float = Field(default=1.0, ge=0, le=MAX_RETRY_DELAY)


class WebhookRequest(BaseModel):
    """What a webhook action sends. `url`, header values and `payload` are templates (see
    engines.action.view for the data); `timeout` (seconds per attempt) and `retry` default to
    the engine's options when None. `skip_verify` turns TLS certificate checks off."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="ignore")

    method: str
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    payload: str = ""
    auth: BasicAuth | None = None
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)
    retry: Retry | None = None
    skip_verify: bool = False

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.upper() not in METHODS:
            raise ValueError(f"method {value!r} is not one of {', '.join(METHODS)}")
        return value.upper()

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        return _seconds(value, "timeout")

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        return {} if value is None else value

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> WebhookRequest:
        """The request of a Canopsis webhook action's parameters: `request` {method, url, auth,
        headers, payload, skip_verify, timeout?}, `retry_count`, `retry_delay` {value, unit}.

        Raises ValueError naming the field at fault (the password is never quoted).
        """
        raw = parameters.get("request")
        if not isinstance(raw, Mapping):
            raise ValueError("webhook needs parameters.request {method, url, …}")
        data = dict(raw)
        if parameters.get("retry_count") is not None or parameters.get("retry_delay") is not None:
            delay = _seconds(parameters.get("retry_delay"), "retry_delay")
            data["retry"] = {
                "count": parameters.get("retry_count") or 0,
                **({"delay": delay} if delay is not None else {}),
            }
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"webhook request.{where}: {message}") from None


def _seconds(value: Any, what: str) -> float | None:
    """A number of seconds, or a Canopsis {value, unit} with unit s, m or h."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, Mapping) and value.get("unit") in _UNIT_SECONDS and isinstance(value.get("value"), int):
        return float(value["value"] * _UNIT_SECONDS[value["unit"]])
    raise ValueError(f"{what} must be seconds or {{'value': N, 'unit': 's|m|h'}}, got {value!r}")


# --- secrets -------------------------------------------------------------------------------------


def secrets_of(request: httpx.Request, auth: BasicAuth | None = None) -> tuple[str, ...]:
    """The strings of `request` that must never be written out, longest first."""
    found: set[str] = set()
    if auth is not None:
        password = auth.password.get_secret_value()
        found.update((password, auth.header(), auth.header().removeprefix("Basic ")))
    for name, value in request.headers.items():
        if _SECRET_HEADER.search(name):
            found.add(value)
            found.update(part for part in value.split() if len(part) >= 4)  # "Bearer <token>"
    if request.url.userinfo:
        found.update((request.url.username, request.url.password, request.url.userinfo.decode("ascii", "replace")))
    for name, value in request.url.params.multi_items():
        if SECRET_NAME.search(name):
            found.add(value)
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def _masker(secrets: Iterable[str]) -> Callable[[str], str]:
    ordered = tuple(secrets)

    def mask(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, MASK)
        return text

    return mask


# --- rendering and calling -----------------------------------------------------------------------


def render_request(
    request: WebhookRequest, data: Mapping[str, object], *, default_timeout: float = DEFAULT_TIMEOUT
) -> httpx.Request:
    """The HTTP request: URL, header values and payload rendered over `data` in the sandbox.

    Basic auth becomes an Authorization header. Raises WebhookError (masked, naming the part
    whose template failed, never quoting a header template) when a template fails or the URL is
    not an absolute http(s) URL.
    """

    def rendered(template: str, part: str) -> str:
        try:
            return render(template, data)
        except TemplateError as exc:
            raise WebhookError(request.method, _shown(request.url), f"{part} template: {exc.reason}") from None

    url = rendered(request.url, "url").strip()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise WebhookError(request.method, "<invalid URL>", f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WebhookError(request.method, mask_url(str(parsed)), "not an absolute http(s) URL")
    headers = {name: rendered(value, f"header {name!r}") for name, value in request.headers.items()}
    if request.auth is not None:
        headers["Authorization"] = request.auth.header()
    body = rendered(request.payload, "payload").encode() if request.payload else b""
    timeout = httpx.Timeout(request.timeout or default_timeout)
    return httpx.Request(
        request.method, parsed, headers=headers, content=body, extensions={"timeout": timeout.as_dict()}
    )


def _shown(url_template: str) -> str:
    """A URL template as it may appear in an error: masked when it parses, else not shown."""
    return mask_url(url_template) if "{{" not in url_template else "<templated URL>"


def host_allowed(host: str, allow_hosts: Collection[str]) -> bool:
    """True when `allow_hosts` is empty, lists `host`, or has `*.domain` with host under domain."""
    if not allow_hosts:
        return True
    host = host.lower().rstrip(".")
    for entry in allow_hosts:
        entry = entry.strip().lower().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]) and len(host) > len(entry) - 1:
            return True
        if host == entry:
            return True
    return False


def _retryable(exc: httpx.HTTPError) -> bool:
    """Worth another attempt: no connection, a timeout, or the connection broke mid-exchange."""
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))


async def call(
    client: httpx.AsyncClient,
    request: WebhookRequest,
    allow_hosts: Collection[str],
    *,
    data: Mapping[str, object],
    default_timeout: float = DEFAULT_TIMEOUT,
    default_retry: Retry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Render `request` over `data`, check its host, send it; return the first 1xx–3xx answer.

    Retries (at most `retry.count` more attempts, `retry.delay` s apart) after a connect error,
    a timeout, a broken connection or a 5xx answer; a 4xx answer fails at once. Raises
    WebhookDenied for a host outside `allow_hosts`, WebhookError otherwise, both masked.
    """
    http_request = render_request(request, data, default_timeout=default_timeout)
    mask = _masker(secrets_of(http_request, request.auth))
    method, shown = request.method, mask_url(str(http_request.url))
    if not host_allowed(http_request.url.host, allow_hosts):
        raise WebhookDenied(method, shown, f"host {http_request.url.host!r} is not in --webhook-allow-host")
    retry = request.retry or default_retry or Retry()
    attempts = retry.count + 1
    status: int | None = None
    reason = ""
    for attempt in range(1, attempts + 1):
        try:
            response = await client.send(http_request, follow_redirects=False)
            await response.aread()
        except httpx.HTTPError as exc:
            reason = mask(f"{type(exc).__name__}: {exc}".rstrip(": "))
            if not _retryable(exc):
                raise WebhookError(method, shown, reason, attempts=attempt) from None
        else:
            status = response.status_code
            if status < 400:
                logger.debug("webhook %s %s: %d", method, shown, status)
                return response
            reason = f"{status} {response.reason_phrase}".strip()
            if status < 500:
                raise WebhookError(method, shown, reason, status=status, attempts=attempt)
        if attempt < attempts:
            logger.warning(
                "webhook %s %s failed (%s); attempt %d of %d in %.1f s",
                method,
                shown,
                reason,
                attempt + 1,
                attempts,
                retry.delay,
            )
            await sleep(retry.delay)
    raise WebhookError(method, shown, reason, status=status, attempts=attempts)


# --- tickets from the answer ---------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON value as dotted paths to its scalars: {"a": {"b": [1]}} → {"a.b.0": 1}."""
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in items:
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, (Mapping, list)) and item:
            flat.update(flatten(item, path))
        else:
            flat[path] = item
    return flat


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return json.dumps(value, separators=(",", ":"))


def ticket_from_response(response_json: Any, declare_ticket: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket fields of an assocticket event, read from a webhook's JSON answer.

    `declare_ticket` is Canopsis' object: `ticket_id` (required) and `ticket_url` are paths in the
    answer (dotted, list items by index: `result.0.number`); with `is_regexp` they are regular
    expressions matched in full against those paths (the first path in sorted order wins); every
    other string-valued key is a custom field: `ticket_data[key]` = the value at its path.
    `empty_response: true` accepts an empty answer (None), which then declares no ticket ({}).

    Returns {"ticket", "ticket_url"?, "ticket_data"?}; raises TicketError when the answer is
    empty (without empty_response), not an object, or lacks the ticket id.
    """
    if response_json is None or response_json == "":
        if declare_ticket.get("empty_response"):
            return {}
        raise TicketError("the webhook answered nothing and declare_ticket.empty_response is false")
    if not isinstance(response_json, Mapping):
        raise TicketError(f"the webhook answer is a JSON {type(response_json).__name__}, not an object")
    flat = flatten(response_json)
    regexp = bool(declare_ticket.get("is_regexp"))

    def find(path: str) -> Any:
        if not regexp:
            return flat.get(path)
        pattern = re.compile(path)
        for key in sorted(flat):
            if pattern.fullmatch(key):
                return flat[key]
        return None

    ticket_path = declare_ticket.get("ticket_id")
    if not isinstance(ticket_path, str) or not ticket_path:
        raise TicketError("declare_ticket.ticket_id is missing")
    ticket = find(ticket_path)
    if ticket is None or ticket == "":
        raise TicketError(f"the webhook answer has no {ticket_path!r} for the ticket id")
    result: dict[str, Any] = {"ticket": _text(ticket)}
    url_path = declare_ticket.get("ticket_url")
    if isinstance(url_path, str) and url_path and (url := find(url_path)) not in (None, ""):
        result["ticket_url"] = _text(url)
    custom = {
        name: _text(found)
        for name, path in declare_ticket.items()
        if name not in _DECLARE_SETTINGS and isinstance(path, str) and path and (found := find(path)) is not None
    }
    if custom:
        result["ticket_data"] = custom
    return result
