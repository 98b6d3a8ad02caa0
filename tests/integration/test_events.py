"""Events: what the controller writes, how ``fogstrat events`` and ``describe`` show them,
and that recording them can neither block nor fail a reconcile."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from controller.api import kinds
from controller.metrics import Metrics
from controller.runtime.events import EventRecorder
from controller.runtime.informer import ObjectKey
from controller.store import Store, connect
from controller.store.keys import event_prefix
from tests.support.cli import FOGSTRAT
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, wait_for

pytestmark = pytest.mark.integration

KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


@pytest.fixture
def etcd_store(etcd: EtcdServer) -> Iterator[Store]:
    st = connect(etcd.endpoint, timeout=5.0)
    try:
        yield st
    finally:
        st.close()


def stored(store: Store, prefix: str) -> list[dict[str, object]]:
    records, _ = store.list(event_prefix(prefix))
    return [json.loads(r.value) for r in records]


def dropped(m: Metrics) -> float:
    return float(m.events_dropped._value.get())


def test_a_repeated_event_counts_up_and_expires_with_its_lease(
        etcd: EtcdServer, etcd_store: Store, prefix: str) -> None:
    m = Metrics(process_collectors=False)
    rec = EventRecorder(etcd_store, prefix, m, time.time, ttl=120, instance="t").start()
    try:
        rec.record(KEY, "Warning", "FogUnreachable", "fog unreachable (timeout)")
        rec.record(KEY, "Warning", "FogUnreachable", "fog unreachable (timeout)")
        rec.record(KEY, "Normal", "FogReachable", "fog reachable again")
    finally:
        rec.close()
    events = sorted(stored(etcd_store, prefix), key=lambda e: str(e["reason"]))
    assert [(e["reason"], e["count"]) for e in events] == [("FogReachable", 1),
                                                            ("FogUnreachable", 2)]
    ev = events[1]
    assert ev["involvedObject"] == {"apiVersion": "fogstrat.io/v1alpha1",
                                    "kind": "ActiveStrategy", "namespace": "default",
                                    "name": "web"}
    assert ev["type"] == "Warning" and ev["message"] == "fog unreachable (timeout)"
    assert str(ev["metadata"]["name"]).startswith("web.")  # type: ignore[index]
    assert str(ev["firstTimestamp"]) <= str(ev["lastTimestamp"])
    assert str(ev["lastTimestamp"]).endswith("Z")
    # bound to a lease of the ttl asked for
    key = event_prefix(prefix, "default") + str(ev["metadata"]["name"])  # type: ignore[index]
    out = json.loads(etcd.etcdctl("get", key, "-w", "json").stdout)
    lease = int(out["kvs"][0]["lease"])
    assert lease != 0
    ttl = json.loads(etcd.etcdctl("lease", "timetolive", format(lease, "x"), "-w",
                                  "json").stdout)
    assert 0 < int(ttl["ttl"]) <= 120 and int(ttl["granted-ttl"]) == 120
    assert dropped(m) == 0


def test_recording_never_blocks_a_full_queue_drops_and_counts() -> None:
    m = Metrics(process_collectors=False)
    # no writer running and nowhere to write: the queue fills and the rest is dropped
    rec = EventRecorder(None, "/x", m, time.time, queue_size=2)  # type: ignore[arg-type]
    for i in range(5):
        rec.record(KEY, "Normal", "Start", f"event {i}")
    assert dropped(m) == 3


def test_an_unreachable_etcd_drops_and_counts(prefix: str) -> None:
    from tests.support.fogsim import free_port
    st = connect(f"127.0.0.1:{free_port()}", timeout=0.5)
    m = Metrics(process_collectors=False)
    rec = EventRecorder(st, prefix, m, time.time).start()
    try:
        rec.record(KEY, "Normal", "Start", "nobody listens")
        wait_for(lambda: dropped(m) == 1, 20, "the event to be dropped")
    finally:
        rec.close()
        st.close()


def test_events_of_a_failover_in_fogstrat_events_and_describe(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=30)

    def listed() -> str | None:
        out = s.cli.ok("events", s.name).out
        return out if "failover complete" in out else None

    out = wait_for(listed, 20, "the failover event", s.describe)
    lines = out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
    reasons = [line.split()[2] for line in lines[1:]]
    assert "Start" in reasons and "Vanished" in reasons, out
    failover = next(line for line in lines if "failover complete" in line)
    assert failover.split()[1:4] == ["Normal", "Vanished", f"activestrategy/{s.name}"], out
    # a decision the probes drove: the failover starting, a Warning
    assert any(line.split()[1:3] == ["Warning", "Vanished"] and "failing over" in line
               for line in lines), out

    described = s.cli.ok("describe", "activestrategy", s.name).out
    tail = described[described.index("\nEvents:\n"):]
    assert "failover complete" in tail and "LAST SEEN" in tail, described
    assert "Last probes:" in described


def test_events_watch_prints_new_events(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    proc = subprocess.Popen([FOGSTRAT, "events", s.name, "-w"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=s.cli.env)
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: seen, 20, "the header")
        assert seen[0].split()[:2] == ["LAST", "SEEN"], seen
        s.when.fogstrat("switch", s.name, "--to", "web-backup")
        wait_for(lambda: any("switch complete" in line for line in seen), 30,
                 "the switch's event in the watch", lambda: "".join(seen))
        assert any(line.split()[2:3] == ["Pinned"] for line in seen[1:]), seen
    finally:
        proc.kill()
        proc.wait(10)
        reader.join(10)


# --- across a restart: dedup derives from the stored Events ---------------------------------


def recorder(store: Store, prefix: str, m: Metrics | None = None) -> EventRecorder:
    return EventRecorder(store, prefix, m or Metrics(process_collectors=False), time.time,
                         ttl=120, instance="t")


def test_a_new_writer_counts_on_from_the_stored_event(etcd_store: Store, prefix: str
                                                      ) -> None:
    first = recorder(etcd_store, prefix).start()
    try:
        first.record(KEY, "Warning", "FogUnreachable", "fog unreachable (timeout)")
        first.record(KEY, "Normal", "Start", "starting")
    finally:
        first.close()
    # the next process: nothing in memory, everything in etcd
    second = recorder(etcd_store, prefix).start()
    try:
        second.record(KEY, "Warning", "FogUnreachable", "fog unreachable (timeout)")
        second.record(KEY, "Warning", "FogUnreachable", "fog unreachable (timeout)")
    finally:
        second.close()
    events = sorted(stored(etcd_store, prefix), key=lambda e: str(e["reason"]))
    assert [(e["reason"], e["count"]) for e in events] == [("FogUnreachable", 3),
                                                            ("Start", 1)]
    assert str(events[0]["firstTimestamp"]) < str(events[0]["lastTimestamp"])


def test_an_occurrence_written_twice_is_stored_once(etcd_store: Store, prefix: str) -> None:
    message = "failover complete: replacement b serving (a -> b, Vanished, 1s)"
    for _ in range(2):  # a process that wrote it, then its successor writing it again
        rec = recorder(etcd_store, prefix)
        assert rec.write_now(KEY, "Normal", "Vanished", message, "failover@t1")
        assert rec.write_now(KEY, "Normal", "Vanished", message, "failover@t1")
    # a later failover with the same sentence is a repeat: counted on the same Event
    assert recorder(etcd_store, prefix).write_now(KEY, "Normal", "Vanished", message,
                                                  "failover@t2")
    events = stored(etcd_store, prefix)
    assert len(events) == 1 and events[0]["count"] == 2, events
    assert events[0]["metadata"]["annotations"] == {  # type: ignore[index]
        "fogstrat.io/occurrence": "failover@t2"}


def test_stored_events_of_other_objects_and_odd_values_are_not_counted_on(
        etcd: EtcdServer, etcd_store: Store, prefix: str) -> None:
    other = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web.x")
    rec = recorder(etcd_store, prefix)
    assert rec.write_now(other, "Normal", "Start", "starting", "")
    base = event_prefix(prefix, "default")
    for i, odd in enumerate([b"{", b"[]", b'{"metadata":{}}', json.dumps(
            {"involvedObject": {"kind": "ActiveStrategy", "namespace": "default",
                                "name": "web"}, "metadata": {"name": "web.odd"},
             "type": "Normal", "reason": "Start", "message": "starting",
             "count": "many", "firstTimestamp": "x"}).encode()]):
        etcd.etcdctl("put", f"{base}web.odd{i}", odd.decode())
    m = Metrics(process_collectors=False)
    fresh = recorder(etcd_store, prefix, m)
    assert fresh.write_now(KEY, "Normal", "Start", "starting", "")
    records, _ = etcd_store.list(base)
    mine = [json.loads(r.value) for r in records if not r.key.startswith(f"{base}web.odd")
            and json.loads(r.value)["involvedObject"]["name"] == "web"]
    assert [e["count"] for e in mine] == [1], mine  # a new Event: nothing to count on
    assert dropped(m) == 0
