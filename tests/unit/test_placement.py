"""Placement: requirements, capacity, anti-affinity, spreading, determinism, messages."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.models import ArchitectureSpec, Entity, Requirements
from controller.arch.errors import PlacementError
from controller.arch.placement import can_place, effective_requirements, plan_placement
from controller.fog.client import NodeInfo, NodeStatus


def node(name: str, arch: str = "x86_64", cores: int = 4, ram: int = 4096, disk: float = 100,
         **labels: str) -> NodeInfo:
    return NodeInfo(uuid=f"u-{name}", name=name, cpu_arch=arch, cores=cores, ram_mb=ram,
                    disk_gb=disk, ip=f"127.0.10.{len(name)}", labels=labels)


def status(n: NodeInfo, free: float | None = None, disk_free: float | None = None) -> NodeStatus:
    return NodeStatus(n.uuid, float(n.ram_mb), float(n.ram_mb if free is None else free),
                      n.disk_gb, n.disk_gb if disk_free is None else disk_free)


def ent(name: str, replicas: int = 1, fdu: dict[str, Any] | None = None, **req: Any) -> Entity:
    return Entity(name=name, fdu=fdu or {"computation_requirements": {"cpu_arch": "x86_64"}},
                  replicas=replicas, requirements=Requirements(**req))


CLOUD = node("cloud", cores=8, ram=8192, tier="cloud")
E1, E2, E3 = (node(f"edge{i}", cores=2, ram=1024, tier="edge") for i in (1, 2, 3))
ARM = node("pi", arch="aarch64", cores=4, ram=2048, tier="edge")
NODES = [CLOUD, E1, E2, E3, ARM]


def names(plan_nodes: dict[tuple[str, int], str]) -> dict[tuple[str, int], str]:
    by_uuid = {n.uuid: n.name for n in NODES}
    return {slot: by_uuid[u] for slot, u in plan_nodes.items()}


CASES: list[tuple[str, list[Entity], dict[str, NodeStatus] | None, dict[tuple[str, int], str]]] = [
    ("label", [ent("a", node_selector={"tier": "cloud"})], None, {("a", 0): "cloud"}),
    ("arch", [ent("a", cpu_arch="aarch64")], None, {("a", 0): "pi"}),
    ("fdu arch", [ent("a", fdu={"computation_requirements": {"cpu_arch": "aarch64"}})], None,
     {("a", 0): "pi"}),
    ("cores", [ent("a", min_cores=5)], None, {("a", 0): "cloud"}),
    ("ram", [ent("a", ram_mb=3000, cpu_arch="x86_64")], None, {("a", 0): "cloud"}),
    ("disk", [ent("a", disk_gb=50)], {E1.uuid: status(E1, disk_free=10),
                                      E2.uuid: status(E2, disk_free=10),
                                      E3.uuid: status(E3, disk_free=60),
                                      CLOUD.uuid: status(CLOUD, disk_free=1)},
     {("a", 0): "edge3"}),
    ("spread least loaded, tie by name",
     [ent("w", replicas=3, node_selector={"tier": "edge"}, cpu_arch="x86_64")], None,
     {("w", 0): "edge1", ("w", 1): "edge2", ("w", 2): "edge3"}),
    ("used capacity from status",
     [ent("a", ram_mb=512, node_selector={"tier": "edge"}, cpu_arch="x86_64")],
     {E1.uuid: status(E1, free=100), E2.uuid: status(E2, free=900),
      E3.uuid: status(E3, free=600)},
     {("a", 0): "edge2"}),
]


@pytest.mark.parametrize(
    ("title", "ents", "statuses", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_table(
    title: str,
    ents: list[Entity],
    statuses: dict[str, NodeStatus] | None,
    expected: dict[tuple[str, int], str],
) -> None:
    plan = plan_placement(ents, NODES, statuses or {})
    assert names(dict(plan.nodes)) == expected, title


def test_earlier_placements_use_capacity() -> None:
    ents = [ent("a", ram_mb=600, node_selector={"tier": "edge"}, cpu_arch="x86_64"),
            ent("b", ram_mb=600, node_selector={"tier": "edge"}, cpu_arch="x86_64")]
    sts = {E1.uuid: status(E1), E2.uuid: status(E2, free=0), E3.uuid: status(E3, free=0)}
    with pytest.raises(PlacementError) as err:
        plan_placement(ents, NODES, sts)
    assert "b: needs 1 node" in str(err.value) or "fit" in str(err.value)
    sts[E3.uuid] = status(E3, free=700)
    assert names(dict(plan_placement(ents, NODES, sts).nodes)) == {
        ("a", 0): "edge1", ("b", 0): "edge3"}


def test_anti_affinity_both_directions() -> None:
    a = ent("a", replicas=2, node_selector={"tier": "edge"}, cpu_arch="x86_64",
            anti_affinity=("a",))
    b = ent("b", cpu_arch="x86_64", node_selector={"tier": "edge"})
    c = ent("c", anti_affinity=("b",), node_selector={"tier": "edge"}, cpu_arch="x86_64")
    plan = names(dict(plan_placement([a, b, c], NODES, {}).nodes))
    assert plan[("a", 0)] != plan[("a", 1)]
    assert plan[("c", 0)] != plan[("b", 0)]
    # b placed first with c's anti-affinity declared only on c: still respected
    plan2 = names(dict(plan_placement([b, c], NODES, {}).nodes))
    assert plan2[("b", 0)] != plan2[("c", 0)]


def test_backtracking_finds_what_greedy_misses() -> None:
    # greedy puts a on edge1 (least loaded by name); b can only go to edge1 (label)
    e1 = node("edge1", cores=2, ram=1024, tier="edge", special="yes")
    e2 = node("edge2", cores=2, ram=1024, tier="edge")
    a = ent("a", node_selector={"tier": "edge"}, cpu_arch="x86_64", anti_affinity=("b",))
    b = ent("b", node_selector={"special": "yes"}, cpu_arch="x86_64")
    plan = plan_placement([a, b], [e1, e2], {})
    assert plan.nodes == {("a", 0): e2.uuid, ("b", 0): e1.uuid}


def test_deterministic_for_same_inputs() -> None:
    ents = [ent("w", replicas=4, cpu_arch="x86_64"), ent("x", replicas=2, cpu_arch="x86_64")]
    first = plan_placement(ents, NODES, {}).nodes
    for _ in range(5):
        assert plan_placement(ents, list(reversed(NODES)), {}).nodes == first


def test_fixed_are_kept_and_count() -> None:
    w = ent("w", replicas=3, node_selector={"tier": "edge"}, cpu_arch="x86_64",
            anti_affinity=("w",))
    plan = plan_placement([w], NODES, {}, fixed={("w", 1): E1.uuid})
    assert plan.nodes[("w", 1)] == E1.uuid
    assert sorted(names(dict(plan.nodes)).values()) == ["edge1", "edge2", "edge3"]


def test_only_restricts_to_phase() -> None:
    a, c = ent("a", cpu_arch="x86_64"), ent("c", anti_affinity=("a",), cpu_arch="x86_64")
    plan = plan_placement([a, c], NODES, {}, fixed={("a", 0): CLOUD.uuid}, only={"c"})
    assert set(plan.nodes) == {("c", 0)} and plan.nodes[("c", 0)] != CLOUD.uuid


def test_no_fit_message_names_entity_condition_and_qualifying_nodes() -> None:
    w = ent("worker", replicas=3, node_selector={"tier": "edge"}, ram_mb=512,
            anti_affinity=("worker",), cpu_arch="x86_64")
    sts = {E1.uuid: status(E1, free=100)}
    with pytest.raises(PlacementError) as err:
        plan_placement([w], NODES, sts)
    msg = str(err.value)
    assert ("worker: needs 3 nodes with cpu x86_64 and label tier=edge and ram ≥ 512 MB free; "
            "2 qualify: edge2, edge3") in msg
    assert err.value.reasons == [msg.removeprefix("placement: no placement: ")]


def test_no_fit_without_spread_reports_room() -> None:
    w = ent("w", replicas=5, ram_mb=600, node_selector={"tier": "edge"}, cpu_arch="x86_64")
    with pytest.raises(PlacementError, match=r"room for 3 of 5 replicas"):
        plan_placement([w], NODES, {})


def test_no_node_at_all() -> None:
    with pytest.raises(PlacementError, match="a: needs 1 node with cpu riscv64; 0 qualify: none"):
        plan_placement([ent("a", cpu_arch="riscv64")], NODES, {})


def test_effective_requirements_take_stricter() -> None:
    e = ent("a", ram_mb=100, fdu={"computation_requirements": {
        "cpu_arch": "x86_64", "ram_size_mb": 256, "cpu_min_count": 2, "storage_size_gb": 3}})
    req = effective_requirements(e)
    assert (req.cpu_arch, req.ram_mb, req.min_cores, req.disk_gb) == ("x86_64", 256, 2, 3.0)


def test_can_place() -> None:
    ok = can_place(ArchitectureSpec(entities=(ent("a", cpu_arch="x86_64"),)), NODES, {})
    assert ok.ok and ok.placement is not None
    bad = can_place(ArchitectureSpec(entities=(ent("a", min_cores=64),)), NODES, {})
    assert not bad.ok and bad.reasons[0] == (
        "a: needs 1 node with cpu x86_64 and ≥ 64 cores; 0 qualify: none")
    assert can_place(ArchitectureSpec(plugin="x"), NODES, {}).ok
