"""engines.model.template: the Go-template subset of event-filter rules, and its sandbox."""

from __future__ import annotations

from typing import Any, Final

import pytest

from engines.model.template import (
    FUNCTIONS,
    TemplateError,
    compile_template,
    lookup,
    render,
)

DATA: Final[dict[str, Any]] = {
    "Event": {
        "Component": "srv01",
        "Resource": "disk",
        "Output": "  abc b 10  ",
        "State": 2,
        "ExtraInfos": {
            "site": "Paris",
            "count": 3,
            "big": 1500000.0,
            "ratio": 0.5,
            "whole": 3.0,
            "none": None,
            "roles": ["db", "web"],
            "meta": {"b": 1, "a": "x"},
            "flag": True,
        },
        "Entity": None,
    },
    "RegexMatch": {"Output": {"load": "97"}, "ExtraInfos": {}},
    "ExternalData": {"cmdb": {"owner": "ops"}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        ("{{ .Event.Component }}", "srv01"),
        ("{{.Event.Component}}/{{.Event.Resource}}", "srv01/disk"),
        ("{{ $.Event.Component }}", "srv01"),
        ("{{ .Event.ExtraInfos.site }}", "Paris"),
        ("{{ .RegexMatch.Output.load }}%", "97%"),
        ("{{ .ExternalData.cmdb.owner }}", "ops"),
        ("{{ .Event.State }}", "2"),
        ("{{ .Event.ExtraInfos.count }}", "3"),
        ("{{ .Event.ExtraInfos.whole }}", "3"),  # Go prints float64 3 as 3
        ("{{ .Event.ExtraInfos.big }}", "1.5e+06"),  # Go's %v of a float64
        ("{{ .Event.ExtraInfos.ratio }}", "0.5"),
        ("{{ .Event.ExtraInfos.flag }}", "true"),
        ("{{ .Event.ExtraInfos.roles }}", "[db web]"),
        ("{{ .Event.ExtraInfos.meta }}", "map[a:x b:1]"),
        ("{{ .Event.ExtraInfos.none }}", "<no value>"),  # null prints as Go's nil interface
        ('{{ "a\\tb" }}-{{ `raw\\n` }}-{{ 42 }}-{{ false }}', "a\tb-raw\\n-42-false"),
        ("a  {{- .Event.Resource -}}  b", "adiskb"),
        ("a {{/* a comment */}}b", "a b"),
        ("a {{- /* trimmed */ -}} b", "ab"),
        ('{{ replace "}}" "x" "a}}b" }}', "axb"),  # "}}" inside a string literal
    ],
)
def test_render_supported_construct(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .Event.Output | trim }}", "abc b 10"),
        ("{{ trim .Event.Output }}", "abc b 10"),
        ('{{ .Event.Output | trim | split " " 1 }}', "b"),
        ('{{ .Event.Component | split "0" 0 }}', "srv"),
        ('{{ .Event.Component | split "0" 5 }}', ""),  # index out of range: "" as Canopsis
        ('{{ .Event.Component | split "" 1 }}', "r"),  # Go splits "" into characters
        ('{{ .Event.Output | trim | replace "b" "d" }}', "adc d 10"),
        ('{{ .Event.Output | trim | replace "\\\\d+" "20" }}', "abc b 20"),
        ('{{ .Event.Output | trim | replace "(\\\\d+)" "$1 out of 100" }}', "abc b 10 out of 100"),
        ('{{ .Event.Output | trim | replace `(?<n>\\d+)` "${n}$$" }}', "abc b 10$"),
        ('{{ .Event.Output | trim | replace "b" "$9" }}', "ac  10"),  # unknown group: ""
        ("{{ .Event.ExtraInfos.site | uppercase }}", "PARIS"),
        ("{{ .Event.ExtraInfos.site | lowercase }}", "paris"),
        ("{{ .Event.State | trim }}", ""),  # not a string: "" as Canopsis
        ("{{ .Event.ExtraInfos.none | uppercase }}", ""),
    ],
)
def test_pipeline_functions_follow_canopsis(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


def test_function_table_is_the_documented_canopsis_subset() -> None:
    assert sorted(FUNCTIONS) == ["lowercase", "replace", "split", "trim", "uppercase"]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ .Event.Missing }}", "map has no entry for key 'Missing'"),
        ("{{ .Event.ExtraInfos.absent }}", "map has no entry for key 'absent'"),
        ("{{ .RegexMatch.Output.nogroup }}", "map has no entry for key 'nogroup'"),
        ("{{ .Event.Component.Length }}", "can't evaluate field Length in type string"),
        ("{{ .Event.Entity.Name }}", "nil pointer evaluating Name"),
        ("{{ .Event.ExtraInfos.none.x }}", "nil pointer evaluating x"),
        ("{{ .Event.Component | split 1 0 }}", "expected string; got int"),
        ('{{ .Event.Component | split "," "0" }}', "expected int; got string"),
    ],
)
def test_render_error_names_the_problem(template: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason) as caught:
        render(template, DATA)
    assert caught.value.template == template
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .Event.Missing }}", "<no value>"),
        ("{{ .Event.Missing.deeper }}", "<no value>"),
        ("[{{ .Event.Missing | uppercase }}]", "[]"),
    ],
)
def test_missing_key_prints_no_value_with_go_default_option(template: str, expected: str) -> None:
    assert render(template, DATA, missingkey="default") == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ .Event.Component", "unclosed action"),
        ("{{ }}", "missing value for command"),
        ("{{ .Event.Component | }}", "missing command"),
        ("{{ | trim }}", "missing command"),
        ("{{ .Event.Component | lower }}", "function 'lower' not defined"),
        ('{{ printf "%s" .Event.Component }}', "function 'printf' not defined"),
        ('{{ index .Event.ExtraInfos "site" }}', "function 'index' not defined"),
        ("{{ if .Event.Component }}x{{ end }}", "'if' is not supported"),
        ("{{ range .Event.Tags }}{{ end }}", "'range' is not supported"),
        ("{{ $x := 1 }}", "unexpected ':'"),
        ('{{ .Event.Component | split "," }}', "wrong number of args for split: want 3 got 2"),
        ("{{ trim .Event.Component .Event.Resource }}", "want 1 got 2"),
        ('{{ .Event.Component "x" }}', "can't give argument to non-function .Event.Component"),
        ("{{ .Event.Component | .Event.Resource }}", "after '|' is not a function"),
        ('{{ .Event.Output | replace "(" "x" }}', "replace: invalid regexp"),
        ('{{ "\\d" }}', "unsupported escape"),
        ("{{/* never closed }}", "unclosed comment"),
        ('{{ split "," 0 trim }}', "as an argument is not supported"),
        ('{{ split " " 0 (.Event.Component) }}', "parenthesized pipelines are not supported"),
    ],
)
def test_compile_refuses_bad_syntax_with_message(template: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason):
        compile_template(template)


@pytest.mark.parametrize(
    "template",
    [
        "{{ .Event.__class__ }}",
        "{{ .Event.Component.__class__ }}",
        "{{ .Event.Component.upper }}",
        "{{ .__init__.__globals__ }}",
        "{{ .Event.ExtraInfos.roles.__len__ }}",
        "{{ .Event.ExtraInfos.meta.keys }}",
    ],
)
def test_sandbox_never_reads_python_attributes(template: str) -> None:
    with pytest.raises(TemplateError, match=r"no entry for key|can't evaluate field"):
        render(template, DATA)


def test_sandbox_only_finds_keys_the_caller_put_in_the_data() -> None:
    data = {"Event": {"__class__": "a key, not an attribute"}}
    assert render("{{ .Event.__class__ }}", data) == "a key, not an attribute"


def test_compiled_template_is_cached_and_reusable() -> None:
    first = compile_template("{{ .Event.Component }}")
    assert compile_template("{{ .Event.Component }}") is first
    assert first.render({"Event": {"Component": "a"}}) == "a"
    assert first.render({"Event": {"Component": "b"}}) == "b"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Event.ExtraInfos.site", "Paris"),
        ("Event.ExtraInfos.roles", ["db", "web"]),
        ("RegexMatch.Output.load", "97"),
        ("ExternalData.cmdb", {"owner": "ops"}),
        ("Event.ExtraInfos.none", None),
    ],
)
def test_lookup_reads_copy_paths_as_raw_values(path: str, expected: object) -> None:
    assert lookup(DATA, path) == expected


@pytest.mark.parametrize("path", ["Event.ExtraInfos.absent", "Event.Component.x", "Nope"])
def test_lookup_of_missing_path_is_an_error(path: str) -> None:
    with pytest.raises(TemplateError):
        lookup(DATA, path)
