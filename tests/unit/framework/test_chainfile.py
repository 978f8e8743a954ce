import json
import os.path
import re
from pathlib import Path
from textwrap import dedent

import pytest

from framework.config.chainfile import ChainEntry, load_chain, parse_chain, resolve_callable
from framework.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "engines" / "dynamic" / "example.conf"

# Modelled on the 2018 Python-core and mixed Go/Python chains of Canopsis.
LEGACY = dedent(
    """\
    # amqp2engines.conf
    [master]
    host = localhost

    [engine:cleaner_events]
    exchange_name = canopsis.events
    routing_keys = #
    next = event_filter

    [engine:event_filter]
    next = axe, metric,pbehavior   ; Go axe is fed through amq.direct
    max_retries = 5

    [engine:pbehavior]
    event_processing = canopsis.pbehavior.process.event_processing
    beat_processing = canopsis.pbehavior.process.beat_processing
    next = Engine_alerts,context-graph
    next_balanced = false

    [engine:metric]
    autoconnect = true
    params = {'limit': 10}

    [engine:watcher]
    beat_processing = canopsis.watcher.process.beat_processing
    beat_interval = 30

    [engine:snmp]
    routing_keys = snmp.#, trap.#
    exchange_name = canopsis.snmp
    """
)


def entry(body: str, name: str = "che") -> ChainEntry:
    return parse_chain(f"[engine:{name}]\n{dedent(body)}", "amqp2engines.conf")[name]


def test_legacy_file_yields_engine_sections_in_file_order() -> None:
    chain = parse_chain(LEGACY)
    assert list(chain) == ["cleaner_events", "event_filter", "pbehavior", "metric", "watcher", "snmp"]


@pytest.mark.parametrize(
    ("name", "attribute", "expected"),
    [
        ("cleaner_events", "exchange_name", "canopsis.events"),
        ("cleaner_events", "routing_keys", ("#",)),
        ("cleaner_events", "consume_queue", "Engine_cleaner_events"),
        ("cleaner_events", "publish_queues", ("Engine_event_filter",)),
        ("event_filter", "next", ("axe", "metric", "pbehavior")),
        ("event_filter", "publish_queues", ("Engine_axe", "Engine_metric", "Engine_pbehavior")),
        ("event_filter", "exchange_name", None),
        ("event_filter", "routing_keys", ()),
        ("pbehavior", "event_processing", "canopsis.pbehavior.process.event_processing"),
        ("pbehavior", "beat_processing", "canopsis.pbehavior.process.beat_processing"),
        ("pbehavior", "next", ("Engine_alerts", "context-graph")),
        ("pbehavior", "publish_queues", ("Engine_alerts", "Engine_context-graph")),
        ("pbehavior", "next_balanced", False),
        ("metric", "next", ()),
        ("metric", "event_processing", None),
        ("watcher", "beat_interval", 30.0),
        ("snmp", "exchange_name", "canopsis.snmp"),
        ("snmp", "routing_keys", ("snmp.#", "trap.#")),
    ],
)
def test_legacy_file_entry_field(name: str, attribute: str, expected: object) -> None:
    assert getattr(parse_chain(LEGACY)[name], attribute) == expected


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("event_filter", {"max_retries": "5"}),
        ("metric", {"autoconnect": "true", "params": "{'limit': 10}"}),
        ("cleaner_events", {}),
    ],
)
def test_unknown_keys_are_kept_as_options(name: str, options: dict[str, str]) -> None:
    assert dict(parse_chain(LEGACY)[name].options) == options


def test_empty_section_takes_the_defaults() -> None:
    assert entry("") == ChainEntry(name="che")
    assert entry("").beat_interval == 60.0
    assert entry("").consume_queue == "Engine_che"
    assert entry("").publish_queues == ()


def test_default_section_applies_to_every_engine_as_in_legacy_configparser() -> None:
    chain = parse_chain("[DEFAULT]\nmax_retries = 3\n[engine:a]\n[engine:b]\nmax_retries = 7\n")
    assert [dict(e.options) for e in chain.values()] == [{"max_retries": "3"}, {"max_retries": "7"}]


@pytest.mark.parametrize(
    ("raw", "names", "queues"),
    [
        ("axe", ("axe",), ("Engine_axe",)),
        ("axe,metric", ("axe", "metric"), ("Engine_axe", "Engine_metric")),
        ("  axe ,  metric  ", ("axe", "metric"), ("Engine_axe", "Engine_metric")),
        ("axe,\n  metric", ("axe", "metric"), ("Engine_axe", "Engine_metric")),
        ("Engine_axe, metric", ("Engine_axe", "metric"), ("Engine_axe", "Engine_metric")),
        ("context-graph", ("context-graph",), ("Engine_context-graph",)),
        ("", (), ()),
    ],
)
def test_next_lists_become_engine_queues(raw: str, names: tuple[str, ...], queues: tuple[str, ...]) -> None:
    parsed = entry(f"next = {raw}")
    assert (parsed.next, parsed.publish_queues) == (names, queues)


def test_engine_prefixed_section_name_is_not_prefixed_twice() -> None:
    assert entry("", name="Engine_che").consume_queue == "Engine_che"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
    ],
)
def test_next_balanced_accepts_configparser_booleans(raw: str, expected: bool) -> None:
    assert entry(f"next = a,b\nnext_balanced = {raw}").next_balanced is expected


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("5", 5.0), ("0.5", 0.5), (" 3600 ", 3600.0), ("1e1", 10.0), ("0", 60.0)],
)
def test_beat_interval_is_seconds_and_zero_means_default(raw: str, seconds: float) -> None:
    assert entry(f"beat_interval = {raw}").beat_interval == seconds


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ("exchange_name = canopsis.events", ("#",)),
        ("exchange_name = canopsis.events\nrouting_keys = #", ("#",)),
        ("exchange_name = canopsis.events\nrouting_keys = a.b.#,c.#", ("a.b.#", "c.#")),
        ("exchange_name = canopsis.events\nrouting_keys = a.b.# , c.*", ("a.b.#", "c.*")),
        ("exchange_name = x   ; bound for the demo\nrouting_keys = # ; all", ("#",)),
    ],
)
def test_routing_keys_default_to_everything_once_an_exchange_is_named(body: str, keys: tuple[str, ...]) -> None:
    assert entry(body).routing_keys == keys


def test_inline_semicolon_comment_is_stripped_from_values() -> None:
    assert entry("exchange_name = x   ; bound for the demo").exchange_name == "x"


WHERE = "amqp2engines.conf [engine:che]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("beat_interval = fast", f"{WHERE} beat_interval: 'fast' is not a number of seconds"),
        ("beat_interval =", f"{WHERE} beat_interval: '' is not a number of seconds"),
        ("beat_interval = -5", f"{WHERE} beat_interval: '-5' is not a number of seconds"),
        ("beat_interval = nan", f"{WHERE} beat_interval: 'nan' is not a number of seconds"),
        ("beat_interval = inf", f"{WHERE} beat_interval: 'inf' is not a number of seconds"),
        ("next = axe,,metric", f"{WHERE} next: empty queue name in 'axe,,metric' (remove the extra comma)"),
        ("next = axe,", f"{WHERE} next: empty queue name in 'axe,' (remove the extra comma)"),
        ("next = axe metric", f"{WHERE} next: 'axe metric' in 'axe metric' contains a space"),
        ("next = axe,axe", f"{WHERE} next: queue Engine_axe is listed twice in 'axe,axe' (remove one)"),
        ("next = axe,Engine_axe", f"{WHERE} next: queue Engine_axe is listed twice"),
        ("next = Engine_", f"{WHERE} next: 'Engine_' has no engine name after 'Engine_'"),
        ("next = " + "a" * 250, f"{WHERE} next: '{'a' * 250}' is too long for an AMQP queue name"),
        ("next_balanced = maybe", f"{WHERE} next_balanced: 'maybe' is not a boolean (write true or false)"),
        ("next_balanced =", f"{WHERE} next_balanced: '' is not a boolean"),
        ("event_processing = passthrough", f"{WHERE} event_processing: 'passthrough' is not a dotted path"),
        ("event_processing = a..b", f"{WHERE} event_processing: 'a..b' is not a dotted path module.function"),
        ("event_processing = a.b-c", f"{WHERE} event_processing: 'a.b-c' is not a dotted path"),
        ("event_processing = a.class.f", f"{WHERE} event_processing: 'a.class.f' is not a dotted path"),
        ("event_processing =", f"{WHERE} event_processing: '' is not a dotted path"),
        ("beat_processing = a.b c", f"{WHERE} beat_processing: 'a.b c' is not a dotted path"),
        ("exchange_name =", f"{WHERE} exchange_name: '' is not an exchange name"),
        ("exchange_name = canopsis events", f"{WHERE} exchange_name: 'canopsis events' is not an exchange name"),
        (
            "routing_keys = a.#",
            f"{WHERE} routing_keys: 'a.#' has no exchange to bind to "
            "(add exchange_name = canopsis.events, or remove routing_keys)",
        ),
        (
            "exchange_name = x\nrouting_keys = a.#,,b",
            f"{WHERE} routing_keys: empty routing key in 'a.#,,b' (remove the extra comma)",
        ),
        ("exchange_name = x\nrouting_keys =", f"{WHERE} routing_keys: no binding key (write routing_keys = #"),
    ],
)
def test_bad_value_is_refused_naming_file_section_key_and_value(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        entry(body)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine:]\n", "amqp2engines.conf [engine:]: no engine name after 'engine:' (write [engine:NAME])"),
        ("[engine: che]\n", "amqp2engines.conf [engine: che]: engine name ' che' contains a space"),
        ("next = axe\n", "amqp2engines.conf line 1: 'next = axe' comes before any section"),
        ("[engine:a]\nnext axe\n", "amqp2engines.conf line 2: cannot parse 'next axe' (write key = value)"),
        ("[engine:a]\n[engine:a]\n", "amqp2engines.conf line 2: section [engine:a] appears twice"),
        ("[engine:a]\nnext = b\nnext = c\n", "amqp2engines.conf [engine:a] next: set twice, again on line 3"),
    ],
)
def test_malformed_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_chain(text, "amqp2engines.conf")


def test_error_in_a_non_engine_section_is_ignored() -> None:
    assert parse_chain("[master]\nbeat_interval = fast\n") == {}


def test_load_chain_reads_the_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "amqp2engines.conf"
    path.write_text("[engine:che]\nnext = axe\n", encoding="utf-8")
    assert load_chain(path)["che"].publish_queues == ("Engine_axe",)
    path.write_text("[engine:che]\nbeat_interval = fast\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path} [engine:che] beat_interval: 'fast'")):
        load_chain(str(path))


def test_load_chain_of_a_missing_file_says_not_found() -> None:
    with pytest.raises(ConfigError, match=r"^chain file 'x\.conf' not found$"):
        load_chain("x.conf")


def test_load_chain_of_a_directory_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^chain file {re.escape(repr(str(tmp_path)))} cannot be read"):
        load_chain(tmp_path)


def test_example_chain_file_describes_the_demo() -> None:
    chain = load_chain(EXAMPLE)
    assert {name: (e.consume_queue, e.publish_queues) for name, e in chain.items()} == {
        "cleaner": ("Engine_cleaner", ("Engine_enricher",)),
        "enricher": ("Engine_enricher", ("Engine_store",)),
        "store": ("Engine_store", ()),
    }
    assert (chain["cleaner"].exchange_name, chain["cleaner"].routing_keys) == ("canopsis.events", ("#",))
    assert chain["enricher"].beat_interval == 5.0
    assert chain["enricher"].beat_processing == "engines.dynamic.examples.count_beat"
    assert chain["store"].event_processing == "engines.dynamic.examples.passthrough"


@pytest.mark.parametrize(("dotted", "expected"), [("json.dumps", json.dumps), ("os.path.join", os.path.join)])
def test_resolve_callable_returns_the_function(dotted: str, expected: object) -> None:
    assert resolve_callable(dotted, "[engine:x] event_processing") is expected


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        (
            "no_such_module_xyz.bar",
            "[engine:x] event_processing: cannot import 'no_such_module_xyz.bar': No module named 'no_such_module_xyz'",
        ),
        (
            "json.no_such_function",
            "[engine:x] event_processing: cannot import 'json.no_such_function': "
            "module 'json' has no attribute 'no_such_function'",
        ),
        ("os.sep", "[engine:x] event_processing: 'os.sep' is a str, not a function"),
        ("dumps", "[engine:x] event_processing: 'dumps' is not a dotted path module.function"),
    ],
)
def test_resolve_callable_refuses_what_it_cannot_call(dotted: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        resolve_callable(dotted, "[engine:x] event_processing")


def test_entries_are_frozen_and_hashable() -> None:
    parsed = entry("next = axe\nmax_retries = 5")
    with pytest.raises(AttributeError):
        parsed.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        parsed.options["max_retries"] = "6"  # type: ignore[index]
    assert hash(parsed) == hash(entry("next = axe"))
