"""The ``fogstrat`` CLI against hostile files and stored values: one short error line,
never a traceback, and ``apply`` writes all documents or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.store import Conflict, Store, Write, connect
from tests.support.cli import Cli, Result
from tests.support.etcd import EtcdServer
from tests.unit.test_limits import ALIAS_BOMB

pytestmark = pytest.mark.integration

STRATEGY = """\
apiVersion: fogstrat.io/v1alpha1
kind: Strategy
metadata: {{name: {name}}}
spec:
  main: {{architecture: federated-learning}}
"""
DEEP_JSON = "[" * 900 + "]" * 900


@pytest.fixture
def cli(etcd: EtcdServer, prefix: str) -> Cli:
    return Cli(etcd.endpoint, prefix)


def keys(etcd: EtcdServer, prefix: str) -> list[str]:
    out = etcd.etcdctl("get", prefix + "/", "--prefix", "--keys-only").stdout.decode()
    return [line for line in out.splitlines() if line]


def failed_briefly(res: Result, *expected: str) -> None:
    """Exit status 1, error lines only, short, no traceback, the expected words."""
    assert res.rc == 1, (res.rc, res.out[:500], res.err[:500])
    assert "Traceback" not in res.err
    assert len(res.err) < 1500, res.err[:1500]
    assert all(line.startswith("error: ") for line in res.err.splitlines()), res.err
    for text in expected:
        assert text in res.err, res.err


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "bomb.yaml": (ALIAS_BOMB.encode(), "limit max_nodes"),
    "deep.json": (DEEP_JSON.encode(), "limit max_depth"),
    "deep-in-doc.json": (('{"kind": "Strategy", "spec": ' + DEEP_JSON + "}").encode(),
                         "limit max_depth"),
    "deep.yaml": (("spec: " + DEEP_JSON).encode(), "limit max_depth"),
    "nul-char.json": (b'{"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy", '
                      b'"metadata": {"name": "x\\u0000"}}', "contains a NUL character"),
    "nul-byte.yaml": (STRATEGY.format(name="x").encode() + b"\0", "unacceptable character"),
    "bad-utf8.yaml": (b"kind: \xff\xfe\n", "cannot read"),
    "huge-name.yaml": (STRATEGY.format(name="n" * 2_900_000).encode(), "limit max_"),
    "replicas.yaml": (b"""apiVersion: fogstrat.io/v1alpha1
kind: Architecture
metadata: {name: big}
spec:
  entities:
  - {name: web, replicas: 100000000, fdu: {hypervisor: BARE, command: {binary: /bin/true}}}
""", "must be at most 1000 (got 100000000)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("verb", ["validate", "apply"])
def test_bad_files_are_one_short_error(cli: Cli, etcd: EtcdServer, prefix: str, tmp_path: Path,
                                       name: str, verb: str) -> None:
    content, expected = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    failed_briefly(cli.run(verb, "-f", str(path)), expected)
    assert keys(etcd, prefix) == []


@pytest.mark.parametrize("value", [
    DEEP_JSON.encode(), b"\0\0", b"\xff\xfe", b"[1, 2]", b"spec: 5\nmetadata: hello\n",
    ('{"kind": "Strategy", "spec": {"main": "' + "m" * 1_000_000 + '"}}').encode(),
    b'{"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy", "spec": {"main": "a\\u0000"}}',
])
def test_stored_values_of_any_shape_are_shown_without_a_traceback(
        cli: Cli, etcd: EtcdServer, prefix: str, value: bytes) -> None:
    etcd.etcdctl("put", f"{prefix}/strategies/default/odd", input=value)
    etcd.etcdctl("put", f"{prefix}/status/strategies/default/odd", input=DEEP_JSON.encode())
    for args in (("get", "st"), ("get", "st", "-o", "wide"), ("get", "st", "odd", "-o", "yaml"),
                 ("describe", "st", "odd"), ("switch", "odd", "--to", "x"), ("pause", "odd")):
        res = cli.run(*args)
        assert "Traceback" not in res.err and len(res.err) < 1500, (args, res.err[:1500])
        assert res.rc in (0, 1), (args, res.rc)
    listed = cli.ok("get", "st", "-o", "json").json()
    assert [item["metadata"]["name"] for item in listed["items"]] == ["odd"]


def test_apply_writes_nothing_when_etcd_refuses_one_document(tmp_path: Path, prefix: str) -> None:
    """etcd configured for small requests refuses the set: one transaction, nothing written."""
    with EtcdServer(name="fogstrat-small-requests",
                    extra_args=("--max-request-bytes", "65536")) as small:
        cli = Cli(small.endpoint, prefix)
        for i in range(3):
            (tmp_path / f"s{i}.yaml").write_text(STRATEGY.format(name=f"s{i}"))
        (tmp_path / "s3.yaml").write_text(
            STRATEGY.format(name="s3") + "  replacements:\n" + "".join(
                f"  - {{architecture: a{i}, config: {{blob: '{'b' * 40_000}'}}}}\n"
                for i in range(2)))
        failed_briefly(cli.run("apply", "-f", str(tmp_path)), "request is too large",
                       "nothing was applied")
        assert keys(small, prefix) == []
        (tmp_path / "s3.yaml").unlink()
        assert cli.ok("apply", "-f", str(tmp_path)).out.count(" created") == 3


def test_apply_refuses_a_set_beyond_one_transaction_before_writing(
        cli: Cli, etcd: EtcdServer, prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("---\n".join(STRATEGY.format(name=f"s{i}") for i in range(129)))
    failed_briefly(cli.run("apply", "-f", str(path)), "do not fit in one etcd transaction",
                   "at most 128 documents", "nothing was applied")
    assert keys(etcd, prefix) == []


def test_apply_refuses_a_document_larger_than_a_controller_reads(
        cli: Cli, etcd: EtcdServer, prefix: str, tmp_path: Path) -> None:
    """Compact flow YAML that is over the size limit once written in block style."""
    nest = "".join(f"{'  ' * (i + 3)}n{i}:\n" for i in range(10))
    lists = "".join(f"{'  ' * 13}l{i}: [{','.join(['a'] * 4000)}]\n" for i in range(10))
    big = STRATEGY.format(name="big").replace(
        "  main: {architecture: federated-learning}\n",
        "  main:\n    architecture: federated-learning\n    config:\n" + nest + lists)
    assert len(big) < 512 * 1024
    (tmp_path / "a.yaml").write_text(STRATEGY.format(name="small"))
    (tmp_path / "b.yaml").write_text(big)
    failed_briefly(cli.run("apply", "-f", str(tmp_path)), "bytes once written",
                   "limit max_document_bytes", "nothing was applied")
    assert keys(etcd, prefix) == []
    pads = "".join(f"        p{i}: '{'x' * 60_000}'\n" for i in range(10))
    (tmp_path / "c.yaml").write_text(big.replace("n0:\n", "n0:\n" + pads))
    failed_briefly(cli.run("apply", "-f", str(tmp_path / "c.yaml")), "limit max_document_bytes")


def test_apply_refuses_a_document_given_twice(cli: Cli, etcd: EtcdServer, prefix: str,
                                              tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(STRATEGY.format(name="same"))
    (tmp_path / "b.yaml").write_text(STRATEGY.format(name="same"))
    failed_briefly(cli.run("apply", "-f", str(tmp_path)), "also given at", "nothing was applied")
    assert keys(etcd, prefix) == []


def test_apply_reports_each_document_of_an_atomic_write(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(STRATEGY.format(name="a") + "---\n" + STRATEGY.format(name="b"))
    assert cli.ok("apply", "-f", str(path)).out.split("\n")[:2] == [
        "strategy.fogstrat.io/a created", "strategy.fogstrat.io/b created"]
    path.write_text(STRATEGY.format(name="a") + "---\n" +
                    STRATEGY.format(name="b").replace("federated", "gossip"))
    assert cli.ok("apply", "-f", str(path)).out.split("\n")[:2] == [
        "strategy.fogstrat.io/a unchanged", "strategy.fogstrat.io/b configured"]


def test_put_all_is_all_or_nothing(etcd: EtcdServer, prefix: str) -> None:
    store: Store = connect(etcd.endpoint, timeout=5.0)
    try:
        first = store.put_all([Write(f"{prefix}/a", b"1", 0), Write(f"{prefix}/b", b"2", 0)])
        with pytest.raises(Conflict) as info:
            store.put_all([Write(f"{prefix}/c", b"3", 0), Write(f"{prefix}/b", b"4", first - 1)])
        assert info.value.key == f"{prefix}/b"
        assert store.get(f"{prefix}/c") is None
        assert store.get(f"{prefix}/b").value == b"2"  # type: ignore[union-attr]
        store.put_all([Write(f"{prefix}/b", b"5", first)])
        assert store.get(f"{prefix}/b").value == b"5"  # type: ignore[union-attr]
    finally:
        store.close()


def test_get_json_of_a_bad_status_stays_json(cli: Cli, etcd: EtcdServer, prefix: str) -> None:
    etcd.etcdctl("put", f"{prefix}/strategies/default/s", input=STRATEGY.format(name="s").encode())
    etcd.etcdctl("put", f"{prefix}/status/strategies/default/s", input=b"\xff")
    shown = json.loads(cli.ok("get", "st", "s", "-o", "json").out)
    assert "not readable" in shown["status"]["error"]
