"""Hostile and clumsy documents written straight to etcd get an answer from a real
controller: a ``Valid=False`` status naming the problem where a status key can be
formed, otherwise exactly one WARNING per key and revision; never a traceback, and no
log line forged by a key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from controller.store import Store, connect
from controller.store.keys import status_key
from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.scenario import wait_for
from tests.unit.test_limits import ALIAS_BOMB

pytestmark = pytest.mark.integration

DEEP_JSON = ("[" * 900 + "]" * 900).encode()
DEEP_IN_SPEC = (b'{"apiVersion":"fogstrat.io/v1alpha1","kind":"Strategy","metadata":{"name":"x"},'
                b'"spec":{"main":' + b"[" * 900 + b"]" * 900 + b"}}")
FORGED = "2026-01-01 00:00:00,000 ERROR forged"
GOOD_ENV = (b"apiVersion: fogstrat.io/v1alpha1\nkind: Environment\nmetadata: {name: good}\n"
            b"spec: {locator: 'http://127.0.0.1:1'}\n")


def architecture(name: str, replicas: int) -> bytes:
    return (f"apiVersion: fogstrat.io/v1alpha1\nkind: Architecture\nmetadata: {{name: {name}}}\n"
            f"spec:\n  entities:\n  - name: web\n    replicas: {replicas}\n"
            f"    fdu: {{hypervisor: BARE, command: {{binary: /bin/true}}}}\n").encode()


#: (plural, name) -> (value, the status message must contain)
BAD: dict[tuple[str, str], tuple[bytes, str]] = {
    ("environments", "bad-utf8-value"): (b"\xff\xfe kind: x", "not UTF-8 text"),
    ("environments", "nul-byte"): (b"kind: Environment\0", "unacceptable character #x0000"),
    ("environments", "nul-in-string"): (
        b'{"kind":"Environment","metadata":{"name":"nul-in-string"},"spec":{"locator":"a\\u0000"}}',
        "contains a NUL character"),
    ("environments", "alias-bomb"): (ALIAS_BOMB.replace("name: lab", "name: alias-bomb").encode(),
                                     "limit max_nodes"),
    ("environments", "deep-json"): (DEEP_JSON, "limit max_depth"),
    ("strategies", "deep-in-spec"): (DEEP_IN_SPEC, "limit max_depth"),
    ("strategies", "deep-yaml"): (b"spec: " + b"[" * 900 + b"]" * 900, "limit max_depth"),
    ("architectures", "huge-replicas"): (architecture("huge-replicas", 100_000_000),
                                         "replicas: must be at most 1000 (got 100000000)"),
    ("architecturedata", "too-large"): (b"kind: ArchitectureData\nx: " + b"y" * 600_000,
                                        "limit max_document_bytes"),
    ("activestrategies", "alias-bomb"): (
        ALIAS_BOMB.replace("Environment", "ActiveStrategy").encode(), "limit max_nodes"),
    ("activestrategies", "deep-json"): (DEEP_JSON, "limit max_depth"),
    ("activestrategies", "not-utf8"): (b"\xff", "not UTF-8 text"),
    ("activestrategies", f"x\n{FORGED}"): (b"{}", "is not a DNS-1123 label"),
    ("environments", "bad\nname"): (b"{}", "is not a DNS-1123 label"),
}
MALFORMED = ["environments/default/../x", "environments/a/b/x", "strategies//x",
             "strategies/default/", "widgets/default/x", "strategies/default/.."]


@pytest.fixture
def controller(etcd: EtcdServer, prefix: str) -> Iterator[ControllerProcess]:
    with ControllerProcess(etcd.endpoint, prefix, resync=1.0) as ctl:
        yield ctl


@pytest.fixture
def client(etcd: EtcdServer) -> Iterator[Store]:
    store = connect(etcd.endpoint, timeout=5.0)
    yield store
    store.close()


def put(etcd: EtcdServer, key: str, value: bytes) -> None:
    etcd.etcdctl("put", key, input=value)


def status(store: Store, prefix: str, plural: str, name: str) -> Any:
    rec = store.get(status_key(prefix, plural, "default", name))
    return json.loads(rec.value) if rec is not None else None


def valid_condition(st: Any) -> dict[str, Any] | None:
    if not isinstance(st, dict):
        return None  # absent, or not (yet) written by the controller
    for c in st.get("conditions") or []:
        if c.get("type") == "Valid":
            return dict(c)
    return None


def stored_valid_condition(store: Store, prefix: str, plural: str,
                           name: str) -> dict[str, Any] | None:
    return valid_condition(status(store, prefix, plural, name))


def env_reconciles(ctl: ControllerProcess) -> float:
    pattern = r'fogstrat_reconcile_total\{kind="Environment",result="success"\} ([0-9.e+]+)'
    match = re.search(pattern, ctl.metrics())
    return float(match.group(1)) if match else 0.0


def test_every_bad_document_gets_a_status_and_no_traceback(
        controller: ControllerProcess, etcd: EtcdServer, client: Store, prefix: str) -> None:
    for (plural, name), (value, _) in BAD.items():
        put(etcd, f"{prefix}/{plural}/default/{name}", value)
    for key in MALFORMED:
        put(etcd, f"{prefix}/{key}", b"{}")
    etcd.etcdctl("put", f"{prefix}/activestrategies/default/".encode() + b"\xff\xfe", "{}")
    put(etcd, f"{prefix}/environments/default/good", GOOD_ENV)

    wait_for(lambda: (valid_condition(status(client, prefix, "environments", "good")) or {})
             .get("status") == "True", 20, "the good environment to be valid",
             controller.log_tail)
    for (plural, name), (_, expected) in BAD.items():
        condition = wait_for(partial(stored_valid_condition, client, prefix, plural, name),
                             20, f"a Valid condition on {plural}/{name!r}", controller.log_tail)
        assert condition["status"] == "False", (plural, name, condition)
        assert expected in condition["message"], (plural, name, condition["message"][:500])
        assert len(condition["message"]) < 5000

    # Everything was reconciled again by a resync (nothing else touches Environments), and
    # still one warning per malformed key.
    before = env_reconciles(controller)
    wait_for(lambda: env_reconciles(controller) >= before + 2, 20, "a resync")
    log = controller.log_path.read_text()
    for key in MALFORMED:
        lines = [line for line in log.splitlines() if f"ignoring key '{prefix}/{key}'" in line]
        assert len(lines) == 1, (key, lines)
        assert " WARNING " in lines[0]
    levels = {line.split()[2] for line in log.splitlines() if re.match(r"\d{4}-", line)}
    assert "Traceback" not in log and levels <= {"INFO", "WARNING"}, log[-3000:]
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert "x\\n" + FORGED in log  # the key is in the log, escaped onto its line
    assert "default/\\udcff\\udcfe' (revision" in log and "not UTF-8 text" in log
    assert controller.get("/metrics") is not None


def test_a_key_written_again_is_warned_about_again_and_deleting_it_is_quiet(
        controller: ControllerProcess, etcd: EtcdServer, client: Store, prefix: str) -> None:
    key = f"{prefix}/strategies//again"
    # After the first list: a list sees only a key's last revision (and none once deleted).
    wait_for(lambda: controller.get("/readyz"), 20, "the controller to be ready")
    put(etcd, key, b"{}")
    put(etcd, key, b"{}")
    etcd.etcdctl("del", key)
    put(etcd, f"{prefix}/environments/default/good", GOOD_ENV)
    wait_for(lambda: valid_condition(status(client, prefix, "environments", "good")), 20,
             "the good environment's status", controller.log_tail)
    lines = [line for line in controller.log_path.read_text().splitlines()
             if f"ignoring key '{key}'" in line]
    assert len(lines) == 2, lines


def test_a_foreign_status_is_replaced_not_a_crash(
        controller: ControllerProcess, etcd: EtcdServer, client: Store, prefix: str) -> None:
    put(etcd, f"{prefix}/status/environments/default/good", DEEP_JSON)
    put(etcd, f"{prefix}/environments/default/good", GOOD_ENV)
    condition = wait_for(lambda: valid_condition(status(client, prefix, "environments", "good")),
                         20, "the good environment's own status", controller.log_tail)
    assert condition["status"] == "True"
    assert "Traceback" not in controller.log_path.read_text()


def test_a_document_larger_than_the_default_limit_and_a_huge_name(prefix: str) -> None:
    """An etcd that accepts 4 MiB requests holds a 2.9 MB name; the controller answers it
    without keeping it, and still serves a document up to a limit raised by configuration."""
    with EtcdServer(name="fogstrat-large", extra_args=("--max-request-bytes", "4194304")) as big, \
            ControllerProcess(big.endpoint, prefix,
                              env={"FOGSTRAT_MAX_DOCUMENT_BYTES": "1048576"}) as ctl:
        store = connect(big.endpoint, timeout=5.0)
        try:
            huge_name = (b"apiVersion: fogstrat.io/v1alpha1\nkind: Environment\nmetadata: {name: "
                         + b"n" * 2_900_000 + b"}\nspec: {locator: 'http://x:1'}\n")
            # etcdctl 3.4 sends at most 2 MiB; the store's gRPC client sends more.
            store.put(f"{prefix}/environments/default/huge-name", huge_name)
            roomy = GOOD_ENV.replace(b"good", b"roomy").replace(
                b"spec: {", b"spec: {info: {blob: '" + b"z" * 60_000 + b"'}, ") + b"#" * 700_000
            put(big, f"{prefix}/environments/default/roomy", roomy)
            condition = wait_for(
                lambda: valid_condition(status(store, prefix, "environments", "huge-name")), 20,
                "the huge name's status", ctl.log_tail)
            assert condition["status"] == "False"
            assert f"{len(huge_name)} bytes, more than 1048576 (limit max_document_bytes)" in \
                condition["message"]
            roomy_valid = wait_for(
                lambda: valid_condition(status(store, prefix, "environments", "roomy")), 20,
                "the roomy environment's status", ctl.log_tail)
            assert roomy_valid["status"] == "True", roomy_valid
        finally:
            store.close()
        assert "Traceback" not in ctl.log_path.read_text()


def test_deleting_an_invalid_active_strategy_leaves_nothing_behind(
        controller: ControllerProcess, etcd: EtcdServer, client: Store, prefix: str) -> None:
    key = f"{prefix}/activestrategies/default/gone"
    put(etcd, key, b"apiVersion: fogstrat.io/v1alpha1\nkind: ActiveStrategy\n"
                   b"metadata: {name: gone}\nspec: {strategy: missing, environment: nowhere}\n")
    condition = wait_for(lambda: valid_condition(status(client, prefix, "activestrategies",
                                                        "gone")), 20, "an Invalid status")
    assert condition["status"] == "False"
    etcd.etcdctl("del", key)
    wait_for(lambda: status(client, prefix, "activestrategies", "gone") is None, 20,
             "the status to be deleted with its document", controller.log_tail)
    wait_for(lambda: 'strategy="gone"' not in controller.metrics(), 20,
             "its metrics to be forgotten", controller.metrics)
