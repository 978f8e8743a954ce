"""What a URL may show in logs and errors, decided in one place, and the default service URLs."""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

__all__ = ["DEFAULT_AMQP_URL", "DEFAULT_MONGO_URL", "MASK", "SECRET_NAME", "mask_url"]

DEFAULT_AMQP_URL: Final = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_MONGO_URL: Final = "mongodb://127.0.0.1:27017/canopsis"

MASK: Final = "***"
#: Names of query parameters (and headers) whose values are credentials.
SECRET_NAME: Final = re.compile(r"pass|secret|token|key|auth(?!source|mechanism)|sig|credential", re.I)


def mask_url(url: str) -> str:
    """`url` with the password of its userinfo, and the values of credential-like query
    parameters, written ***. The user name stays (it tells which account); a userinfo without a
    password is masked whole (`https://TOKEN@host`). Never raises."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = "&".join(_mask_parameter(p) for p in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _mask_parameter(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    return f"{name}={MASK}" if equals and SECRET_NAME.search(urllib.parse.unquote_plus(name)) else parameter
