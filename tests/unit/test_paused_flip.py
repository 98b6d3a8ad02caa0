"""A pause or resume re-parses nothing but the flag: and answers what a full parse does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.api import kinds
from controller.runtime.documents import Parsed, parse_value, paused_flip
from controller.runtime.informer import CachedValue, ObjectKey

KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")


def _doc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
            "metadata": {"name": "web"},
            "spec": {"strategy": "s", "environment": "e", **spec}}


def _value(doc: dict[str, Any], revision: int) -> CachedValue:
    return CachedValue(json.dumps(doc).encode(), revision, revision)


def _last(**spec: Any) -> Parsed:
    parsed = parse_value(KEY, _value(_doc(**spec), 5).value, 5, 5)
    assert parsed.valid
    return parsed


@pytest.mark.parametrize(("before", "after"), [
    ({}, {"paused": True}),
    ({"paused": True}, {"paused": False}),
    ({"paused": True}, {}),
    ({"paused": False, "pin": "a"}, {"paused": True, "pin": "a"}),
    ({"serve": False}, {"serve": False, "paused": False}),
])
def test_a_flip_reads_as_the_full_parse_does(before: dict[str, Any],
                                             after: dict[str, Any]) -> None:
    new = _value(_doc(**after), 9)
    flipped = paused_flip(_last(**before), new)
    full = parse_value(KEY, new.value, 9, 9)
    assert flipped is not None
    assert flipped == full
    assert flipped.document is not None and full.document is not None
    assert flipped.document.raw == full.document.raw
    assert flipped.document.spec == full.document.spec


@pytest.mark.parametrize("after", [
    _doc(paused=True, pin="b"),  # another field changed too
    _doc(paused=1),  # not a boolean: the schema refuses it
    _doc(paused="yes"),
    _doc(paused=True, extra=1),  # a field the last document did not have
    {**_doc(paused=True), "metadata": {"name": "web", "labels": {"a": "b"}}},
    {**_doc(paused=True), "status": {}},
])
def test_anything_else_changed_takes_the_full_parse(after: dict[str, Any]) -> None:
    assert paused_flip(_last(), _value(after, 9)) is None


@pytest.mark.parametrize("value", [b"{", b"[]", b"\xff", b""])
def test_an_undecodable_value_takes_the_full_parse(value: bytes) -> None:
    assert paused_flip(_last(), CachedValue(value, 9, 9)) is None


def test_an_oversized_value_takes_the_full_parse() -> None:
    assert paused_flip(_last(), CachedValue(b"", 9, 9, dropped_bytes=10**7)) is None


def test_an_invalid_last_document_takes_the_full_parse() -> None:
    invalid = parse_value(KEY, b'{"kind": "ActiveStrategy", "spec": {}}', 5, 5)
    assert not invalid.valid
    assert paused_flip(invalid, _value(_doc(paused=True), 9)) is None


def test_other_kinds_take_the_full_parse() -> None:
    last = _last()
    elsewhere = Parsed(ObjectKey(kinds.STRATEGY, "default", "web"), 5, last.document,
                       revision=5)
    assert paused_flip(last, _value(_doc(paused=True), 9)) is not None
    assert paused_flip(elsewhere, _value(_doc(paused=True), 9)) is None
