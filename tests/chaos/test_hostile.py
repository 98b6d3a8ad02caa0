"""Hostile documents written straight to etcd, and a service that answers probes forever.

Every test runs against one real controller serving the healthy ``web`` strategy on
fogsim, and ends with :meth:`ChaosStack.assert_unharmed`: the controller is alive and
within its memory budget, its log holds no traceback and no forged line, and ``web``
serves on the same fog instances as before. Each bad document must get its answer: a
status with ``Valid=False`` where a status key can be formed, else exactly one WARNING
line per key and revision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.support.chaos import MIB, Figures, answer, mib
from tests.support.chaos_stack import ChaosStack, Mark
from tests.support.mutate import ALIAS_BOMB
from tests.support.scenario import REPO, active_strategy, doc, strategy, wait_for

ENDLESS = REPO / "tests" / "fixtures" / "chaos" / "endless.py"
# No answer, error or log line may carry more of a hostile value than this.
MAX_ECHO = 4096


@pytest.fixture(autouse=True)
def fresh(stack: ChaosStack, figures: Figures, request: pytest.FixtureRequest) -> Iterator[None]:
    """A live controller before each test; after it, its peak RSS is a figure and every key
    it wrote is gone."""
    stack.revive()
    mark = stack.mark()
    yield
    figures.add(f"{request.node.name} max RSS", mib(stack.max_rss(mark)))
    stack.cleanup()


def environment_doc(name: str, **spec: Any) -> dict[str, Any]:
    return doc("Environment", name, {"driver": "fogsim", "locator": "http://127.0.0.1:1",
                                     **spec})


def expect_invalid(stack: ChaosStack, plural: str, name: str, value: bytes) -> str:
    """Write ``value`` raw; its status must say ``Valid=False`` (the message returned)."""
    generation = stack.put_raw(plural, "default", name, value)
    got = stack.wait_answer(plural, "default", name, generation)
    assert got.valid is False, f"{plural}/{name} accepted: {got}"
    assert got.message and len(got.message) <= MAX_ECHO, got.message[:MAX_ECHO]
    return got.message


def assert_short_lines(mark: Mark) -> None:
    long = [ln[:200] for ln in mark.log.lines() if len(ln) > MAX_ECHO]
    assert not long, f"log lines echo a hostile value: {long}"


def test_alias_bomb_is_refused(stack: ChaosStack) -> None:
    mark = stack.mark()
    value = (ALIAS_BOMB + yaml.safe_dump(doc("Architecture", "laughs", {}))).encode()
    expect_invalid(stack, "architectures", "laughs", value)
    # The same bomb inside a document that is otherwise valid, where a value is expected.
    inner = ALIAS_BOMB.replace("\n", "\n  ")
    expect_invalid(stack, "environments", "laughs", (
        "apiVersion: fogstrat.io/v1alpha1\nkind: Environment\nmetadata: {name: laughs}\n"
        f"spec:\n  driver: fogsim\n  locator: http://127.0.0.1:1\n  info:\n  {inner}\n"
    ).encode())
    stack.assert_unharmed(mark)


def test_physical_numbers_are_bounded(stack: ChaosStack) -> None:
    """``replicas: 100000000`` is refused, and a strategy and an ActiveStrategy naming that
    architecture deploy nothing."""
    mark = stack.mark()
    arch = doc("Architecture", "huge", {"entities": [{
        "name": "web", "replicas": 100_000_000,
        "fdu": {"name": "web", "hypervisor": "BARE", "migration_kind": "COLD",
                "computation_requirements": {"cpu_arch": "x86_64"},
                "command": {"binary": "/bin/true"}}}]})
    message = expect_invalid(stack, "architectures", "huge", json.dumps(arch).encode())
    assert "replicas" in message, message
    for plural, body in (("strategies", strategy("huge", "huge", [])),
                         ("activestrategies", active_strategy("huge", "huge", "lab"))):
        generation = stack.put_raw(plural, "default", "huge", json.dumps(body).encode())
        stack.wait_answer(plural, "default", "huge", generation)
    stack.assert_unharmed(mark)


def test_oversized_and_overdeep_documents_get_a_status(stack: ChaosStack) -> None:
    mark = stack.mark()
    big = environment_doc("x")
    big["metadata"]["name"] = "n" * int(2.9 * MIB)
    expect_invalid(stack, "environments", "big-name", json.dumps(big).encode())
    deep = environment_doc("deep", info={"nest": "__DEEP__"})
    nested = "[" * 900 + "]" * 900
    expect_invalid(stack, "environments", "deep",
                   json.dumps(deep).replace('"__DEEP__"', nested).encode())
    stack.assert_unharmed(mark)
    assert_short_lines(mark)


UNDECODABLE = {
    "bad-utf8-value": b"apiVersion: fogstrat.io/v1alpha1\nkind: Environment\n"
                      b"metadata: {name: bad-utf8-value}\n"
                      b"spec: {driver: fogsim, locator: \"http://\xff\xfe/\"}\n",
    "nul-value": b'{"apiVersion": "fogstrat.io/v1alpha1", "kind": "Environment", '
                 b'"metadata": {"name": "nul-value"}, '
                 b'"spec": {"driver": "fogsim", "locator": "http://a\x00b/"}}',
    "not-a-document": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "empty": b"",
}


@pytest.mark.parametrize("name", list(UNDECODABLE))
def test_undecodable_values_get_a_status(stack: ChaosStack, name: str) -> None:
    mark = stack.mark()
    expect_invalid(stack, "environments", name, UNDECODABLE[name])
    stack.assert_unharmed(mark)


def test_deleted_bad_documents_leave_no_status(stack: ChaosStack) -> None:
    """What belongs to a deleted key goes with it: an ActiveStrategy that never resolved
    (its strategy does not exist, or it cannot even be decoded) has nothing to tear down,
    so its status is deleted like any other kind's."""
    mark = stack.mark()
    docs = {
        ("activestrategies", "no-strategy"): json.dumps(
            active_strategy("no-strategy", "absent", "lab")).encode(),
        ("activestrategies", "garbage"): b"\xff\x00 not a document",
        ("environments", "garbage"): b"- just\n- a list\n",
    }
    for (plural, name), value in docs.items():
        generation = stack.put_raw(plural, "default", name, value)
        assert stack.wait_answer(plural, "default", name, generation).valid is False
    for plural, name in docs:
        stack.db.delete(stack.key(plural, "default", name))
    for plural, name in docs:
        stack.wait_no_status(plural, "default", name)
    stack.assert_unharmed(mark)


@dataclass(frozen=True)
class BadKey:
    """A key under the prefix that is not ``<plural>/<namespace>/<name>``; ``token``
    appears in it early enough to survive any shortening in a log line."""

    token: str
    tail: str
    status: tuple[str, str, str] | None = None  # (plural, namespace, name) if formable


FORGED = "2030-01-01 00:00:00,000 ERROR forged-by-a-key"

BAD_KEYS = [
    BadKey("tok-dotdot", "strategies/default/../tok-dotdot"),
    BadKey("tok-depth", "strategies/a/b/tok-depth"),
    BadKey("tok-emptyns", "strategies//tok-emptyns"),
    BadKey("tok-trailing", "strategies/tok-trailing/"),
    BadKey("tok-plural", "widgets/default/tok-plural", ("widgets", "default", "tok-plural")),
    BadKey("tok-newline", f"strategies/default/tok-newline\n{FORGED}",
           ("strategies", "default", f"tok-newline\n{FORGED}")),
    BadKey("tok-hugekey", "environments/default/tok-hugekey-" + "k" * int(2.9 * MIB),
           ("environments", "default", "tok-hugekey-" + "k" * int(2.9 * MIB))),
    BadKey("tok-badname", "environments/default/tok-badname_UPPER*?",
           ("environments", "default", "tok-badname_UPPER*?")),
]


def bad_key_value(bad: BadKey) -> bytes:
    """A document that would be valid at a well-formed key: only the key is wrong."""
    name = bad.tail.rsplit("/", 1)[-1]
    name = name if 0 < len(name) < 100 else "x"
    if bad.tail.startswith("environments/"):
        return json.dumps(environment_doc(name)).encode()
    return json.dumps(strategy(name, "web-main", [])).encode()


def _answered(stack: ChaosStack, mark: Mark, bad: BadKey) -> bool:
    if bad.status is not None:
        try:
            got = answer(stack.db, stack.prefix, *bad.status)
        except ValueError:  # no status key can be formed from it after all
            got = None
        if got is not None and got.valid is False:
            return True
    return len(mark.log.warnings_naming(bad.token)) >= 1


def test_escaped_nul_gets_an_answer(stack: ChaosStack) -> None:
    """``\\u0000`` is a legal JSON escape: the document may be valid or not, but it gets a
    status like any other."""
    mark = stack.mark()
    value = (b'{"apiVersion": "fogstrat.io/v1alpha1", "kind": "Environment", "metadata": '
             b'{"name": "escaped-nul"}, "spec": {"driver": "fogsim", "locator": '
             b'"http://127.0.0.1:1/", "info": {"note": "a\\u0000b"}}}')
    generation = stack.put_raw("environments", "default", "escaped-nul", value)
    stack.wait_answer("environments", "default", "escaped-nul", generation)
    stack.assert_unharmed(mark)


def test_malformed_keys_are_reported_once(stack: ChaosStack) -> None:
    mark = stack.mark()
    for bad in BAD_KEYS:
        stack.put_key(f"{stack.prefix}/{bad.tail}", bad_key_value(bad))
    for bad in BAD_KEYS:
        wait_for(lambda b=bad: _answered(stack, mark, b), 30,  # type: ignore[misc]
                 f"an answer for {bad.tail[:60]!r}", stack.describe)
    # Several resyncs later, still one line per key and revision: the answer is not repeated
    # on every pass (the log would grow with time).
    time.sleep(3 * stack.resync)
    for bad in BAD_KEYS:
        lines = mark.log.warnings_naming(bad.token)
        via_status = bad.status is not None and _status_invalid(stack, bad)
        assert len(lines) == 1 or (via_status and not lines), (
            f"{bad.tail[:60]!r}: {len(lines)} warning lines: {lines[:3]}")
    forged = [ln for ln in mark.log.lines() if ln.startswith(FORGED)]
    assert not forged, "a key forged a log line"
    stack.assert_unharmed(mark)
    assert_short_lines(mark)


def _status_invalid(stack: ChaosStack, bad: BadKey) -> bool:
    assert bad.status is not None
    try:
        got = answer(stack.db, stack.prefix, *bad.status)
    except ValueError:
        return False
    return got is not None and got.valid is False


def endless_architecture(port: int) -> dict[str, Any]:
    return doc("Architecture", "endless", {
        "entities": [{
            "name": "svc",
            "requirements": {"cpuArch": "x86_64", "nodeSelector": {"tier": "edge"}},
            "fdu": {"name": "svc", "hypervisor": "BARE", "migration_kind": "COLD",
                    "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
                    "command": {"binary": "/usr/bin/env",
                                "args": ["python3", str(ENDLESS), str(port)]}},
        }],
        "health": {"interval": "1s", "timeout": "1s", "failureThreshold": 2,
                   "successThreshold": 1, "probes": [
                       {"entity": "svc", "http": {"port": port, "path": "/healthz"}},
                       {"name": "svc-accuracy", "entity": "svc",
                        "qos": {"http": {"port": port, "path": "/qos"}, "field": "accuracy",
                                "min": 0.5}}]},
    })


def test_endless_probe_answer_is_a_failed_probe(stack: ChaosStack, figures: Figures) -> None:
    """A probed service that streams its answer forever: each probe gives up within its
    deadline with a reason, memory stays flat, and ``web`` is untouched."""
    s = stack.scenario
    mark = stack.mark()
    port = s.port + 1
    s.apply(endless_architecture(port), strategy("endless", "endless", []),
            active_strategy("endless", "endless", "lab"))
    failed: dict[str, dict[str, Any]] = {}

    def three_failed_probes() -> bool:
        # The raw status: a failed start is undeployed and retried within seconds.
        arch = s.raw_status("endless").get("architectures", {}).get("endless", {})
        if arch.get("lastProbeResult") == "Unhealthy" and arch.get("lastProbeTime"):
            failed[str(arch["lastProbeTime"])] = arch
        return len(failed) >= 3

    try:
        # /healthz passes (the instance deploys); /qos, the QoS probe, never ends.
        wait_for(three_failed_probes, 90, "three failed probes of the endless service",
                 stack.describe, interval=0.05)
        for arch in failed.values():
            message = str(arch.get("lastProbeMessage") or "")
            assert message and len(message) < 1000, arch
        figures.add("endless probe answer", message)
        stack.assert_unharmed(mark)
    finally:
        s.cli.ok("delete", "activestrategy", "endless")
        wait_for(lambda: not s.status("endless"), 60, "endless to be torn down",
                 stack.describe)
        s.cli.ok("delete", "strategy", "endless")
        s.cli.ok("delete", "architecture", "endless")
