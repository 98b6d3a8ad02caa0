"""Pure placement: which node runs each entity replica.

Inputs are plain values (node info, node status, already placed replicas), the output
is a mapping ``(entity, replica) → node uuid``; the same inputs always give the same
mapping. Replicas go to the least loaded qualifying node first (fewest replicas of this
architecture, then lowest RAM use, then name), which spreads them. A greedy pass
usually succeeds; a bounded backtracking search finds the mappings greedy misses. When
nothing fits, the error says per entity which condition ruled out which nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from controller.api.cpuarch import normalize_arch
from controller.api.models import ArchitectureSpec, Entity, Requirements
from controller.arch.errors import PlacementError
from controller.fog.client import NodeInfo, NodeStatus

Slot = tuple[str, int]
"""(entity name, replica index)"""

SEARCH_BUDGET = 20_000


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def effective_requirements(entity: Entity) -> Requirements:
    """The entity's requirements merged with its FDU's ``computation_requirements``.

    The stricter of the two wins, so placement, the onboarded descriptor and the fog's
    own capacity accounting all agree on what one replica needs. The architecture is
    kept as the user spelled it (fog05 compares it with its node's own spelling);
    placement compares it normalized.
    """
    req = entity.requirements
    comp = entity.fdu.get("computation_requirements") or {}
    arch = req.cpu_arch or (str(comp["cpu_arch"]) if comp.get("cpu_arch") else None)
    return Requirements(
        cpu_arch=arch,
        min_cores=max(req.min_cores, int(_num(comp.get("cpu_min_count")))),
        ram_mb=max(req.ram_mb, int(_num(comp.get("ram_size_mb")))),
        disk_gb=max(req.disk_gb, _num(comp.get("storage_size_gb"))),
        node_selector=dict(req.node_selector),
        anti_affinity=tuple(req.anti_affinity),
    )


@dataclass(frozen=True)
class Placement:
    """The result: every slot's node uuid."""

    nodes: Mapping[Slot, str]

    def for_entity(self, entity: str) -> list[str]:
        """Node uuids of an entity's replicas, in replica order."""
        return [n for (e, _r), n in sorted(self.nodes.items()) if e == entity]


@dataclass
class _NodeLoad:
    info: NodeInfo
    ram_free: float
    disk_free: float
    ram_total: float
    replicas: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.replicas.values())

    def sort_key(self) -> tuple[int, float, str, str]:
        used = 1.0 - (self.ram_free / self.ram_total) if self.ram_total > 0 else 0.0
        return (self.count, round(used, 6), self.info.name, self.info.uuid)


def _static_ok(req: Requirements, info: NodeInfo) -> bool:
    if req.cpu_arch and normalize_arch(info.cpu_arch) != normalize_arch(req.cpu_arch):
        return False
    if req.min_cores and info.cores < req.min_cores:
        return False
    labels = info.labels
    for key, value in req.node_selector.items():  # noqa: SIM110  # a generator costs more
        if labels.get(key) != value:
            return False
    return True


def _hosts_any(reqs: Collection[Requirements]) -> Callable[[NodeInfo], bool]:
    """``info -> any(_static_ok(r, info) for r in reqs)``, each distinct requirement once
    and, for the usual one, without a generator per node: it runs over every node of the
    fog on each deploy and placement check."""
    unique = list({(normalize_arch(r.cpu_arch or ""), r.min_cores,
                    tuple(sorted(r.node_selector.items()))): r for r in reqs}.values())
    if len(unique) == 1:
        return partial(_static_ok, unique[0])
    return lambda info: any(_static_ok(req, info) for req in unique)


def could_host(entities: Sequence[Entity]) -> Callable[[NodeInfo], bool]:
    """Whether a node could run any of ``entities`` by its arch, cores and labels alone --
    the nodes placement considers at all (the others' capacity never matters to it)."""
    return _hosts_any([effective_requirements(e) for e in entities])


def _conflicts(a: str, b: str, reqs: Mapping[str, Requirements]) -> bool:
    ra, rb = reqs.get(a), reqs.get(b)
    return bool((ra and b in ra.anti_affinity) or (rb and a in rb.anti_affinity))


class _Planner:
    def __init__(
        self,
        entities: Sequence[Entity],
        nodes: Sequence[NodeInfo],
        statuses: Mapping[str, NodeStatus],
        fixed: Mapping[Slot, str],
    ) -> None:
        self.reqs = {e.name: effective_requirements(e) for e in entities}
        self.loads: dict[str, _NodeLoad] = {}
        # A node no entity's arch, cores or labels allow is never a candidate: leave it out
        # (a selector naming one node of 120 made planning read all 120).
        allowed = filter(_hosts_any(self.reqs.values()), nodes)
        for info in sorted(allowed, key=lambda n: (n.name, n.uuid)):
            st = statuses.get(info.uuid)
            self.loads[info.uuid] = _NodeLoad(
                info=info,
                ram_free=st.ram_free_mb if st else float(info.ram_mb),
                disk_free=st.disk_free_gb if st and st.disk_total_gb else info.disk_gb,
                ram_total=st.ram_total_mb if st and st.ram_total_mb else float(info.ram_mb),
            )
        for (ent, _r), node in fixed.items():
            if node in self.loads:
                reps = self.loads[node].replicas
                reps[ent] = reps.get(ent, 0) + 1
        self.steps = 0

    def fits(self, entity: str, load: _NodeLoad) -> bool:
        req = self.reqs[entity]
        if not _static_ok(req, load.info):
            return False
        if load.ram_free < req.ram_mb or load.disk_free < req.disk_gb:
            return False
        return not load.replicas or not any(
            n and _conflicts(entity, other, self.reqs) for other, n in load.replicas.items()
        )

    def candidates(self, entity: str) -> list[_NodeLoad]:
        ok = [ld for ld in self.loads.values() if self.fits(entity, ld)]
        return sorted(ok, key=_NodeLoad.sort_key)

    def take(self, entity: str, load: _NodeLoad, sign: int) -> None:
        req = self.reqs[entity]
        load.ram_free -= sign * req.ram_mb
        load.disk_free -= sign * req.disk_gb
        load.replicas[entity] = load.replicas.get(entity, 0) + sign

    def search(self, slots: list[Slot], i: int, out: dict[Slot, str]) -> bool:
        if i == len(slots):
            return True
        self.steps += 1
        if self.steps > SEARCH_BUDGET:
            return False
        entity = slots[i][0]
        for load in self.candidates(entity):
            self.take(entity, load, +1)
            out[slots[i]] = load.info.uuid
            if self.search(slots, i + 1, out):
                return True
            del out[slots[i]]
            self.take(entity, load, -1)
        return False


def _describe(req: Requirements, entity: str) -> str:
    parts: list[str] = []
    if req.cpu_arch:
        parts.append(f"cpu {req.cpu_arch}")
    if req.min_cores:
        parts.append(f"≥ {req.min_cores} cores")
    parts += [f"label {k}={v}" for k, v in sorted(req.node_selector.items())]
    if req.ram_mb:
        parts.append(f"ram ≥ {req.ram_mb} MB free")
    if req.disk_gb:
        parts.append(f"disk ≥ {req.disk_gb:g} GB free")
    others = [a for a in req.anti_affinity if a != entity]
    if others:
        parts.append("no " + "/".join(others) + " replica")
    return " and ".join(parts) if parts else "no constraint"


def _diagnose(planner: _Planner, slots: list[Slot]) -> list[str]:
    """One line per entity that cannot fit, or a line about the combination."""
    wanted: dict[str, int] = {}
    for ent, _r in slots:
        wanted[ent] = wanted.get(ent, 0) + 1
    reasons: list[str] = []
    for ent, count in wanted.items():
        req = planner.reqs[ent]
        qualify = [ld.info.name for ld in planner.candidates(ent)]
        spread = ent in req.anti_affinity
        needed = count if spread else 1
        per_node = ""
        if not spread and qualify and req.ram_mb:
            room = sum(int(ld.ram_free // req.ram_mb) for ld in planner.candidates(ent))
            if room < count:
                per_node = f" (room for {room} of {count} replicas)"
                needed = count
        if len(qualify) < needed or per_node:
            noun = "node" if needed == 1 else "nodes"
            listing = ", ".join(qualify) if qualify else "none"
            reasons.append(
                f"{ent}: needs {needed} {noun} with {_describe(req, ent)}; "
                f"{len(qualify)} qualify: {listing}{per_node}"
            )
    if not reasons:
        names = ", ".join(wanted)
        reasons.append(
            f"{names}: each fits alone but not all together "
            "(capacity or anti-affinity between them)"
        )
    return reasons


def plan_placement(
    entities: Sequence[Entity],
    nodes: Sequence[NodeInfo],
    statuses: Mapping[str, NodeStatus],
    *,
    fixed: Mapping[Slot, str] | None = None,
    only: Collection[str] | None = None,
) -> Placement:
    """Place every replica of ``entities`` (restricted to names in ``only``).

    ``fixed`` are replicas that already run somewhere: they are kept, count for
    anti-affinity and spreading, and their resources are assumed to be already
    reflected in ``statuses`` (the fog reserves them once configured).
    ``entities`` must contain every entity of the architecture so anti-affinity with
    already placed ones is honoured in both directions.
    """
    fixed = dict(fixed or {})
    planner = _Planner(entities, nodes, statuses, fixed)
    slots = [
        (e.name, r)
        for e in entities
        if only is None or e.name in only
        for r in range(e.replicas)
        if (e.name, r) not in fixed
    ]
    out: dict[Slot, str] = {}
    if not planner.search(slots, 0, out):
        fresh = _Planner(entities, nodes, statuses, fixed)
        raise PlacementError(_diagnose(fresh, slots))
    kept = {s: n for s, n in fixed.items() if only is None or s[0] in only}
    return Placement({**kept, **out})


@dataclass(frozen=True)
class PlacementCheck:
    """Answer of :func:`can_place`: ``ok`` plus the per-entity reasons when not."""

    ok: bool
    reasons: tuple[str, ...] = ()
    placement: Placement | None = None


def can_place(
    spec: ArchitectureSpec,
    nodes: Sequence[NodeInfo],
    statuses: Mapping[str, NodeStatus],
) -> PlacementCheck:
    """Could this architecture be placed on these nodes now? (The reconciler's main-ready.)

    A plugin architecture with no declared entities cannot be judged here: ``ok``.
    """
    if not spec.entities:
        return PlacementCheck(ok=True)
    try:
        placement = plan_placement(list(spec.entities), nodes, statuses)
    except PlacementError as exc:
        return PlacementCheck(ok=False, reasons=tuple(exc.reasons))
    return PlacementCheck(ok=True, placement=placement)
