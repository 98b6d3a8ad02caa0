"""Declarative architectures: the generic implementation of the ``Architecture`` interface.

Every entity replica is one FDU with a deterministic id (:mod:`ids`). A phase
(deploy or serve) runs as: check every template binding → read nodes and what already
exists → keep usable instances, remove duplicates → place the rest → start entities
wave by wave in dependency order, each wave only after the previous one is RUN and
passes its readiness probes. Existing RUN instances are adopted, unless something they
depend on was (re)started in this run: their env would be stale, so they restart too.
The record is updated as each step lands, so an interrupted run leaves behind exactly
what the next deploy adopts or the next undeploy removes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from controller.api.models import ArchitectureDataSpec, Entity, Network, ProbeSpec
from controller.arch.base import Architecture
from controller.arch.checks import fog_reason
from controller.arch.context import Inputs, build_context, check_bindings
from controller.arch.descriptor import build_descriptor
from controller.arch.errors import ArchitectureError, PlacementError, SpecError
from controller.arch.fogops import FogOps, read_nodes
from controller.arch.health import run_probes, with_state_probes
from controller.arch.ids import owns, replica_fdu
from controller.arch.networks import (
    NetworkPlan,
    attach_replica,
    ensure_networks,
    network_ids,
    plan_networks,
    remove_networks,
)
from controller.arch.observe import ArchitectureSnapshot, observe
from controller.arch.ordering import dependencies, waves
from controller.arch.placement import PlacementCheck, Slot, could_host, plan_placement
from controller.arch.probes import HealthReport, Outcome, aggregate
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.arch.templating import render
from controller.fog.client import InstanceInfo, InstanceState, NodeInfo, NodeStatus, NotFound
from controller.fog.retry import Deadline

_log = logging.getLogger("fogstrat.arch")

class DeclarativeArchitecture(Architecture):
    """Entities and probes from the Architecture document (or from a plugin's overrides)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._onboarded: dict[str, dict[str, Any]] = {}
        """Descriptors ``prepare`` onboarded, by FDU id: the deploy skips an equal one."""

    # --- what to run (plugins may override these two) --------------------------------

    def entities(self) -> list[Entity]:
        """The entities to run; called after configure, so it may depend on ``params``."""
        return list(self.spec.entities)

    def probes(self) -> list[ProbeSpec]:
        return list(self.spec.health.probes)

    def networks(self) -> list[Network]:
        """The fog05 virtual networks the entities' connection points attach to."""
        return list(self.spec.networks)

    def _network_ids(self) -> dict[str, str]:
        return network_ids(self.key, self.networks())

    def _network_plan(self, ents: list[Entity]) -> NetworkPlan:
        """Every network and connection point of the architecture, counting the
        replicas the record knows beyond the spec's."""
        counts = {e.name: max(e.replicas, max(self.record.entities.get(e.name, {}),
                                              default=-1) + 1) for e in ents}
        return plan_networks(self.key, self.networks(), ents, counts)

    # --- helpers ----------------------------------------------------------------------

    def _inputs(self) -> Inputs:
        return Inputs(params=self.params, environment=self.environment, data=self.data,
                      association=self.association_args)

    def _ops(self, timeout: float) -> FogOps:
        return FogOps(
            self.require_fog(),
            call_timeout=self.call_timeout(),
            deadline=Deadline(timeout),
            poll_interval=self.options.poll_interval,
        )

    def _probe_timeout(self) -> float:
        return self.options.probe_timeout or self.spec.health.timeout

    def _phase_of(self) -> dict[str, str]:
        return {e.name: e.phase for e in self.entities()}

    # --- deploy / serve -----------------------------------------------------------------

    _knows_all = False
    """This object deployed what its record holds, so the record names every FDU of the
    architecture; one restored from status after a restart may lack an FDU a crashed deploy
    created, and only then does undeploy scan the catalog for orphans: that reads every
    FDU on the fog, thousands at scale, while a failover waits."""

    def do_deploy(self, data: ArchitectureDataSpec | None) -> None:
        self._run_phase("deploy")
        self._knows_all = True

    def do_deploy_onto_nothing(self, data: ArchitectureDataSpec | None) -> None:
        self._run_phase("deploy", nothing_there=True)
        self._knows_all = True

    def do_prepare(self, data: ArchitectureDataSpec | None) -> None:
        """Onboard the deploy-phase descriptors no placement fact goes into (most: an FDU
        template seldom names another entity's address), so the deploy finds them done."""
        ops = self._ops(self.options.deploy_timeout)
        context = build_context(ArchitectureRecord(), replace(self._inputs(), data=data))
        for ent in self.entities():
            if ent.phase != "deploy":
                continue
            for idx in range(ent.replicas):
                ref = replica_fdu(self.key, ent.name, ent.fdu, idx)
                try:
                    descriptor = build_descriptor(ent, ref.id, context, self._network_ids())
                except ArchitectureError:  # needs placement facts: the deploy renders it
                    break
                ops.call(ent.name, "onboard", ops.fog.onboard, descriptor)
                self._onboarded[ref.id] = descriptor

    def do_unprepare(self) -> None:
        """Offload the descriptors ``prepare`` onboarded that no deploy took up."""
        ops = self._ops(self.options.undeploy_timeout)
        for did, descriptor in list(self._onboarded.items()):
            with contextlib.suppress(NotFound):
                ops.call(None, "offload", ops.fog.offload, descriptor["uuid"])
            del self._onboarded[did]

    def do_serve(self, data: ArchitectureDataSpec | None) -> None:
        self._run_phase("serve")

    def _run_phase(self, phase: str, *, nothing_there: bool = False) -> None:
        ents = self.entities()
        by_name = {e.name: e for e in ents}
        order = waves(ents)
        mine = [e for e in ents if e.phase == phase]
        check_bindings(mine, self._inputs())
        if not mine:
            return
        ops = self._ops(self.options.deploy_timeout)
        node_list, statuses = read_nodes(
            ops.fog,
            timeout=max(ops.deadline.remaining(), 0.1),
            call_timeout=ops.timeout(None, "list_nodes"),
            wanted=could_host(ents),
        )
        nodes = {n.uuid: n for n in node_list}
        keep = self._keep_existing(ops, ents, phase, nodes, nothing_there=nothing_there)
        fixed: dict[Slot, str] = {slot: inst.node_id for slot, inst in keep.items()}
        phase_of = self._phase_of()
        for ent_name, reps in self.record.entities.items():
            if phase_of.get(ent_name, phase) != phase:
                for idx, rec in reps.items():
                    if rec.node_id in nodes:
                        fixed[(ent_name, idx)] = rec.node_id
        plan = plan_placement(
            ents, node_list, statuses, fixed=fixed, only={e.name for e in mine}
        )
        for (ent_name, idx), node_id in sorted(plan.nodes.items()):
            node = nodes[node_id]
            ref = replica_fdu(self.key, ent_name, by_name[ent_name].fdu, idx)
            inst = keep.get((ent_name, idx))
            self.record.put(
                ent_name,
                idx,
                ReplicaRecord(
                    fdu_id=ref.id,
                    fdu_uuid=ref.uuid,
                    node_id=node.uuid,
                    node_name=node.name,
                    node_ip=node.ip,
                    instance_id=inst.instance_id if inst else None,
                    state=inst.state.value if inst else None,
                ),
            )
        ensure_networks(ops, self._network_plan(ents))
        fresh: set[str] = set()
        for wave in order:
            current = [by_name[n] for n in wave if by_name[n].phase == phase]
            for ent in current:
                restart = any(dep in fresh for dep in dependencies(ent))
                for idx in range(ent.replicas):
                    if self._start_replica(ops, ent, idx, keep.get((ent.name, idx)), restart):
                        fresh.add(ent.name)
            self._wait_ready(ops, current)

    def _keep_existing(
        self, ops: FogOps, ents: Sequence[Entity], phase: str, nodes: dict[str, NodeInfo],
        *, nothing_there: bool
    ) -> dict[Slot, InstanceInfo]:
        """The instance worth keeping per replica; duplicates and broken ones are removed."""
        if nothing_there and not self.record.entities:
            return {}  # a replacement's first deploy in a failover: one fog read fewer
        snap = observe(ops, self.key, ents, phases=(phase,))
        keep: dict[Slot, InstanceInfo] = {}
        for rep in snap.replicas:
            for extra in rep.extras:
                ops.teardown(rep.entity, extra.instance_id)
            inst = rep.instance
            if inst is None:
                continue
            if inst.node_id in nodes:
                keep[(rep.entity, rep.replica)] = inst
            else:
                ops.teardown(rep.entity, inst.instance_id)
        # replicas beyond the current count (the spec shrank) go away
        for ent in ents:
            if ent.phase != phase:
                continue
            for idx in sorted(self.record.entities.get(ent.name, {})):
                if idx >= ent.replicas:
                    self._remove_fdu(ops, ent.name, self.record.entities[ent.name][idx].fdu_uuid)
                    self.record.drop(ent.name, idx)
        return keep

    def _start_replica(
        self, ops: FogOps, ent: Entity, idx: int, inst: InstanceInfo | None, restart: bool
    ) -> bool:
        """Bring one replica to RUN; False when an existing RUN instance was adopted."""
        rec = self.record.get(ent.name, idx)
        assert rec is not None and rec.node_id is not None
        if inst is not None and inst.state is InstanceState.RUN and not restart:
            self.record.update(ent.name, idx, instance_id=inst.instance_id, state="RUN")
            self._note_instance(ent.name, idx, inst)
            return False
        if inst is not None and inst.state is InstanceState.RUN:
            ops.teardown(ent.name, inst.instance_id)
            inst = None
            self.record.update(ent.name, idx, instance_id=None, state=None)
        ctx = build_context(self.record, self._inputs())
        descriptor = build_descriptor(ent, rec.fdu_id, ctx, self._network_ids())
        if self._onboarded.pop(rec.fdu_id, None) != descriptor:
            ops.call(ent.name, "onboard", ops.fog.onboard, descriptor)
        if inst is None:
            try:
                # _keep_existing has just read this FDU's instances and left none: the
                # driver need not read them again to recognise ours.
                inst = ops.call(ent.name, "define", partial(ops.fog.define, existing=()),
                                rec.fdu_uuid, rec.node_id)
            except NotFound as exc:
                raise ArchitectureError(str(exc), entity=ent.name, operation="define") from exc
            self.record.update(ent.name, idx, instance_id=inst.instance_id, state=inst.state.value)
        if attach_replica(ops, ent.name, descriptor):
            # its address on the network, for its own env and the entities after it
            inst = ops.info(ent.name, inst.instance_id) or inst
            self._note_instance(ent.name, idx, inst)
            ctx = build_context(self.record, self._inputs())
        env = {
            key: render(ent.env[key], ctx, entity=ent.name, where=f"env {key}")
            for key in sorted(ent.env)
        }
        inst = ops.run(ent.name, inst, env)
        self.record.update(ent.name, idx, instance_id=inst.instance_id, state=inst.state.value)
        self._note_instance(ent.name, idx, inst)
        return True

    def _note_instance(self, entity: str, idx: int, info: InstanceInfo) -> None:
        """Keep what the fog says of a replica beyond its state: its own address (what
        ``{{ entities.X.ip }}`` renders for the entities that start after it), and that
        it is only simulated, which must not pass for a running service unnoticed."""
        rec = self.record.get(entity, idx)
        if rec is None:
            return
        if info.address and rec.address != info.address:
            rec = self.record.update(entity, idx, address=info.address)
        if info.simulated and not rec.simulated:
            self.record.update(entity, idx, simulated=True)
            _log.warning("%s: entity %s replica %d (instance %s) is only simulated by the "
                         "fog: no process runs for it", self.key, entity, idx,
                         info.instance_id)

    def _wait_ready(self, ops: FogOps, ents: Sequence[Entity]) -> None:
        """Poll until every replica is RUN and the entities' readiness probes pass.

        QoS probes are not readiness: quality may need time to build up, and acting on
        it is the reconciler's failover decision, not a deploy error.
        """
        if not ents:
            return
        names = {e.name for e in ents}
        probes = [p for p in self.probes() if p.entity in names and p.kind != "qos"]
        last = "not checked"
        while True:
            for ent in ents:
                for idx, rec in sorted(self.record.entities.get(ent.name, {}).items()):
                    info = ops.info(ent.name, rec.instance_id or "")
                    if info is None:
                        raise ArchitectureError(
                            f"instance {rec.instance_id} vanished", entity=ent.name,
                            operation="readiness",
                        )
                    if info.state is InstanceState.ERROR:
                        why = "instance in ERROR" if self.fog is None else fog_reason(
                            self.fog, info, self._probe_timeout(),
                            f"{ent.name} on {rec.node_name or rec.node_id}")
                        raise ArchitectureError(why, entity=ent.name, operation="readiness")
                    self._note_instance(ent.name, idx, info)
            timeout = min(self._probe_timeout(), max(ops.deadline.remaining(), 0.1))
            results = run_probes(probes, self.record, self.fog, timeout=timeout)
            bad = [r for r in results if r.outcome is not Outcome.SUCCESS]
            if not bad:
                return
            last = "; ".join(f"{r.name}: {r.message}" for r in bad)
            if ops.deadline.remaining() <= self.options.poll_interval:
                raise ArchitectureError(
                    f"not ready within {ops.deadline.timeout:g}s: {last}",
                    entity=",".join(sorted({r.entity or "" for r in bad})),
                    operation="readiness",
                )
            time.sleep(self.options.poll_interval)

    # --- undeploy -----------------------------------------------------------------------

    def _remove_fdu(self, ops: FogOps, label: str, uid: str) -> None:
        try:
            by_node = ops.call(label, "instances", ops.fog.instances, uid)
        except NotFound:
            return
        for iids in by_node.values():
            for iid in iids:
                ops.teardown(label, iid)
        with contextlib.suppress(NotFound):
            ops.call(label, "offload", ops.fog.offload, uid)

    def do_unserve(self) -> None:
        """Remove the serve-phase entities' instances and FDUs; the rest keeps running."""
        ops = self._ops(self.options.undeploy_timeout)
        for ent in self.entities():
            if ent.phase != "serve":
                continue
            recorded = self.record.entities.get(ent.name, {})
            uids = {replica_fdu(self.key, ent.name, ent.fdu, idx).uuid: idx
                    for idx in range(ent.replicas)}
            uids.update({rec.fdu_uuid: idx for idx, rec in recorded.items()})
            for uid, idx in uids.items():
                self._remove_fdu(ops, ent.name, uid)
                self.record.drop(ent.name, idx)
        serving = [e for e in self.entities() if e.phase == "serve"]
        remove_networks(ops, replace(self._network_plan(serving), descriptors=()))

    def do_undeploy(self) -> None:
        ops = self._ops(self.options.undeploy_timeout)
        ents = self.entities()
        try:
            ordered = [n for wave in reversed(waves(ents)) for n in wave]
        except SpecError:
            ordered = [e.name for e in reversed(ents)]
        phase_of = self._phase_of()
        plan = self._network_plan(ents)  # before the record forgets the replicas
        ordered.sort(key=lambda n: phase_of.get(n) != "serve")
        targets: dict[str, tuple[str, int | None]] = {}
        for name in ordered:
            ent = next(e for e in ents if e.name == name)
            recorded = self.record.entities.get(name, {})
            for idx in range(max(ent.replicas, max(recorded, default=-1) + 1)):
                uid = replica_fdu(self.key, name, ent.fdu, idx).uuid
                targets.setdefault(uid, (name, idx))
        for name, reps in list(self.record.entities.items()):
            for idx, rec in reps.items():
                targets.setdefault(rec.fdu_uuid, (name, idx))
        if self.options.scan_orphans and not self._knows_all:
            for uid in ops.call(None, "list_fdus", ops.fog.list_fdus):
                if uid in targets:
                    continue
                try:
                    desc = ops.call(None, "fdu_info", ops.fog.fdu_info, uid)
                except NotFound:
                    continue
                if owns(self.key, str(desc.get("id", ""))):
                    targets[uid] = (str(desc.get("id")), None)
        errors: list[str] = []
        for uid, (label, slot) in targets.items():
            try:
                self._remove_fdu(ops, label, uid)
            except ArchitectureError as exc:
                errors.append(str(exc))
                continue
            if slot is not None:
                self.record.drop(label, slot)
        if errors:
            raise ArchitectureError(
                f"{len(errors)} FDU(s) not removed: " + "; ".join(errors), operation="undeploy"
            )
        # last: nothing of the architecture uses them any more
        remove_networks(ops, plan)

    # --- status -------------------------------------------------------------------------

    def deployed_entities(self) -> list[str]:
        phases = {"deploy", "serve"} if self.state.value == "served" else {"deploy"}
        return [e.name for e in self.entities() if e.phase in phases]

    def do_check_status(self) -> HealthReport:
        names = self.deployed_entities()
        probes = [p for p in self.probes() if p.entity is None or p.entity in names]
        probes = with_state_probes(probes, names)
        report = aggregate(
            run_probes(probes, self.record, self.fog, timeout=self._probe_timeout())
        )
        simulated = [e for e in self.record.simulated_entities() if e in names]
        if not simulated:
            return report
        note = f"simulated, no process runs: {', '.join(simulated)}"
        return replace(report, message=f"{report.message}; {note}")

    def do_get_mapping(self, phase: str) -> dict[str, list[str]]:
        ents = self.entities()
        mine = [e for e in ents if e.phase == phase]
        placed = {e.name: self.record.replicas(e.name) for e in mine}
        if all(len(placed[e.name]) == e.replicas for e in mine):
            return {name: [r.node_id or "" for r in reps] for name, reps in placed.items()}
        fog = self.require_fog()
        nodes, statuses = read_nodes(fog, timeout=self.call_timeout(), wanted=could_host(ents))
        fixed: dict[Slot, str] = {
            (name, idx): rec.node_id
            for name, reps in self.record.entities.items()
            for idx, rec in reps.items()
            if rec.node_id
        }
        plan = plan_placement(ents, nodes, statuses, fixed=fixed, only={e.name for e in mine})
        return {e.name: plan.for_entity(e.name) for e in mine}

    def placement_check(
        self, nodes: Sequence[NodeInfo], statuses: dict[str, NodeStatus]
    ) -> PlacementCheck:
        """Could all entities be placed on these nodes? (main-ready, before deploying)."""
        try:
            plan = plan_placement(self.entities(), nodes, statuses)
        except PlacementError as exc:
            return PlacementCheck(ok=False, reasons=tuple(exc.reasons))
        return PlacementCheck(ok=True, placement=plan)

    def do_observe(self) -> ArchitectureSnapshot:
        ops = self._ops(self.options.undeploy_timeout)
        ents = self.entities()
        return observe(ops, self.key, ents, self.record, networks=self._network_plan(ents))
