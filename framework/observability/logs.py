"""Logging for engine processes: one line per record, text or JSON, context fields in `extra`."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Final, Literal

__all__ = ["configure_logging"]

#: Attributes every LogRecord has; anything else on a record came from `extra=` and is context.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "engine": self.instance,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(instance: str, *, debug: bool, fmt: Literal["text", "json"]) -> None:
    """Log to stderr (journald under systemd); DEBUG adds one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(instance))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {instance} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # The AMQP client logs every frame at DEBUG and each failed connect at ERROR, httpx every
    # InfluxDB request at INFO; the runtime reports the same events once, with the next retry
    # delay, so theirs only show with -d.
    for noisy in ("aiormq", "aio_pika", "pymongo", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.CRITICAL)
