"""The message an engine consumes and produces: a JSON object, validated by a pydantic model."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from framework.errors import InvalidEvent, UndecodableBody

__all__ = ["DecodeContext", "Message", "decode"]

DecodeContext = dict[str, Any]

#: Bodies over this size are refused before parsing: a runaway producer must not exhaust memory.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024


class Message(BaseModel):
    """Any JSON object; unknown keys are kept and written back out unchanged.

    Subclasses add fields and validation (the Canopsis event is one) and may name an ordering
    key: messages with the same `key` are handled in the order they were received.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")

    _amqp_message_id: str | None = PrivateAttr(default=None)
    _amqp_redelivered: bool = PrivateAttr(default=False)

    def received_as(self, message_id: str | None, redelivered: bool) -> None:
        """Record how the broker delivered it (the runtime calls this after decoding)."""
        self._amqp_message_id = message_id
        self._amqp_redelivered = redelivered

    @property
    def amqp_message_id(self) -> str | None:
        """The AMQP message id it arrived with; our engines publish every message with one."""
        return self._amqp_message_id

    @property
    def amqp_redelivered(self) -> bool:
        """It was handed to an engine before: by the broker (maybe to an instance that died after
        applying it), or by this runtime, which runs it again after an outage or to isolate a
        bad event of its batch (its effects may already be written)."""
        return self._amqp_redelivered

    def handled_again(self) -> None:
        """The runtime is about to run it again: from now on it counts as redelivered."""
        self._amqp_redelivered = True

    @property
    def key(self) -> str | None:
        """Ordering key; None means the message may be handled in any order."""
        return None

    def to_json(self) -> bytes:
        """The body to publish: the fields that were received or set, nothing invented."""
        return self.model_dump_json(exclude_unset=True).encode()


def decode(model: type[Message], body: bytes, context: DecodeContext) -> Message:
    """Parse one AMQP body into `model`.

    Raises UndecodableBody (not JSON, not an object, too large) or InvalidEvent (the model
    refused it); both carry the reason that goes into the dead-letter headers.
    """
    if len(body) > MAX_BODY_BYTES:
        raise UndecodableBody(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}", body)
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in ("json_invalid", "json_type", "model_type", "model_attributes_type"):
            raise UndecodableBody(_describe(first), body) from None
        raise InvalidEvent("; ".join(_describe(e) for e in exc.errors()[:5]), body) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
