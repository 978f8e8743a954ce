"""Settings precedence (flag > CPS_* > file > default) and one-line errors naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from engines.passthrough.engine import PassthroughEngine
from framework import ConfigError, build_settings
from framework.config.flags import parse_settings
from framework.runtime.process import main


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    config = tmp_path / "engines.toml"
    config.write_text("prefetch = 10\nworkers = 3\nbatch_size = 7\n[che]\nworkers = 4\n")
    env = {"CPS_CONFIG": str(config), "CPS_WORKERS": "5", "CPS_PREFETCH": "20"}
    s = build_settings(name="che", flags={"prefetch": 30}, environ=env)
    assert (s.prefetch, s.workers, s.batch_size, s.drain_timeout) == (30, 5, 7, 10.0)
    s = build_settings(name="che", flags={}, environ={"CPS_CONFIG": str(config)})
    assert s.workers == 4, "the engine's own table overrides top-level keys"


def test_publish_queues_accept_repeats_and_comma_lists() -> None:
    s = build_settings(name="che", flags={"publish_queues": ["Engine_axe,Engine_perfdata", "Engine_x"]}, environ={})
    assert s.publish_queues == ("Engine_axe", "Engine_perfdata", "Engine_x")
    assert s.consume_queue == "Engine_che"


def test_chain_file_section_gives_routing_and_flags_still_win(tmp_path: Path) -> None:
    chain = tmp_path / "amqp2engines.conf"
    chain.write_text(
        "[engine:che]\nnext = axe,perfdata\nnext_balanced = true\nbeat_interval = 7\n"
        "exchange_name = canopsis.events\nrouting_keys = #\n"
    )
    s = build_settings(name="che", flags={"chain_file": chain}, environ={})
    assert (s.publish_queues, s.balanced, s.beat_interval, s.bindings) == (
        ("Engine_axe", "Engine_perfdata"),
        True,
        7.0,
        ("#",),
    )
    s = build_settings(name="che", flags={"chain_file": chain, "publish_queues": "Engine_x"}, environ={})
    assert s.publish_queues == ("Engine_x",)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (
            {"publish_queues": "Engine_axe,,Engine_action"},
            {},
            "--publish-queue: empty name in 'Engine_axe,,Engine_action' (remove the extra comma)",
        ),
        (
            {},
            {"CPS_AMQP_URL": "http://guest:secret@host"},
            "CPS_AMQP_URL: 'http://guest:***@host' must start with amqp:// or amqps://",
        ),
        (
            {},
            {"CPS_PREFETCH": "lots"},
            "CPS_PREFETCH: 'lots': Input should be a valid integer, unable to parse string as an integer",
        ),
        ({"beat_interval": 0}, {}, "--beat-interval: 0: Input should be greater than 0"),
        ({"chain_file": "/nonexistent/amqp2engines.conf"}, {}, "chain file '/nonexistent/amqp2engines.conf' not found"),
    ],
)
def test_bad_setting_names_its_source_and_value(flags: dict, env: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        build_settings(name="che", flags=flags, environ=env)
    assert str(info.value) == message
    assert "secret" not in str(info.value)


def test_periodical_wait_time_is_canopsis_spelling_of_beat_interval() -> None:
    assert parse_settings(PassthroughEngine, ["--periodical-wait-time", "5"]).beat_interval == 5.0


def test_bad_flag_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(PassthroughEngine, ["--prefetch", "many"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "passthrough: argument --prefetch: invalid int value: 'many' (see --help)"


class _Options(BaseModel):
    cancel_autosolve_delay: float = Field(default=3600, gt=0, description="seconds before a cancelled alarm resolves")
    allow_double_ack: bool = False


class _WithOptions(PassthroughEngine):
    options_model = _Options


def test_engine_options_come_from_flags_and_environment() -> None:
    s = parse_settings(_WithOptions, ["--cancel-autosolve-delay", "5", "--allow-double-ack"])
    assert s.options == _Options(cancel_autosolve_delay=5, allow_double_ack=True)
    s = build_settings(name="axe", flags={}, environ={"CPS_CANCEL_AUTOSOLVE_DELAY": "7"}, options_model=_Options)
    assert s.options == _Options(cancel_autosolve_delay=7)


def test_bad_engine_option_names_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_WithOptions, ["--cancel-autosolve-delay", "-1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "passthrough: --cancel-autosolve-delay: '-1': Input should be greater than 0"
    )
