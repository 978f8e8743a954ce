"""mask_url: what a URL may show in logs and errors."""

from __future__ import annotations

import pytest

from framework import mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://bob:s3cr3t@h.example/p?token=T0K&page=2&api_key=k",
            "https://bob:***@h.example/p?token=***&page=2&api_key=***",
        ),
        ("amqp://guest:guest@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"),
        ("https://T0K3N@h.example/hook", "https://***@h.example/hook"),
        (
            "mongodb://u:p@a:1,b:2/db?authSource=admin&replicaSet=rs",
            "mongodb://u:***@a:1,b:2/db?authSource=admin&replicaSet=rs",
        ),
        ("http://h:8080/x", "http://h:8080/x"),
        ("mongodb://127.0.0.1:27017/canopsis", "mongodb://127.0.0.1:27017/canopsis"),
    ],
)
def test_passwords_and_credential_query_values_never_show(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_url_that_does_not_parse_is_not_echoed() -> None:
    assert mask_url("http://[::1") == "<invalid URL>"
