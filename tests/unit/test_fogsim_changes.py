"""fogsim's change log and the engine's feed over it (no processes, no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fogsim.changes import INSTANCE, NODE, ChangeKey, ChangeLog, Expired
from fogsim.engine import Engine
from fogsim.nodes import load_nodes

EXAMPLE = Path(__file__).resolve().parents[2] / "hack" / "fogsim" / "nodes.yaml"


def descriptor(fid: str = "feed") -> dict[str, Any]:
    return {"id": fid, "name": fid, "hypervisor": "LXD", "migration_kind": "COLD",
            "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 512}}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(load_nodes(EXAMPLE), no_processes=True, workdir=tmp_path,
                feed_capacity=64) as eng:
        yield eng


def test_keys_after_a_revision_once_each_in_order_of_last_change() -> None:
    log = ChangeLog(capacity=10)
    a, b = ChangeKey(INSTANCE, "a"), ChangeKey(INSTANCE, "b")
    assert [log.record(k) for k in (a, b, a)] == [1, 2, 3]
    assert log.since(0) == (3, [b, a])
    assert log.since(1) == (3, [b, a])
    assert log.since(2) == (3, [a])
    assert log.since(3) == (3, [])


def test_the_log_is_bounded_and_an_older_revision_is_expired() -> None:
    log = ChangeLog(capacity=4)
    for i in range(1000):
        log.record(ChangeKey(INSTANCE, f"i{i}"))
    assert len(log._log) == 4
    assert log.oldest() == 996
    assert log.since(996)[1] == [ChangeKey(INSTANCE, f"i{i}") for i in range(996, 1000)]
    with pytest.raises(Expired) as ei:
        log.since(995)
    assert "995" in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(Expired):
        log.since(1001)  # a revision this log never gave


def test_listeners_hear_every_revision() -> None:
    log = ChangeLog()
    heard: list[int] = []
    log.listen(lambda rev, key: heard.append(rev))
    log.record(ChangeKey(NODE, "n"))
    log.record(ChangeKey(NODE, "n"))
    assert heard == [1, 2]


def test_engine_feeds_instance_changes_and_capacity(engine: Engine) -> None:
    fid = engine.onboard(descriptor())["uuid"]
    node = engine.node_list()[0]
    start = engine.changes.head
    iid = engine.define(fid, node)["uuid"]
    head, changes = engine.feed(start)
    assert [(c["kind"], c["id"], c["record"]["status"]) for c in changes] == [
        (INSTANCE, iid, "DEFINE")]
    engine.configure(iid)  # now it holds RAM on its node: the node changed too
    head2, changes = engine.feed(head)
    assert head2 == head + 2
    assert [(c["kind"], c["id"]) for c in changes] == [(INSTANCE, iid), (NODE, node)]
    assert changes[1]["record"]["ram"]["free"] < changes[1]["record"]["ram"]["total"]
    engine.start(iid)
    engine.crash(iid)
    _, changes = engine.feed(head2)
    assert [(c["kind"], c["id"]) for c in changes] == [(INSTANCE, iid), (NODE, node)]
    assert changes[0]["record"]["status"] == "ERROR"


def test_node_down_feeds_its_instances_gone_and_the_node(engine: Engine) -> None:
    fid = engine.onboard(descriptor())["uuid"]
    node = engine.node_list()[0]
    iids = [engine.define(fid, node)["uuid"] for _ in range(3)]
    head = engine.changes.head
    engine.node_down(node)
    engine.node_down(node)  # idempotent: nothing new
    _, changes = engine.feed(head)
    assert [(c["id"], c["record"]) for c in changes] == [*((i, None) for i in iids),
                                                         (node, None)]
    assert all(c["node"] == node and c["fdu"] == fid for c in changes[:3])
    head = engine.changes.head
    engine.node_up(node)
    _, changes = engine.feed(head)
    assert [(c["kind"], c["id"], c["record"]["uuid"]) for c in changes] == [
        (NODE, node, node)]


def test_a_reader_behind_the_log_must_list_again(engine: Engine) -> None:
    fid = engine.onboard(descriptor())["uuid"]
    node = engine.node_list()[0]
    iid = engine.define(fid, node)["uuid"]
    for _ in range(40):  # 80 changes, the log keeps 64
        engine.configure(iid)
        engine.clean(iid)
    with pytest.raises(Expired):
        engine.feed(0)
    head, body = engine.all_instances_json_at()
    assert head == engine.changes.head and iid.encode() in body
    assert engine.feed(head) == (head, [])
