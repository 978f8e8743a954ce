"""The one boundary where RabbitMQ client errors become ours (framework.transport.amqp.broker_errors).

As httpx does for its transports: every exception class aio-pika, aiormq and pamqp define is
raised through the boundary, and each must come out as BrokerUnavailable, so that a library
upgrade adding a class shows here rather than as an engine that crashes instead of reconnecting.
"""

from __future__ import annotations

import inspect
from types import ModuleType

import aio_pika.exceptions
import aiormq.exceptions
import pamqp.exceptions
import pytest

from framework import BrokerUnavailable, broker_errors

LIBRARIES: tuple[ModuleType, ...] = (aiormq.exceptions, aio_pika.exceptions, pamqp.exceptions)
CLASSES = sorted(
    {
        cls
        for module in LIBRARIES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception)
    },
    key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)


def test_the_libraries_still_define_what_we_checked() -> None:
    assert len(CLASSES) >= 50  # aio-pika re-exports most of aiormq's


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_client_error_becomes_broker_unavailable_naming_what_was_done(cls: type[Exception]) -> None:
    error = cls.__new__(cls)
    with pytest.raises(BrokerUnavailable, match=r"^RabbitMQ unavailable: acking: ") as raised, broker_errors("acking"):
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("error", [ConnectionResetError("reset"), TimeoutError(), EOFError(), OSError("no route")])
def test_network_errors_become_broker_unavailable(error: Exception) -> None:
    with pytest.raises(BrokerUnavailable), broker_errors("publishing"):
        raise error


@pytest.mark.parametrize("error", [RuntimeError("bug"), ValueError("bug"), KeyError("bug")])
def test_a_bug_is_not_taken_for_an_outage(error: Exception) -> None:
    with pytest.raises(type(error)), broker_errors("publishing"):
        raise error
