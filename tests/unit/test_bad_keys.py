"""Every stored key and value gets an answer: a status naming the problem where a status
key can be formed, else one warning per key and revision (controller/runtime)."""

from __future__ import annotations

import logging

import pytest

from controller.api import kinds
from controller.runtime.documents import parse_cached, parse_value
from controller.runtime.informer import MalformedKeys, ObjectKey, cached_value, malformed
from controller.store.keys import key_problem, parse_key

P = "/fs"
KEY = ObjectKey(kinds.ENVIRONMENT, "default", "lab")


@pytest.mark.parametrize(("key", "expected"), [
    ("/fs/environments/default/../x", "4 segments instead of 3"),
    ("/fs/environments/a/b/x", "4 segments instead of 3"),
    ("/fs/strategies//x", "empty namespace"),
    ("/fs/strategies/default/", "empty name"),
    ("/fs/strategies/default/..", "name '..' is a path step"),
    ("/fs/x", "1 segment instead of 3"),
    ("/fs/status/strategies/default", "2 segments instead of 3"),
    ("/fs/strategies/default/" + "n" * 300, "name of 300 characters, more than 253"),
    ("/fs/widgets/default/x", "unknown kind 'widgets'"),
])
def test_malformed_keys_say_why(key: str, expected: str) -> None:
    problem = malformed(P, key)
    assert problem is not None and expected in problem
    assert parse_key(P, key) is None or "widgets" in key


@pytest.mark.parametrize("key", ["/fs/leader", "/other/x", "/fs/strategies/default/ok",
                                 "/fs/status/strategies/default/ok"])
def test_documents_statuses_and_the_leader_key_are_not_malformed(key: str) -> None:
    assert malformed(P, key) is None and key_problem(P, key) is None


def test_one_warning_per_key_and_revision(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    seen = MalformedKeys(P)
    bad = "/fs/strategies//x"
    seen.seen(bad, 5)
    seen.seen(bad, 5)
    seen.relisted([(bad, 5), ("/fs/strategies/default/ok", 6)])
    assert len(caplog.records) == 1
    seen.seen(bad, 7)  # written again: a new revision, a new warning
    assert len(caplog.records) == 2
    seen.deleted(bad)
    seen.seen(bad, 7)
    assert len(caplog.records) == 3


def test_relisting_forgets_keys_that_are_gone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    seen = MalformedKeys(P)
    seen.seen("/fs/strategies//a", 1)
    seen.relisted([])
    seen.relisted([("/fs/strategies//a", 1)])
    assert len(caplog.records) == 2


def test_the_warned_table_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    seen = MalformedKeys(P, size=10)
    for i in range(100):
        seen.seen(f"/fs/strategies//{i}", i)
    assert len(seen._warned) == 10


@pytest.mark.parametrize(("value", "reason", "text"), [
    (b"\xff\xfe", "Undecodable", "not UTF-8 text"),
    (b"\0", "Undecodable", "unacceptable character"),
    (("[" * 900 + "]" * 900).encode(), "LimitExceeded", "nests deeper than 64"),
    (b"kind: [unclosed", "Undecodable", "cannot decode document"),
    (b"42", "Undecodable", "a document must be a mapping"),
    (b"kind: Strategy\nmetadata: {name: lab}\n", "InvalidSpec", "stored under environments"),
])
def test_any_value_becomes_problems_never_an_exception(value: bytes, reason: str,
                                                        text: str) -> None:
    parsed = parse_value(KEY, value, 3)
    assert not parsed.valid and parsed.reason == reason
    assert text in parsed.message and "\n" not in parsed.message


def test_a_key_that_is_not_a_name_is_a_problem_of_the_document() -> None:
    key = ObjectKey(kinds.ENVIRONMENT, "default", "bad\nname")
    parsed = parse_value(key, b"{}", 1)
    assert "key: the name 'bad\\nname' is not a DNS-1123 label" in parsed.message


def test_an_oversized_value_is_not_kept_only_its_size() -> None:
    cached = cached_value(b"x" * 600_000, 9)
    assert cached.value == b"" and cached.dropped_bytes == 600_000
    parsed = parse_cached(KEY, cached)
    assert parsed.reason == "LimitExceeded" and "600000 bytes" in parsed.message
    assert cached_value(b"small", 9).value == b"small"
