"""Engine settings: one validated model, built from flag > CPS_* environment > file > default."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from framework.config.chainfile import ChainEntry, load_chain
from framework.errors import ConfigError
from framework.transport.names import EVENTS_EXCHANGE, engine_queue
from framework.urls import DEFAULT_AMQP_URL, DEFAULT_MONGO_URL, mask_url

__all__ = ["ENV_PREFIX", "Settings", "build_settings"]

ENV_PREFIX: Final = "CPS_"

LIST_FIELDS: Final = frozenset({"publish_queues", "bindings"})

#: Flag spelling of each field, for error messages (the environment spelling is CPS_<FIELD>).
FLAGS: Final = {
    "publish_queues": "--publish-queue",
    "bindings": "--bind",
    "beat_interval": "--beat-interval",
}


class Settings(BaseModel):
    """Everything an engine process is told; frozen once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # identity and routing
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    instance: str = ""
    consume_queue: str = ""
    publish_queues: tuple[str, ...] = ()
    balanced: bool = False
    exchange: str = EVENTS_EXCHANGE
    bindings: tuple[str, ...] = ()
    partitions: int = Field(default=0, ge=0, le=1024)
    chain_file: Path | None = None

    # services
    amqp_url: str = DEFAULT_AMQP_URL
    mongo_url: str = DEFAULT_MONGO_URL
    influx_url: str | None = None

    # throughput
    prefetch: int = Field(default=300, ge=1, le=65535)
    batch_size: int = Field(default=100, ge=1, le=10000)
    batch_wait: float = Field(default=0.0, ge=0, le=10, description="seconds to wait for a fuller batch")
    workers: int = Field(default=1, ge=1, le=1000)

    # lifecycle
    beat_interval: float = Field(default=60.0, gt=0)
    drain_timeout: float = Field(default=10.0, ge=0)
    stall_timeout: float = Field(default=60.0, gt=0)
    connect_attempts: int = Field(default=5, ge=1)
    retry_max_delay: float = Field(default=30.0, gt=0)

    # diagnostics
    debug: bool = False
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Prometheus /metrics port; 0 = off")
    print_event_on_error: bool = False
    log_format: Literal["text", "json"] = "text"

    # the engine's own settings (Engine.options_model), validated
    options: BaseModel | None = None

    @field_validator("amqp_url")
    @classmethod
    def _amqp_scheme(cls, url: str) -> str:
        return _require_scheme(url, ("amqp://", "amqps://"))

    @field_validator("mongo_url")
    @classmethod
    def _mongo_scheme(cls, url: str) -> str:
        return _require_scheme(url, ("mongodb://", "mongodb+srv://"))

    @field_validator("influx_url")
    @classmethod
    def _influx_scheme(cls, url: str | None) -> str | None:
        if not url:
            return None
        from framework.services.influx import parse_influx_url  # local: no HTTP client at import

        parse_influx_url(_require_scheme(url, ("http://", "https://")))
        return url

    @field_validator("publish_queues", "bindings")
    @classmethod
    def _no_empty_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if any(not n for n in names):
            raise ValueError(f"empty name in {','.join(names)!r} (remove the extra comma)")
        return names

    @property
    def instance_name(self) -> str:
        """How this process appears in logs, connection names and metrics."""
        return self.instance or self.name


def _require_scheme(url: str, schemes: tuple[str, ...]) -> str:
    if not url.startswith(schemes):
        raise ValueError(f"{mask_url(url)!r} must start with {' or '.join(schemes)}")
    return url


def split_list(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`a,b` or repeated values → ('a', 'b'); an empty element is kept so validation can name it."""
    items = [raw] if isinstance(raw, str) else list(raw)
    return tuple(part.strip() for item in items for part in item.split(","))


def build_settings(
    *,
    name: str,
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    options_model: type[BaseModel] | None = None,
) -> Settings:
    """Merge the sources in precedence order and validate once.

    `flags` holds only the flags given on the command line; `defaults` are the engine class's
    own (publish_to, bindings); `options_model` holds the engine's own settings, read from the
    same sources and validated into `Settings.options`. Raises ConfigError naming the flag,
    variable or file at fault.
    """
    environ = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    values: dict[str, Any] = {"name": name, **(defaults or {})}
    option_fields = set(options_model.model_fields) if options_model else set()
    known = set(Settings.model_fields) | option_fields

    env_values = {
        field: environ[ENV_PREFIX + field.upper()] for field in known if environ.get(ENV_PREFIX + field.upper())
    }
    config_path = flags.get("config") or environ.get(ENV_PREFIX + "CONFIG")
    chain_path = flags.get("chain_file") or env_values.get("chain_file")
    effective_name = flags.get("name") or env_values.get("name") or name

    if config_path:
        for field, value in _read_config_file(Path(config_path), effective_name, known).items():
            values[field] = value
            sources[field] = f"{config_path}: {field}"
    if chain_path:
        for field, value in _chain_values(Path(chain_path), effective_name).items():
            values[field] = value
            sources[field] = f"{chain_path} [engine:{effective_name}]"
    for field, value in env_values.items():
        values[field] = split_list(value) if field in LIST_FIELDS else value
        sources[field] = ENV_PREFIX + field.upper()
    for field, value in flags.items():
        if field == "config" or value is None:
            continue
        values[field] = split_list(value) if field in LIST_FIELDS else value
        sources[field] = FLAGS.get(field, "--" + field.replace("_", "-"))

    if not values.get("consume_queue"):
        values["consume_queue"] = engine_queue(values.get("name") or name)
    option_values = {field: values.pop(field) for field in option_fields if field in values}
    try:
        options = options_model.model_validate(option_values) if options_model else None
        return Settings.model_validate({**values, "options": options})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources, {**values, **option_values})) from None


def _read_config_file(path: Path, name: str, known: set[str]) -> dict[str, Any]:
    """Top-level keys apply to every engine; a `[<engine name>]` table overrides them for one."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found (--config / CPS_CONFIG)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}': {exc}") from None
    own = data.get(name, {})
    merged = {k: v for k, v in data.items() if not isinstance(v, dict)}
    merged.update(own if isinstance(own, dict) else {})
    result = {}
    for key, value in merged.items():
        field = key.replace("-", "_")
        if field not in known or field == "name":
            raise ConfigError(f"config file '{path}': unknown setting {key!r}")
        result[field] = value
    return result


def _chain_values(path: Path, name: str) -> dict[str, Any]:
    chain = load_chain(path)
    entry: ChainEntry | None = chain.get(name)
    if entry is None:
        known = ", ".join(chain) or "none"
        raise ConfigError(f"chain file '{path}' has no [engine:{name}] section (sections: {known})")
    values: dict[str, Any] = {
        "publish_queues": entry.publish_queues,
        "balanced": entry.next_balanced,
        "beat_interval": entry.beat_interval,
        "bindings": entry.routing_keys,
    }
    if entry.exchange_name:
        values["exchange"] = entry.exchange_name
    return values


def _explain(exc: ValidationError, sources: Mapping[str, str], values: Mapping[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        where = sources.get(field, field or "settings")
        value = values.get(field)
        shown = mask_url(value) if isinstance(value, str) and "url" in field else value
        message = str(error["msg"]).removeprefix("Value error, ")
        # Messages of our own validators already quote the value; pydantic's built-in ones do not.
        own = field.endswith("_url") or field in LIST_FIELDS
        problems.append(f"{where}: {message}" if own else f"{where}: {shown!r}: {message}")
    return "; ".join(problems)
