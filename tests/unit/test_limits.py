"""Bounded parsing: every way a document can be too large, too deep or malformed ends in
one short error naming the limit, before anything walks it (controller/api/limits.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from controller.api import validation
from controller.api.documents import (
    DocumentSyntaxError,
    decode_json,
    decode_value,
    load_documents,
    load_value,
)
from controller.api.limits import (
    DOCUMENT_BYTES_ENV,
    LIMITS,
    LimitExceeded,
    check_json_depth,
    check_value,
    excerpt,
    limits,
    summarize,
)
from controller.api.parse import parse_document
from controller.api.validation import InvalidDocument, validate

HEADER = "apiVersion: fogstrat.io/v1alpha1\nkind: Environment\nmetadata: {name: lab}\n"

# The classic "billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
ALIAS_BOMB = HEADER + """spec:
  locator: http://127.0.0.1:7070
  info:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def refused(text: str | bytes) -> DocumentSyntaxError:
    with pytest.raises(DocumentSyntaxError) as info:
        decode_value(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return info.value


def environment(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Environment",
            "metadata": {"name": "lab"}, "spec": {"locator": "http://127.0.0.1:1", **spec}}


# --- YAML aliases --------------------------------------------------------------------------


def test_alias_bomb_is_refused_by_the_controller_and_the_cli_readers() -> None:
    error = refused(ALIAS_BOMB)
    assert error.limit == "max_nodes"
    assert f"more than {LIMITS.max_nodes} values" in error.message
    with pytest.raises(DocumentSyntaxError, match="limit max_nodes"):
        load_documents(ALIAS_BOMB, "bomb.yaml")


def test_aliases_within_the_budget_still_load() -> None:
    doc = decode_value(HEADER + "spec:\n  locator: &l http://x:1\n  info: {a: *l, b: *l}\n")
    assert doc["spec"]["info"] == {"a": "http://x:1", "b": "http://x:1"}


def test_merge_keys_are_charged_like_aliases() -> None:
    text = HEADER + "spec:\n  base: &b {x: 1}\n  info: {<<: *b, y: 2}\n"
    assert decode_value(text)["spec"]["info"] == {"x": 1, "y": 2}


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert refused("a: &a [1, *a]\n").limit == "no recursive aliases"


def test_an_alias_that_deepens_the_document_counts_its_depth() -> None:
    inner = "[" * 40 + "]" * 40
    text = f"a: &a {inner}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    assert refused(text).limit == "max_depth"


# --- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "[" * 900 + "]" * 900,
    '{"apiVersion": "fogstrat.io/v1alpha1", "spec": {"info": ' + "[" * 900 + "]" * 900 + "}}",
    "a: " + "[" * 900 + "]" * 900,
    "a: " + "{x: " * 900 + "}" * 900,
    "".join(" " * i + f"k{i}:\n" for i in range(900)),
    "- " * 900 + "x",
])
def test_deep_documents_are_refused_before_anything_recurses(text: str) -> None:
    assert refused(text).limit == "max_depth"


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = LIMITS.max_depth - 1  # the document itself is one level
    assert decode_value('{"a": ' + "[" * depth + "]" * depth + "}") == {
        "a": json.loads("[" * depth + "]" * depth)}


def test_json_depth_ignores_brackets_inside_strings() -> None:
    check_json_depth(json.dumps({"a": "[" * 500}))
    with pytest.raises(LimitExceeded):
        check_json_depth("[" * 65 + "]" * 65)


# --- sizes ---------------------------------------------------------------------------------


def test_a_document_over_the_size_limit_is_refused_before_decoding() -> None:
    name = "x" * 2_900_000  # the 2.9 MB name
    error = refused(HEADER.replace("lab", name).encode())
    assert error.limit == "max_document_bytes"
    assert name[:100] not in str(error)


def test_the_cli_reader_refuses_a_huge_string_with_an_excerpt() -> None:
    text = HEADER.replace("lab", "x" * 2_900_000)
    with pytest.raises(DocumentSyntaxError) as info:
        load_documents(text, "big.yaml")
    assert info.value.limit in ("max_string_chars", "max_document_bytes")
    assert len(str(info.value)) < 300


def test_document_size_is_configurable_within_what_etcd_accepts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DOCUMENT_BYTES_ENV, "2048")
    assert limits().max_document_bytes == 2048
    with pytest.raises(DocumentSyntaxError, match="limit max_document_bytes"):
        decode_value(HEADER + "spec: {locator: " + "x" * 3000 + "}\n")
    monkeypatch.setenv(DOCUMENT_BYTES_ENV, "100000000")
    with pytest.raises(LimitExceeded, match="between 1024 and"):
        limits()
    monkeypatch.setenv(DOCUMENT_BYTES_ENV, "lots")
    with pytest.raises(LimitExceeded, match="not a number of bytes"):
        limits()


def test_long_lists_and_maps_are_refused() -> None:
    with pytest.raises(LimitExceeded, match="limit max_items"):
        check_value({"a": list(range(LIMITS.max_items + 1))})
    with pytest.raises(LimitExceeded, match="limit max_items"):
        check_value({str(i): i for i in range(LIMITS.max_items + 1)})


def test_strings_longer_than_the_limit_are_refused_with_an_excerpt() -> None:
    with pytest.raises(LimitExceeded) as info:
        check_value({"spec": {"info": {"x": "y" * (LIMITS.max_string_chars + 1)}}})
    assert "spec.info.x" in str(info.value) and len(str(info.value)) < 200


# --- characters and numbers ---------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"apiVersion: x\0\n",
    b'{"spec": {"driver": "a\\u0000b"}}',
    b'spec: {driver: "a\\0b"}\n',
])
def test_nul_characters_are_refused(data: bytes) -> None:
    refused(data)


def test_bad_utf8_is_refused() -> None:
    assert "not UTF-8" in refused(b"\xff\xfe kind: x").message


@pytest.mark.parametrize("text", ["a: " + "1" * 5000, '{"a": ' + "1" * 5000 + "}"])
def test_integers_too_long_to_read_are_one_line(text: str) -> None:
    assert "more than 4300 digits" in refused(text).message


@pytest.mark.parametrize("text", ["a: .inf", "a: .nan", '{"a": Infinity}', '{"a": NaN}'])
def test_numbers_must_be_finite(text: str) -> None:
    assert refused(text).limit == "finite numbers"


# --- numeric fields with a physical meaning (the CRDs) ---------------------------------------


def architecture(**entity: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
            "metadata": {"name": "a"},
            "spec": {"entities": [{"name": "web", "fdu": {"hypervisor": "BARE", "command": {
                "binary": "/bin/true"}}, **entity}]}}


def test_replicas_of_a_hundred_million_are_invalid() -> None:
    doc = architecture(replicas=100_000_000)
    assert "spec.entities[0].replicas: must be at most 1000 (got 100000000)" in [
        str(p) for p in validate(doc)]
    with pytest.raises(InvalidDocument):
        parse_document(doc)
    assert parse_document(architecture(replicas=1000))


@pytest.mark.parametrize(("health", "expected"), [
    ({"failureThreshold": 10**9}, "spec.health.failureThreshold: must be at most 1000"),
    ({"successThreshold": 10**9}, "spec.health.successThreshold: must be at most 1000"),
    ({"probes": [{"entity": "web", "state": "RUN"}] * 65},
     "spec.health.probes: must have at most 64 items (got 65)"),
    ({"interval": "200h", "timeout": "1s"},
     "spec.health.interval: must be at most 168h (got '200h'; limit max_duration_seconds)"),
])
def test_health_numbers_are_bounded(health: dict[str, Any], expected: str) -> None:
    doc = architecture()
    doc["spec"]["health"] = health
    assert any(str(p).startswith(expected) for p in validate(doc)), validate(doc)


def test_strategy_lists_and_durations_are_bounded() -> None:
    doc = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy", "metadata": {"name": "s"},
           "spec": {"main": {"architecture": "a"},
                    "replacements": [{"architecture": f"r{i}"} for i in range(33)],
                    "policy": {"failback": {"stabilizationWindow": "99999h"},
                               "maxFailoversPerHour": 10**6}}}
    problems = [str(p) for p in validate(doc)]
    assert "spec.replacements: must have at most 32 items (got 33)" in problems
    assert any(p.startswith("spec.policy.failback.stabilizationWindow: must be at most 168h")
               for p in problems)
    assert any(p.startswith("spec.policy.maxFailoversPerHour: must be at most 3600")
               for p in problems)


# --- messages ------------------------------------------------------------------------------


def test_validation_messages_quote_only_an_excerpt_of_a_value() -> None:
    raw = environment()
    raw["metadata"]["name"] = "N" * 2_900_000
    problems = [str(p) for p in validate(raw)]
    assert problems and all(len(p) < 300 for p in problems), [p[:300] for p in problems]
    with pytest.raises(InvalidDocument) as info:
        parse_document(raw)
    assert len(str(info.value)) < 1000


def test_excerpt_cuts_with_an_ellipsis() -> None:
    assert excerpt("short") == "'short'"
    long = excerpt("x" * 1000)
    assert len(long) == 80 and long.endswith("…")
    assert len(excerpt(list(range(1000)), 40)) == 40


def test_summarize_keeps_a_status_message_bounded() -> None:
    message = summarize([f"spec.f{i}: unknown field" for i in range(10_000)])
    assert len(message) < LIMITS.max_message_chars + 100
    assert message.endswith("more problem(s)")
    assert summarize(["a", "b"]) == "a; b"


def test_the_body_memo_is_bounded_and_skips_large_bodies() -> None:
    memo = validation._BODIES
    for i in range(memo.max_entries + 50):
        validate(environment(info={"n": i}))
    assert len(memo) == memo.max_entries
    assert memo.size <= memo.max_size
    validate(environment(info={"big": "x" * (memo.max_entry_size + 1)}))
    assert not any("x" * 1000 in key for _, key in memo.kept())


# --- other readers -------------------------------------------------------------------------


def test_status_and_configuration_readers_are_bounded() -> None:
    with pytest.raises(DocumentSyntaxError, match="limit max_depth"):
        decode_json(("[" * 900 + "]" * 900).encode())
    with pytest.raises(DocumentSyntaxError, match="limit max_nodes"):
        load_value(ALIAS_BOMB, "nodes.yaml")
    assert load_value("- {name: a}\n- {name: b}\n") == [{"name": "a"}, {"name": "b"}]


def test_fogsim_nodes_file_is_bounded(tmp_path: Path) -> None:
    from fogsim.nodes import NodesFileError, load_nodes

    path = tmp_path / "nodes.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(NodesFileError, match="limit max_nodes"):
        load_nodes(path)


def test_log_messages_are_escaped_onto_one_line(caplog: pytest.LogCaptureFixture) -> None:
    from controller.runtime.logs import TextFormatter, escape

    assert escape("a\nb\r\x1b[31m") == "a\\nb\\r\\x1b[31m"
    assert escape("k\udcff\u2028") == "k\\udcff\\u2028"
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "key %s",
                               ("x\n2026-01-01 ERROR forged",), None)
    line = TextFormatter().format(record)
    assert "\n" not in line and line.endswith("key x\\n2026-01-01 ERROR forged")
    assert len(escape("y" * 100_000)) < 4200


@pytest.mark.parametrize("tag", ["!!timestamp 2001-12-14", "!!timestamp not-a-date", "!!set {a}",
                                 "!!omap [a: 1]", "!!pairs [a: 1]", "!!binary aGk="])
def test_explicit_tags_without_a_json_value_are_refused(tag: str) -> None:
    assert "values are not supported" in refused(f"a: {tag}\n").message


def test_a_locator_that_is_no_url_is_a_problem_not_an_exception() -> None:
    problems = [str(p) for p in validate(environment(locator="http://[::1"))]
    assert any(p.startswith("spec.locator: not a URL") for p in problems), problems
