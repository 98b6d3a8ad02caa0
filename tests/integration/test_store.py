"""The etcd store against a real etcd: round trips, CAS, watches, leases and fencing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.store import (
    Compacted,
    Conflict,
    NotLeader,
    Store,
    StoreUnavailable,
    UnknownOutcome,
    WatchEvent,
    connect,
    keys,
)
from controller.store.base import Watch
from controller.store.etcd import EtcdLeadership, EtcdStore
from tests.support.etcd import EtcdServer, assert_no_store_threads, free_port

pytestmark = pytest.mark.integration

YAML_DOC = (
    "# written by hand\n"
    "apiVersion: fogstrat.io/v1alpha1\n"
    "kind: Architecture\n"
    "metadata: {name: federated-learning}   # trailing comment\n"
    "spec:\n"
    "  parameters:\n"
    "    rounds: {type: integer, default: 10}\n"
    "  note: 'ünïcode ✓ — kept'\n"
    "\n"
).encode()
JSON_DOC = json.dumps(
    {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy",
     "metadata": {"name": "prediction"}, "spec": {"main": {"architecture": "x"}}},
    indent=2, ensure_ascii=False,
).encode() + b"\n"


def collect(w: Watch, n: int, timeout: float = 10.0) -> list[WatchEvent]:
    """Exactly ``n`` events, then make sure no extra one is queued right behind them."""
    out: list[WatchEvent] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(out)} of {n} events: {out}"
        ev = w.get(timeout=left)
        if ev is not None:
            out.append(ev)
    return out


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --------------------------------------------------------------------------- KV


def test_roundtrip_is_byte_exact(store: Store, etcd: EtcdServer, prefix: str) -> None:
    arch = keys.spec_key(prefix, "architectures", "default", "federated-learning")
    strat = keys.spec_key(prefix, "strategies", "default", "prediction")
    by_etcdctl = keys.spec_key(prefix, "architectures", "default", "by-etcdctl")

    rev1 = store.put(arch, YAML_DOC)
    rev2 = store.put(strat, JSON_DOC)
    assert rev2 > rev1
    etcdctl_doc = YAML_DOC.replace(b"federated-learning", b"by-etcdctl")
    etcd.etcdctl("put", by_etcdctl, input=etcdctl_doc)  # value from stdin, as users do

    got = store.get(arch)
    assert got is not None
    assert got.value == YAML_DOC
    assert got.key == arch
    assert got.mod_revision == got.create_revision == rev1
    assert got.version == 1
    strat_rec = store.get(strat)
    assert strat_rec is not None and strat_rec.value == JSON_DOC
    etcdctl_rec = store.get(by_etcdctl)
    assert etcdctl_rec is not None and etcdctl_rec.value == etcdctl_doc

    # ... and what we wrote, etcdctl reads back unchanged too.
    out = etcd.etcdctl("get", arch, "--print-value-only").stdout
    assert out == YAML_DOC + b"\n"  # etcdctl adds one newline

    records, rev = store.list(keys.root_prefix(prefix))
    assert [r.key for r in records] == sorted([arch, strat, by_etcdctl])
    assert {r.key: r.value for r in records} == {
        arch: YAML_DOC, strat: JSON_DOC, by_etcdctl: etcdctl_doc}
    assert rev >= max(r.mod_revision for r in records)
    assert store.revision() >= rev
    assert store.get(keys.spec_key(prefix, "architectures", "default", "missing")) is None


def test_list_does_not_mix_sibling_kinds(store: Store, prefix: str) -> None:
    a = keys.spec_key(prefix, "architectures", "default", "a")
    d = keys.spec_key(prefix, "architecturedata", "default", "a")
    s = keys.status_key(prefix, "architectures", "default", "a")
    for k in (a, d, s):
        store.put(k, b"{}")
    records, _ = store.list(keys.spec_prefix(prefix, "architectures"))
    assert [r.key for r in records] == [a]
    records, _ = store.list(keys.spec_prefix(prefix, "architecturedata", "default"))
    assert [r.key for r in records] == [d]
    records, _ = store.list(keys.status_prefix(prefix))
    assert [r.key for r in records] == [s]
    assert keys.parse_key(prefix, a) == (False, "architectures", "default", "a")
    assert keys.parse_key(prefix, s) == (True, "architectures", "default", "a")
    assert keys.parse_key(prefix, keys.leader_key(prefix)) is None
    with pytest.raises(ValueError):
        store.list(f"{prefix}/architectures")  # no trailing slash would match architecturedata


def test_compare_and_swap(store: Store, prefix: str) -> None:
    k = keys.spec_key(prefix, "environments", "default", "lab")
    rev1 = store.put(k, b"v1", expect_mod_revision=0)
    with pytest.raises(Conflict) as exc:
        store.put(k, b"again", expect_mod_revision=0)
    assert exc.value.actual == rev1 and "already exists" in str(exc.value)

    rev2 = store.put(k, b"v2", expect_mod_revision=rev1)
    assert rev2 > rev1
    with pytest.raises(Conflict) as exc:
        store.put(k, b"stale", expect_mod_revision=rev1)
    assert (exc.value.expected, exc.value.actual) == (rev1, rev2)
    with pytest.raises(Conflict):
        store.delete(k, expect_mod_revision=rev1)
    rec = store.get(k)
    assert rec is not None and rec.value == b"v2" and rec.version == 2

    assert store.delete(k, expect_mod_revision=rev2) is True
    assert store.get(k) is None
    assert store.delete(k) is False
    with pytest.raises(Conflict) as exc:
        store.put(k, b"x", expect_mod_revision=rev2)
    assert exc.value.actual is None


# --------------------------------------------------------------------------- watch


def test_list_then_watch_delivers_events_in_order(store: Store, prefix: str) -> None:
    root = keys.spec_prefix(prefix, "strategies")
    store.put(root + "default/before", b"0")
    records, rev = store.list(root)
    assert len(records) == 1

    writes: list[tuple[str, str, bytes]] = []
    with store.watch(root, rev + 1) as w:
        for i in range(20):
            k = f"{root}default/s{i % 3}"
            store.put(k, f"{i}".encode())
            writes.append(("PUT", k, f"{i}".encode()))
        store.delete(root + "default/before")
        writes.append(("DELETE", root + "default/before", b""))
        store.put(keys.spec_key(prefix, "strategiesx", "default", "other"), b"not mine")

        events = collect(w, len(writes))
        assert [(e.type, e.key, e.value) for e in events] == writes
        revs = [e.mod_revision for e in events]
        assert revs == sorted(revs) and len(set(revs)) == len(revs) and revs[0] > rev
        assert w.get(timeout=0.3) is None  # the sibling kind never shows up
        assert w.last_revision == revs[-1]
    assert w.closed
    assert_no_store_threads()


def test_a_delivering_watch_hands_each_event_over_on_its_own_thread(store: Store,
                                                                    prefix: str) -> None:
    root = keys.spec_prefix(prefix, "strategies")
    _, rev = store.list(root)
    got: list[tuple[str, bytes, str]] = []
    arrived = threading.Condition()

    def deliver(event: WatchEvent) -> None:
        if event.value == b"boom":
            raise RuntimeError("a consumer's bug")
        with arrived:
            got.append((event.key, event.value, threading.current_thread().name))
            arrived.notify_all()

    with store.watch(root, rev + 1, deliver=deliver) as w:
        store.put(root + "default/a", b"1")
        store.put(root + "default/b", b"boom")  # logged; the watch goes on
        store.put(root + "default/a", b"2")
        with arrived:
            assert arrived.wait_for(lambda: len(got) == 2, 10)
        assert [(k, v) for k, v, _ in got] == [(root + "default/a", b"1"),
                                               (root + "default/a", b"2")]
        assert all(t.startswith("etcd-watch:") for _, _, t in got)
        assert w.get(timeout=0.3) is None  # nothing is queued besides
        assert w.last_revision == store.revision()
    assert w.closed
    assert_no_store_threads()


def test_a_delivering_watch_still_tells_of_compaction(fresh_etcd: EtcdServer,
                                                      prefix: str) -> None:
    root = keys.root_prefix(prefix)
    with connect(fresh_etcd.endpoint) as store:
        _, rev = store.list(root)
        for i in range(3):
            store.put(f"{root}k{i}", b"x")
        fresh_etcd.etcdctl("compact", str(store.revision()))
        w = store.watch(root, rev + 1, deliver=lambda _event: None)  # compacted away
        with pytest.raises(Compacted):
            w.get(timeout=5)
        assert w.closed
    assert_no_store_threads()


def test_watch_resumes_after_etcd_sigkill(fresh_etcd: EtcdServer, prefix: str) -> None:
    root = keys.root_prefix(prefix)
    # A slow first retry makes sure the write below lands while the watch is disconnected,
    # so only the resume-from-revision replay can deliver it.
    watcher = EtcdStore(fresh_etcd.endpoint, timeout=2.0, watch_backoff=(4.0, 4.0))
    try:
        _, rev = watcher.list(root)
        w = watcher.watch(root, rev + 1)
        watcher.put(root + "a", b"before")
        assert [e.value for e in collect(w, 1)] == [b"before"]
        assert w.connected

        fresh_etcd.kill()
        wait_for(lambda: not w.connected, 5, "the watch to notice the crash")
        with pytest.raises(StoreUnavailable):
            watcher.get(root + "a")

        fresh_etcd.start()  # same ports, same data dir
        fresh_etcd.etcdctl("put", root + "b", "while-disconnected")
        assert not w.connected, "the watch reconnected before the write; test proves nothing"
        with connect(fresh_etcd.endpoint) as other:  # a second client, after the restart
            other.put(root + "c", b"after")

        events = collect(w, 2)
        assert [(e.key, e.value) for e in events] == [
            (root + "b", b"while-disconnected"), (root + "c", b"after")]
        assert w.get(timeout=1.0) is None  # nothing delivered twice
        assert w.connected
        w.close()
    finally:
        watcher.close()
    assert_no_store_threads()


def test_compaction_tells_the_consumer_to_relist(fresh_etcd: EtcdServer, prefix: str) -> None:
    root = keys.root_prefix(prefix)
    with connect(fresh_etcd.endpoint) as store:
        _, rev = store.list(root)
        for i in range(3):
            store.put(f"{root}k{i}", b"x")
        now = store.revision()
        fresh_etcd.etcdctl("compact", str(now))

        w = store.watch(root, rev + 1)  # a resume point that no longer exists
        with pytest.raises(Compacted) as exc:
            w.get(timeout=5)
        assert exc.value.compact_revision == now
        assert exc.value.current_revision >= now
        assert w.closed and w.get(timeout=0.1) is None

        # The consumer's recovery: re-list, then watch from the list's revision + 1.
        records, rev2 = store.list(root)
        assert len(records) == 3
        with store.watch(root, rev2 + 1) as w2:
            store.put(root + "k9", b"new")
            assert [e.key for e in collect(w2, 1)] == [root + "k9"]
    assert_no_store_threads()


# --------------------------------------------------------------------------- leadership


def test_campaign_is_exclusive_and_lease_expiry_frees_the_key(store: Store, prefix: str) -> None:
    lk = keys.leader_key(prefix)
    first = store.campaign(lk, "controller-a", ttl=2)
    assert first is not None and first.is_valid
    assert store.campaign(lk, "controller-b", ttl=2) is None
    rec = store.get(lk)
    assert rec is not None and rec.value == b"controller-a"

    status = keys.status_key(prefix, "activestrategies", "default", "s")
    store.put(status, b'{"phase":"Pending"}', expect_mod_revision=0, fence=first.fence)

    # No refresh: etcd deletes the key when the lease expires.
    wait_for(lambda: store.get(lk) is None, 6, "the leader key to expire")
    assert not first.is_valid
    assert first.refresh() is False
    with pytest.raises(NotLeader):
        store.put(status, b'{"phase":"Serving"}', fence=first.fence)

    second = store.campaign(lk, "controller-b", ttl=2)
    assert second is not None
    # The old leader's fence refers to the old key: still refused, and it says who holds it.
    with pytest.raises(NotLeader) as exc:
        store.put(status, b'{"phase":"Serving"}', fence=first.fence)
    assert "controller-b" in str(exc.value)
    store.put(status, b'{"phase":"Serving"}', fence=second.fence)
    second.resign()
    assert store.get(lk) is None


def test_refresh_keeps_leadership_and_fencing(store: Store, etcd: EtcdServer,
                                              prefix: str) -> None:
    lk = keys.leader_key(prefix)
    lead = store.campaign(lk, "controller-a", ttl=2)
    assert lead is not None
    lost = threading.Event()
    lead.keep_alive(interval=0.4, on_lost=lost.set)
    time.sleep(3.5)  # well past the TTL
    rec = store.get(lk)
    assert rec is not None and rec.create_revision == lead.fence.create_revision
    assert lead.is_valid and not lost.is_set()

    status = keys.status_key(prefix, "activestrategies", "default", "s")
    rev = store.put(status, b"{}", expect_mod_revision=0, fence=lead.fence)
    with pytest.raises(Conflict):  # the leader is fine, the revision is stale
        store.put(status, b"{}", expect_mod_revision=rev - 1, fence=lead.fence)

    # Someone revokes our lease behind our back: the keep-alive notices, writes are refused.
    fresh = store.campaign(lk, "controller-b", ttl=2)
    assert fresh is None
    assert isinstance(lead, EtcdLeadership)
    etcd.etcdctl("lease", "revoke", f"{lead.lease_id:x}")
    assert lost.wait(3), "keep-alive did not report the lost lease"
    assert not lead.is_valid
    with pytest.raises(NotLeader):
        store.put(status, b"{}", expect_mod_revision=rev, fence=lead.fence)
    with pytest.raises(NotLeader):
        store.delete(status, fence=lead.fence)
    lead.resign()  # harmless after loss; joins the keep-alive thread


# --------------------------------------------------------------------------- errors


def test_unreachable_store_is_one_clear_line() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    with connect(endpoint, timeout=2.0) as store:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as exc:
            store.get("/fogstrat/leader")
        assert time.monotonic() - started < 3
        msg = str(exc.value)
        assert endpoint in msg and "unreachable" in msg and "\n" not in msg
        with pytest.raises(StoreUnavailable):
            store.put("/fogstrat/x", b"1")
        w = store.watch("/fogstrat/", 1)  # keeps retrying quietly, closes cleanly
        time.sleep(0.3)
        assert not w.connected
    assert w.closed or w.get(timeout=0.1) is None
    assert_no_store_threads()


def test_a_dead_endpoint_in_the_list_is_skipped(store: Store, etcd: EtcdServer,
                                                prefix: str) -> None:
    root = keys.root_prefix(prefix)
    dead = f"127.0.0.1:{free_port()}"
    with connect(f"{dead},{etcd.endpoint}", timeout=2.0) as multi:
        assert multi.list(root) == ([], multi.list(root)[1])
        for i in range(4):  # reads fail over; whichever endpoint the client starts on
            assert multi.get(root + "missing") is None, i
        with multi.watch(root, multi.revision() + 1) as w:
            store.put(root + "k", b"v")
            assert [e.value for e in collect(w, 1)] == [b"v"]
    assert_no_store_threads()


def wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Until every thread of ``pid`` is stopped: a signal is delivered asynchronously, and
    a request sent before then may still be answered."""
    deadline = time.monotonic() + timeout
    while True:
        states = set()
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                states.add((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if states <= {"T", "t"}:
            return
        assert time.monotonic() < deadline, f"process {pid} not stopped: {states}"
        time.sleep(0.01)


def test_a_timed_out_write_is_an_unknown_outcome(fresh_etcd: EtcdServer, prefix: str) -> None:
    k = keys.spec_key(prefix, "environments", "default", "lab")
    with connect(fresh_etcd.endpoint, timeout=1.0) as store:
        rev = store.put(k, b"v1")
        assert fresh_etcd.pid is not None
        os.kill(fresh_etcd.pid, signal.SIGSTOP)  # frozen, not dead: the put times out
        try:
            wait_stopped(fresh_etcd.pid)
            with pytest.raises(UnknownOutcome) as exc:
                store.put(k, b"v2", expect_mod_revision=rev)
            assert "may have been applied" in str(exc.value)
            assert isinstance(exc.value, StoreUnavailable)
        finally:
            os.kill(fresh_etcd.pid, signal.SIGCONT)
        # A CAS retry is safe: it either applies once or reports the first attempt landed.
        deadline = time.monotonic() + 10
        while True:
            try:
                store.put(k, b"v2", expect_mod_revision=rev)
                break
            except Conflict:
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        rec = store.get(k)
        assert rec is not None and rec.value == b"v2" and rec.version == 2
