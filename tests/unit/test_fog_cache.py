"""CachedFog: node info kept, capacity briefly kept and forgotten on our own changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.fog.cache import CachedFog
from controller.fog.client import FogClient, InstanceInfo, InstanceState, NodeInfo, NodeStatus


class CountingFog(FogClient):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.nodes = ["n1", "n2"]

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
        return InstanceInfo(iid, "f", "n1", InstanceState.CONFIGURE)

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        return "f"

    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None: ...

    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]:
        return {}

    def list_fdus(self, *, timeout: float | None = None) -> list[str]:
        return []

    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None) -> InstanceInfo:
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

    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None: ...

    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._inst(instance_id)

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
