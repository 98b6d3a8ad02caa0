"""Read back from the fog what an architecture has there: the observed state.

Found by deterministic FDU ids, so it works without any record (after a restart); a
record, when given, adds what only it knows: instance ids that have since vanished and
nodes that have disappeared. The reconciler compares the snapshot with the desired
state to adopt (``complete``), repair (``vanished``) or clean up (``exists``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.api.limits import one_line
from controller.api.models import Entity
from controller.arch.fogops import FogOps
from controller.arch.ids import ArchitectureKey, replica_fdu
from controller.arch.networks import NetworkPlan, observe_networks
from controller.arch.record import ArchitectureRecord
from controller.fog.client import InstanceInfo, InstanceState, NotFound

_PREFERENCE = {
    InstanceState.RUN: 0,
    InstanceState.CONFIGURE: 1,
    InstanceState.DEFINE: 2,
}


def best_instance(instances: Sequence[InstanceInfo]) -> InstanceInfo | None:
    """The instance worth keeping: RUN before CONFIGURE before DEFINE; never ERROR."""
    usable = [i for i in instances if i.state in _PREFERENCE]
    if not usable:
        return None
    return min(usable, key=lambda i: (_PREFERENCE[i.state], i.instance_id))


@dataclass(frozen=True)
class ObservedReplica:
    entity: str
    replica: int
    phase: str
    fdu_id: str
    fdu_uuid: str
    fdu_exists: bool
    instances: tuple[InstanceInfo, ...] = ()

    @property
    def instance(self) -> InstanceInfo | None:
        return best_instance(self.instances)

    @property
    def running(self) -> bool:
        inst = self.instance
        return inst is not None and inst.state is InstanceState.RUN

    @property
    def extras(self) -> list[InstanceInfo]:
        """Instances beyond the one worth keeping (duplicates, ERROR ones)."""
        keep = self.instance
        return [i for i in self.instances if keep is None or i.instance_id != keep.instance_id]


@dataclass(frozen=True)
class ArchitectureSnapshot:
    replicas: tuple[ObservedReplica, ...]
    nodes: tuple[str, ...]
    missing_nodes: tuple[str, ...] = ()
    vanished: tuple[tuple[str, int, str], ...] = ()
    """(entity, replica, instance id) the record knows but the fog no longer has."""
    networks: tuple[str, ...] = ()
    """The uuids of the architecture's virtual networks the fog has."""

    def phase(self, phase: str) -> list[ObservedReplica]:
        return [r for r in self.replicas if r.phase == phase]

    @property
    def complete(self) -> bool:
        """Every replica of the observed phases has a RUN instance."""
        return bool(self.replicas) and all(r.running for r in self.replicas)

    def complete_phase(self, phase: str) -> bool:
        reps = self.phase(phase)
        return bool(reps) and all(r.running for r in reps)

    @property
    def exists(self) -> bool:
        """Anything of the architecture is on the fog (an FDU, an instance or a network)."""
        return bool(self.networks) or any(r.fdu_exists or r.instances for r in self.replicas)

    @property
    def in_error(self) -> tuple[ObservedReplica, ...]:
        """Replicas whose every instance is in ERROR: dead by the fog's own word, which no
        probe cycle needs to confirm."""
        return tuple(r for r in self.replicas if r.instances and all(
            i.state is InstanceState.ERROR for i in r.instances))

    def error_summary(self) -> str:
        """The replicas in ERROR in one line (the fog's reason for the first), or ""."""
        failed = self.in_error
        if not failed:
            return ""
        first = failed[0].instances[0]
        why = one_line(first.error_msg, 200) if first.error_msg else (
            f"error code {first.error_code}" if first.error_code else "no reason given")
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return (f"{failed[0].entity} replica {failed[0].replica}: instance "
                f"{first.instance_id} in ERROR: {why}{more}")

    def summary(self) -> str:
        run = sum(1 for r in self.replicas if r.running)
        text = f"{run}/{len(self.replicas)} replicas running"
        if self.vanished:
            text += f", {len(self.vanished)} instance(s) vanished"
        if self.missing_nodes:
            text += f", node(s) gone: {', '.join(self.missing_nodes)}"
        return text


def _recorded_running(ops: FogOps, entity: str, replica: int, uid: str,
                      record: ArchitectureRecord | None) -> InstanceInfo | None:
    """The recorded instance of a replica, read directly, if it still runs as recorded.

    The steady-state fast path: one call per replica instead of listing the FDU's instances
    and reading each. Anything unusual (no record, gone, not RUN, another FDU) falls back to
    the full read, which also finds duplicate instances.
    """
    rec = record.get(entity, replica) if record is not None else None
    if rec is None or not rec.instance_id or rec.fdu_uuid != uid:
        return None
    info = ops.info(entity, rec.instance_id, recent=True)
    if info is None or info.state is not InstanceState.RUN or info.fdu_id not in (uid, rec.fdu_id):
        return None
    return info


def observe(
    ops: FogOps,
    key: ArchitectureKey,
    entities: Sequence[Entity],
    record: ArchitectureRecord | None = None,
    *,
    phases: Sequence[str] = ("deploy", "serve"),
    networks: NetworkPlan | None = None,
) -> ArchitectureSnapshot:
    """Read the fog; raises :class:`ArchitectureError` when the fog cannot be read.
    ``networks``: the architecture's networks, looked for too."""
    nodes = tuple(ops.call(None, "list_nodes", ops.fog.list_nodes))
    replicas: list[ObservedReplica] = []
    for ent in entities:
        if ent.phase not in phases:
            continue
        for r in range(ent.replicas):
            ref = replica_fdu(key, ent.name, ent.fdu, r)
            did, uid = ref.id, ref.uuid
            known = _recorded_running(ops, ent.name, r, uid, record)
            if known is not None:
                replicas.append(ObservedReplica(ent.name, r, ent.phase, did, uid, True,
                                                (known,)))
                continue
            try:
                by_node = ops.call(ent.name, "instances", ops.fog.instances, uid)
            except NotFound:
                replicas.append(ObservedReplica(ent.name, r, ent.phase, did, uid, False))
                continue
            infos = [
                info
                for node_iids in by_node.values()
                for iid in node_iids
                if (info := ops.info(ent.name, iid)) is not None
            ]
            replicas.append(ObservedReplica(ent.name, r, ent.phase, did, uid, True, tuple(infos)))
    missing: list[str] = []
    vanished: list[tuple[str, int, str]] = []
    if record is not None:
        seen = {i.instance_id for rep in replicas for i in rep.instances}
        observed = {rep.entity for rep in replicas}
        for ent_name, reps in sorted(record.entities.items()):
            if ent_name not in observed:
                continue
            for idx, rec in sorted(reps.items()):
                if rec.node_id and rec.node_id not in nodes and rec.node_id not in missing:
                    missing.append(rec.node_id)
                if rec.instance_id and rec.instance_id not in seen:
                    vanished.append((ent_name, idx, rec.instance_id))
    found = observe_networks(ops, networks) if networks is not None else ()
    return ArchitectureSnapshot(tuple(replicas), nodes, tuple(missing), tuple(vanished), found)

