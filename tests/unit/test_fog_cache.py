"""CachedFog: node info kept, capacity briefly kept and forgotten on our own changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

import pytest

from controller.fog import cache
from controller.fog.cache import CachedFog
from controller.fog.client import (
    FogChange,
    FogChangeKind,
    FogClient,
    FogUnavailable,
    InstanceInfo,
    InstanceState,
    NodeInfo,
    NodeStatus,
    NotFound,
)
from controller.runtime.fogs import Fogs, NodeView


class CountingFog(FogClient):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.nodes = ["n1", "n2"]
        self.states: dict[str, InstanceState] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def list_nodes(self, *, timeout: float | None = None) -> list[str]:
        self._count("list_nodes")
        return list(self.nodes)

    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo:
        self._count("node_info")
        return NodeInfo(node_id, node_id, "x86_64", 2, 1024, 10.0, "127.0.0.1")

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        self._count("node_status")
        return NodeStatus(node_id, 1024, 512)

    def _inst(self, iid: str) -> InstanceInfo:
        return InstanceInfo(iid, "f", "n1", self.states.get(iid, InstanceState.CONFIGURE))

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        return "f"

    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None: ...

    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]:
        return {}

    def list_fdus(self, *, timeout: float | None = None) -> list[str]:
        return []

    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None,
               existing: Collection[str] | None = None) -> InstanceInfo:
        return self._inst("i")

    def configure(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._inst(instance_id)

    def start(self, instance_id: str, env: Mapping[str, str] | None = None, *,
              timeout: float | None = None) -> InstanceInfo:
        return self._inst(instance_id)

    def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._inst(instance_id)

    def clean(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._inst(instance_id)

    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None:
        self.states.pop(instance_id, None)

    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        self._count("instance_info")
        if instance_id not in self.states:
            raise NotFound(instance_id)
        return self._inst(instance_id)

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        self._count("all_instances")
        time.sleep(0.01)  # long enough for concurrent readers to pile up
        return {iid: self._inst(iid) for iid in self.states}

    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_node_info_is_kept_and_status_expires() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, ttl=1, status_ttl=5, clock=clock)
    for _ in range(3):
        fog.list_nodes()
        fog.node_info("n1")
        fog.node_status("n1")
    assert inner.calls == {"list_nodes": 1, "node_info": 1, "node_status": 1}
    clock.now = 2
    fog.list_nodes()
    fog.node_status("n1")
    assert inner.calls["list_nodes"] == 2 and inner.calls["node_status"] == 1
    clock.now = 6
    fog.node_status("n1")
    assert inner.calls["node_status"] == 2


def test_our_own_changes_forget_that_nodes_capacity() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, clock=clock)
    fog.node_status("n1")
    fog.node_status("n2")
    fog.configure("i")  # runs on n1
    fog.node_status("n1")
    fog.node_status("n2")
    assert inner.calls["node_status"] == 3


class SideBySideFog(CountingFog):
    """Each status read waits until all ``expect`` reads are in flight: read one after
    another, they would all fail."""

    def __init__(self, nodes: list[str], expect: int) -> None:
        super().__init__()
        self.nodes = nodes
        self.barrier = threading.Barrier(expect, timeout=10)

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        self._count("node_status")
        if node_id == "broken":
            raise FogUnavailable("no answer")
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise FogUnavailable("read alone") from None
        return NodeStatus(node_id, 1024, 512)


def test_expired_statuses_are_read_side_by_side_and_fresh_ones_not_at_all() -> None:
    nodes = [f"n{i}" for i in range(8)]
    inner, clock = SideBySideFog([*nodes, "broken"], expect=6), Clock()
    fog = CachedFog(inner, status_ttl=5, clock=clock)
    fog._status.update({"n0": (0.0, NodeStatus("n0", 1024, 1)),
                        "n1": (0.0, NodeStatus("n1", 1024, 2))})
    got = fog.node_statuses([*nodes, "broken"])
    assert sorted(got) == nodes  # the broken one is left out, not fatal
    assert got["n0"].ram_free_mb == 1 and got["n2"].ram_free_mb == 512
    assert inner.calls["node_status"] == 7  # six read together, the broken one; n0, n1 kept
    assert fog.node_statuses(nodes) == got  # and now all kept
    assert inner.calls["node_status"] == 7


def test_a_client_reads_statuses_one_by_one_unless_it_knows_better() -> None:
    inner = SideBySideFog(["n1", "n2"], expect=1)
    assert sorted(inner.node_statuses(["n1", "broken", "n2"])) == ["n1", "n2"]


class GoneFog(CountingFog):
    """``gone`` answers NotFound, ``down`` cannot be reached."""

    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo:
        if node_id == "gone":
            raise NotFound(node_id)
        if node_id == "down":
            raise FogUnavailable(node_id)
        return super().node_info(node_id, timeout=timeout)


def test_node_infos_answer_kept_ones_at_once_and_read_the_rest() -> None:
    inner = GoneFog()
    fog = CachedFog(inner)
    fog.node_info("n1")
    infos = fog.node_infos(["n2", "gone", "n1"])
    assert [i.uuid for i in infos] == ["n2", "n1"]  # in order; the gone one left out
    assert inner.calls["node_info"] == 2  # n1 was kept: only n2 was read
    assert [i.uuid for i in fog.node_infos(["n1", "n2"])] == ["n1", "n2"]
    assert inner.calls["node_info"] == 2
    with pytest.raises(FogUnavailable):  # not gone: unknown, so not silently dropped
        fog.node_infos(["n1", "down"])


def test_a_client_reads_infos_one_by_one_unless_it_knows_better() -> None:
    inner = GoneFog()
    assert [i.uuid for i in inner.node_infos(["n1", "gone", "n2"])] == ["n1", "n2"]
    assert inner.calls["node_info"] == 2
    with pytest.raises(FogUnavailable):
        inner.node_infos(["down"])


def test_a_node_that_left_is_read_again_when_it_returns() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, ttl=1, clock=clock)
    fog.list_nodes()
    fog.node_info("n2")
    inner.nodes = ["n1"]
    clock.now = 2
    fog.list_nodes()
    inner.nodes = ["n1", "n2"]
    clock.now = 4
    fog.list_nodes()
    fog.node_info("n2")
    assert inner.calls["node_info"] == 2


def test_recent_instance_reads_share_one_fog_wide_read_per_ttl() -> None:
    inner, clock = CountingFog(), Clock()
    inner.states = {f"i{k}": InstanceState.RUN for k in range(100)}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    for k in range(100):
        assert fog.recent_instance_info(f"i{k}").state is InstanceState.RUN
    assert inner.calls == {"all_instances": 1}
    inner.states["i0"] = InstanceState.ERROR  # someone else's change: seen after the ttl
    clock.now = 0.5
    assert fog.recent_instance_info("i0").state is InstanceState.RUN
    clock.now = 1.0
    assert fog.recent_instance_info("i0").state is InstanceState.ERROR
    assert inner.calls == {"all_instances": 2}


def test_our_own_changes_override_the_read_they_follow() -> None:
    inner, clock = CountingFog(), Clock()
    inner.states = {"i": InstanceState.CONFIGURE}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    assert fog.recent_instance_info("i").state is InstanceState.CONFIGURE
    inner.states["i"] = InstanceState.RUN
    clock.now = 0.1
    assert fog.start("i").state is InstanceState.RUN
    assert fog.recent_instance_info("i").state is InstanceState.RUN
    fog.undefine("i")
    with pytest.raises(NotFound):
        fog.recent_instance_info("i")
    assert inner.calls == {"all_instances": 1}
    clock.now = 2.0  # a newer read supersedes what we did
    with pytest.raises(NotFound):
        fog.recent_instance_info("i")
    assert inner.calls == {"all_instances": 2, "instance_info": 1}


def test_our_own_fresh_change_needs_no_fog_wide_read() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    inner.states["i"] = InstanceState.RUN
    assert fog.start("i").state is InstanceState.RUN
    clock.now = 0.9
    assert fog.recent_instance_info("i").state is InstanceState.RUN  # what start said
    assert "all_instances" not in inner.calls
    inner.states["i"] = InstanceState.ERROR  # then it failed: seen once ours is a ttl old
    clock.now = 1.0
    assert fog.recent_instance_info("i").state is InstanceState.ERROR
    assert inner.calls["all_instances"] == 1


def test_an_instance_missing_from_the_read_is_asked_for() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    assert fog.all_instances() == {}
    inner.states["new"] = InstanceState.RUN  # created by someone after the read
    assert fog.recent_instance_info("new").state is InstanceState.RUN
    assert inner.calls == {"all_instances": 1, "instance_info": 1}


def test_concurrent_readers_wait_for_one_read() -> None:
    inner = CountingFog()
    inner.states = {"i": InstanceState.RUN}
    fog = CachedFog(inner, instance_ttl=5.0)
    threads = [threading.Thread(target=fog.recent_instance_info, args=("i",))
               for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.calls == {"all_instances": 1}


def test_a_big_fog_is_read_less_often_but_never_staler_than_the_cap() -> None:
    from controller.fog.cache import INSTANCES_PER_SECOND, MAX_INSTANCE_TTL

    inner, clock = CountingFog(), Clock()
    inner.states = {f"i{k}": InstanceState.RUN for k in range(INSTANCES_PER_SECOND * 3)}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    fog.recent_instance_info("i0")
    clock.now = 2.3  # 7,500 instances: read every 3 s (ahead from 2.4 s)
    fog.recent_instance_info("i0")
    assert inner.calls == {"all_instances": 1}
    clock.now = 3.0
    fog.recent_instance_info("i0")
    assert inner.calls == {"all_instances": 2}
    inner.states = {f"i{k}": InstanceState.RUN for k in range(INSTANCES_PER_SECOND * 100)}
    clock.now = 6.0
    fog.recent_instance_info("i0")
    clock.now = 6.0 + MAX_INSTANCE_TTL
    fog.recent_instance_info("i0")
    assert inner.calls == {"all_instances": 4}


class SlowReadFog(CountingFog):
    """A fog-wide read that waits until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        if self.calls.get("all_instances"):
            assert self.go.wait(5)
        return super().all_instances(timeout=timeout)


def _read_then_failed(inner: CountingFog) -> tuple[CachedFog, Clock]:
    """A cache (ttl 1 s) that read instance ``i`` running at 0 s; it has failed since."""
    clock = Clock()
    inner.states = {"i": InstanceState.RUN}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    fog.recent_instance_info("i")
    inner.states["i"] = InstanceState.ERROR
    return fog, clock


def test_the_next_read_starts_ahead_and_nobody_waits_for_it() -> None:
    inner = SlowReadFog()
    fog, clock = _read_then_failed(inner)
    clock.now = 0.85  # past READ_AHEAD of the ttl: the next read starts in the background
    assert fog.recent_instance_info("i").state is InstanceState.RUN  # not waited for
    assert fog.reading_ahead is not None and not fog.reading_ahead.done()
    assert fog.recent_instance_info("i").state is InstanceState.RUN  # one read ahead only
    inner.go.set()
    fog.reading_ahead.result(timeout=5)
    assert fog.recent_instance_info("i").state is InstanceState.ERROR
    assert inner.calls["all_instances"] == 2


def test_an_expired_read_is_waited_for() -> None:
    """Ahead or not, nobody is answered from a read older than its ttl."""
    fog, clock = _read_then_failed(CountingFog())
    clock.now = 1.0
    assert fog.recent_instance_info("i").state is InstanceState.ERROR
    assert fog.reading_ahead is None


def _settled(fogs: Fogs, fog: CachedFog, old: NodeView, timeout: float = 5.0) -> NodeView:
    """The view once the background refresh has replaced ``old`` (or ``old``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = fogs.nodes(fog, timeout=1.0)
        if view is not old:
            return view
        time.sleep(0.01)
    return old


def test_node_view_is_served_while_a_new_one_is_read() -> None:
    """After our own deploy the observation gets the view it had at once (the failover
    waiting on a node re-read was 5 ms of it); the new view follows from the background."""
    inner = CountingFog()
    fog = CachedFog(inner)
    fogs = Fogs(factory=lambda *a, **k: inner)
    first = fogs.nodes(fog, timeout=1.0)
    assert fogs.nodes(fog, timeout=1.0) is first  # fresh: no read at all
    reads = inner.calls["node_status"]
    fog.configure("i")  # our own change on n1: capacity to read again
    assert fogs.nodes(fog, timeout=1.0) is first  # not waited for
    view = _settled(fogs, fog, first, timeout=0.5)
    assert view is first  # read again, found equal: the same object (placements still hold)
    assert inner.calls["node_status"] == reads + 1
    inner.node_status = lambda node_id, *, timeout=None: NodeStatus(  # type: ignore[method-assign]
        node_id, 1024, 100)
    fog.configure("i")
    changed = _settled(fogs, fog, first)
    assert changed is not first and changed.statuses["n1"].ram_free_mb == 100


def test_the_feed_reads_the_node_list_again_only_for_a_node_gone_or_new() -> None:
    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, clock=clock)
    fog.list_nodes()
    fog.node_status("n1")
    version = fog.capacity_version
    # a deploy's own change comes back through the feed: nothing is read again
    fog.observed(FogChange(FogChangeKind.NODE, "n1", 5, node=NodeStatus("n1", 1000, 500)))
    fog.list_nodes()
    fog.node_status("n1")
    assert inner.calls == {"list_nodes": 1, "node_status": 1}
    assert fog.capacity_version == version
    fog.observed(FogChange(FogChangeKind.NODE, "n2", 6, gone=True))
    fog.list_nodes()
    assert inner.calls["list_nodes"] == 2 and fog.capacity_version > version
    inner.nodes = ["n1", "n2", "n3"]
    fog.observed(FogChange(FogChangeKind.NODE, "n3", 7))  # not in the kept list: new
    assert fog.list_nodes() == ["n1", "n2", "n3"]
    assert inner.calls["list_nodes"] == 3


def _changed(iid: str, state: InstanceState) -> FogChange:
    return FogChange(FogChangeKind.INSTANCE, iid, 1,
                     instance=InstanceInfo(iid, "f", "n1", state))


def test_a_followed_feed_keeps_the_read_fresh_and_a_lost_one_brings_polling_back() -> None:
    inner, clock = CountingFog(), Clock()
    inner.states = {"i": InstanceState.RUN, "j": InstanceState.RUN}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    fog.feed_followed(sent=0.0, wait=10.0)
    fog.recent_instance_info("i")  # read at 0, after the feed was joined: covered
    for t in (3.0, 9.0):
        clock.now = t
        fog.feed_followed(sent=t, wait=10.0)
    inner.states["i"] = InstanceState.ERROR  # someone else's change, told by the feed
    fog.observed(_changed("i", InstanceState.ERROR))
    clock.now = 12.0
    assert fog.recent_instance_info("i").state is InstanceState.ERROR
    assert fog.recent_instance_info("j").state is InstanceState.RUN
    assert inner.calls == {"all_instances": 1}
    clock.now = 25.0  # no answer since 9 s, for longer than a long poll: polling again
    fog.recent_instance_info("j")
    assert inner.calls == {"all_instances": 2}
    fog.feed_followed(sent=25.5, wait=10.0)  # it answers again, nothing lost
    clock.now = 26.5
    fog.recent_instance_info("j")
    assert inner.calls == {"all_instances": 2}
    fog.feed_lost()  # a failed read, or an answer not taken in whole
    fog.feed_followed(sent=27.0, wait=10.0)  # back, but the last read came before it
    clock.now = 27.5
    fog.recent_instance_info("j")
    assert inner.calls == {"all_instances": 3}
    for t in (35.0, 43.0, 47.0):
        clock.now = t
        fog.feed_followed(sent=t, wait=10.0)
        fog.recent_instance_info("j")
    assert inner.calls == {"all_instances": 3}


def test_a_feed_naming_endless_instances_keeps_a_bounded_view_and_polling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_OBSERVED`` instances since the last read, the feed's word on more is
    dropped (what was kept stays) and the fog-wide reads come at their ordinary pace."""
    monkeypatch.setattr(cache, "MAX_OBSERVED", 3)
    inner, clock = CountingFog(), Clock()
    inner.states = {"i0": InstanceState.RUN}
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    fog.feed_followed(sent=0.0, wait=10.0)
    fog.recent_instance_info("i0")  # a read, covered by the feed
    for n in range(10_000):
        fog.observed(_changed(f"fake-{n}", InstanceState.ERROR))
    assert len(fog._own) == 3
    fog.observed(_changed("fake-1", InstanceState.RUN))  # one it keeps: still taken
    assert fog.recent_instance_info("fake-1").state is InstanceState.RUN
    fog.feed_followed(sent=0.5, wait=10.0)
    clock.now = 2.0  # past instance_ttl: not covered any more, so read again
    fog.recent_instance_info("i0")
    assert inner.calls == {"all_instances": 2} and fog._own == {}
