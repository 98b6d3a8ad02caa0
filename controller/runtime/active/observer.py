"""The observer: what of one ActiveStrategy's architectures is on the fog, and where they fit.

It keeps the engine objects (handles) of a strategy between reconciles, reads the fog only
for architectures that may have something there, and answers the placement questions the
decision asks (could this architecture be placed alone, or alongside what runs?).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.api.limits import one_line
from controller.arch import (
    ArchitectureError,
    ArchitectureRecord,
    ArchitectureSnapshot,
    LifecycleState,
)
from controller.arch.placement import effective_requirements
from controller.fog.cache import CachedFog
from controller.fog.client import FogError, FogTimeout, FogUnavailable, NodeStatus
from controller.reconcile.decision import Observed
from controller.reconcile.status import StrategyStatus
from controller.runtime.fogs import Fogs, NodeView
from controller.runtime.handles import Handle, build, restore
from controller.runtime.resolve import StrategyInputs

Usage = Mapping[str, tuple[float, float]]
"""Per node: the RAM (MB) and disk (GB) an architecture's placed replicas hold."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one look at the fog found."""

    observed: dict[str, Observed]
    reachable: bool = True
    """False: the fog did not answer (``message`` says why) and ``observed`` is empty."""
    message: str = ""

    @property
    def has_errors(self) -> bool:
        return any(o.error for o in self.observed.values())


@dataclass(frozen=True, slots=True)
class Fit:
    """One placement check's answer."""

    ok: bool
    reasons: str = ""


_FITS = Fit(True)


@dataclass(frozen=True, slots=True)
class _Planned:
    """An architecture's last placement checks and what they were planned on."""

    nodes: NodeView
    handle: Handle
    held: tuple[Any, ...]
    alone: Fit
    alongside: Fit


@dataclass
class FogView:
    """Per ActiveStrategy: its engine objects and what is known of the fog without asking."""

    handles: dict[str, Handle] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    """Architectures the last observation knew to have nothing on the fog without asking
    it (``worth_observing``): their deploy has nothing to adopt."""
    undeployed: set[str] = field(default_factory=set)
    """Architectures this process has undeployed (and not deployed since): known to be
    gone from the fog without asking it."""
    planned: dict[str, _Planned] = field(default_factory=dict)

    def acting(self, name: str, *, undeploying: bool) -> bool:
        """A fog-changing action on ``name`` starts: whether nothing of it was there."""
        nothing_there = name in self.absent
        self.absent.discard(name)
        if not undeploying:
            self.undeployed.discard(name)
        return nothing_there


class Observer:
    def __init__(self, fogs: Fogs) -> None:
        self._fogs = fogs

    def fog(self, inputs: StrategyInputs) -> CachedFog:
        return self._fogs.client(inputs.environment)

    def handle(self, inputs: StrategyInputs, name: str, status: StrategyStatus,
               view: FogView, fresh: bool = False) -> Handle:
        """The engine object of ``name``: kept while its blueprint holds, else built and
        given what the old one (or, after a restart, the status) knows runs."""
        bp = inputs.blueprints[name]
        old = view.handles.get(name)
        if old is not None and not fresh and old.blueprint == bp:
            return old
        handle = build(bp, self.fog(inputs))
        if old is not None:
            handle.arch.record = old.arch.record
            if not fresh:
                restore(handle, old.state.value, old.arch.record.to_dict())
        else:
            recorded = status.architectures.get(name)
            if recorded is not None:
                restore(handle, recorded.state or "", recorded.instances)
        view.handles[name] = handle
        return handle

    def observe(self, inputs: StrategyInputs, status: StrategyStatus, view: FogView,
                told: Mapping[str, str]) -> Observation:
        """``told``: the errors of the last batch's actions, for this decision only."""
        errors = dict(told)
        observed: dict[str, Observed] = {}
        handles: dict[str, Handle] = {}
        for name in inputs.blueprints:
            try:
                handles[name] = self.handle(inputs, name, status, view)
            except ArchitectureError as exc:  # bad config or plugin: that candidate can't run
                errors[name] = one_line(exc)
                observed[name] = Observed(error=errors[name], placement_message=errors[name])
        snapshots = self._snapshots(inputs, status, view, handles, errors)
        if isinstance(snapshots, str):
            return Observation({}, False, snapshots)
        usage = {n: _usage(h) for n, h in handles.items() if h.running}
        nodes = _Nodes(self._fogs, self.fog(inputs), inputs.environment.timeout)
        try:
            for name, handle in handles.items():
                observed[name] = _observed(name, handle, snapshots.get(name), nodes, usage,
                                           view, errors.get(name))
        except (FogError, ArchitectureError) as exc:
            return Observation({}, False, one_line(exc))
        return Observation(observed)

    @staticmethod
    def _snapshots(inputs: StrategyInputs, status: StrategyStatus, view: FogView,
                   handles: Mapping[str, Handle], errors: dict[str, str]
                   ) -> dict[str, ArchitectureSnapshot | None] | str:
        """What the fog holds of each architecture worth asking about (None: not asked, or
        it failed, with ``errors`` saying why); a string: the fog did not answer."""
        snapshots: dict[str, ArchitectureSnapshot | None] = {}
        view.absent.clear()
        for name, handle in handles.items():
            bp = inputs.blueprints[name]
            if not bp.known or name in view.undeployed or not worth_observing(
                    name, handle, status, inputs.deletion):
                snapshots[name] = None
                if bp.known and not handle.running:
                    view.absent.add(name)
                continue
            try:
                snapshots[name] = handle.arch.observe()
            except (ArchitectureError, FogError) as exc:
                if isinstance(exc, FogUnavailable | FogTimeout) or isinstance(
                        exc.__cause__, FogUnavailable | FogTimeout):
                    return one_line(exc)
                errors[name] = one_line(exc)
                snapshots[name] = None
        return snapshots


class _Nodes:
    """The fog's nodes, read only when something must be placed: an architecture running
    whole needs no placement, so a steady strategy reads no node."""

    def __init__(self, fogs: Fogs, fog: CachedFog, timeout: float) -> None:
        self._read: Callable[[], NodeView] = lambda: fogs.nodes(fog, timeout=timeout)
        self._view: NodeView | None = None

    def view(self) -> NodeView:
        if self._view is None:
            self._view = self._read()
        return self._view


def worth_observing(name: str, handle: Handle, status: StrategyStatus, deletion: bool
                    ) -> bool:
    """Read the fog only for architectures that may have something there: running ones,
    those status says are deployed, and both ends of a transition (its target may have
    been half-deployed when a previous controller died). Status is written before every
    action, so nothing of this strategy exists on the fog that none of these cover, and
    an idle replacement costs no fog call per probe cycle."""
    if deletion or handle.running:
        return True
    recorded = status.architectures.get(name)
    if recorded is not None and recorded.state in ("deployed", "served"):
        return True
    t = status.transition
    return t is not None and name in (t.from_, t.to)


def _observed(name: str, handle: Handle, snap: ArchitectureSnapshot | None, nodes: _Nodes,
              usage: Mapping[str, Usage], view: FogView, error: str | None) -> Observed:
    record = handle.arch.record
    if snap is None:
        exists = complete = handle.running
        vanished, served = False, handle.state is LifecycleState.SERVED
        instance_error = ""
    else:
        exists = snap.exists
        complete = snap.complete_phase("deploy") if snap.phase("deploy") else exists
        if complete and not _record_knows(record, snap):
            # Running, but not as far as our record knows (a deploy interrupted by a
            # crash after its instances started): incomplete, so the decision deploys
            # again, which adopts them and fills the record probes and undeploy use.
            complete = False
        vanished = bool(snap.vanished or snap.missing_nodes)
        instance_error = snap.error_summary()
        if snap.phase("serve"):
            served = snap.complete_phase("serve")
        else:
            served = handle.state is LifecycleState.SERVED and complete
    if complete and not vanished and handle.running:
        # It runs, whole, where it was placed: it fits by definition, and planning it
        # again on every probe cycle would cost more than the rest of the cycle.
        alone = alongside = _FITS
    else:
        alone, alongside = _placements(name, handle, nodes.view(), usage, view)
    placement = {entity: tuple(n for n in placed if n)
                 for entity, placed in record.placement().items()}
    return Observed(
        exists=exists, complete=complete, served=served, vanished=vanished,
        instance_error=instance_error, placeable=alone.ok, placeable_alongside=alongside.ok,
        placement_message=alone.reasons, error=error,
        placement=placement, instances=record.to_dict() if exists else {},
    )


def _placements(name: str, handle: Handle, nodes: NodeView, usage: Mapping[str, Usage],
                view: FogView) -> tuple[Fit, Fit]:
    """Whether ``name`` can be placed alone (with what the strategy's other architectures
    hold released) and alongside them; planned again only when the nodes, the
    architecture or what the others hold changed (a main waiting on a replacement is
    checked every probe cycle). An architecture's ``placement_check`` is taken to depend
    on its spec and the nodes alone, as the declarative engine's does."""
    held = tuple(sorted((n, tuple(sorted(u.items()))) for n, u in usage.items()))
    last = view.planned.get(name)
    if last is not None and last.nodes is nodes and last.handle is handle and last.held == held:
        return last.alone, last.alongside
    alone = _placement(handle, nodes, _free(nodes.statuses, usage.values()))
    alongside = alone if not alone.ok else _placement(
        handle, nodes, _free(nodes.statuses, [usage[name]] if name in usage else []))
    view.planned[name] = _Planned(nodes, handle, held, alone, alongside)
    return alone, alongside


def _record_knows(record: ArchitectureRecord, snap: ArchitectureSnapshot) -> bool:
    """Every deploy-phase replica's running instance is the one ``record`` holds."""
    for rep in snap.phase("deploy"):
        inst, rec = rep.instance, record.get(rep.entity, rep.replica)
        if inst is None or rec is None or rec.instance_id != inst.instance_id:
            return False
    return True


def _usage(handle: Handle) -> dict[str, tuple[float, float]]:
    """RAM (MB) and disk (GB) an architecture's placed replicas hold, per node."""
    reqs = {e.name: effective_requirements(e) for e in handle.blueprint.spec.entities}
    out: dict[str, tuple[float, float]] = {}
    for entity, nodes in handle.arch.record.placement().items():
        req = reqs.get(entity)
        if req is None:
            continue
        for node in nodes:
            if node:
                ram, disk = out.get(node, (0.0, 0.0))
                out[node] = (ram + req.ram_mb, disk + req.disk_gb)
    return out


def _free(statuses: Mapping[str, NodeStatus], usages: Iterable[Usage]) -> dict[str, NodeStatus]:
    """Node statuses as if the given usages were released."""
    out = dict(statuses)
    for usage in usages:
        for node, (ram, disk) in usage.items():
            st = out.get(node)
            if st is not None:
                out[node] = replace(st, ram_free_mb=min(st.ram_total_mb, st.ram_free_mb + ram),
                                    disk_free_gb=min(st.disk_total_gb or float("inf"),
                                                     st.disk_free_gb + disk))
    return out


def _placement(handle: Handle, view: NodeView, statuses: dict[str, NodeStatus]) -> Fit:
    result = handle.arch.placement_check(list(view.nodes), statuses)
    return Fit(bool(result.ok), "; ".join(result.reasons))
