"""fog05 virtual networks of a declarative architecture.

The networks of ``spec.networks`` are created before any entity (the seed's
architectures called ``add_network`` first) and removed after the last one on undeploy.
Every replica has connection points of its own, named in its FDU descriptor; they are
created and connected after the replica is defined and before it starts, so the
fog reports its address on the network by the time its env is rendered.

Everything is found by derived uuids (:func:`~controller.arch.ids.network_uuid`,
:func:`~controller.arch.ids.cp_uuid`), so an undeploy without any record (the deploy's
controller crashed) removes all of it; connection points are also found by the network
they are connected to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from controller.api.models import Entity, Network
from controller.arch.errors import ArchitectureError
from controller.arch.fogops import FogOps
from controller.arch.ids import ArchitectureKey, cp_uuid, network_uuid, replica_fdu
from controller.fog.client import IllegalTransition, NotFound


def network_ids(key: ArchitectureKey, networks: Iterable[Network]) -> dict[str, str]:
    """Network name → the uuid it has on the fog."""
    return {net.name: network_uuid(key, net.name, net.uuid) for net in networks}


def network_descriptor(key: ArchitectureKey, net: Network) -> dict[str, Any]:
    """fog05's virtual network descriptor of ``net``."""
    desc: dict[str, Any] = {
        "uuid": network_uuid(key, net.name, net.uuid),
        "name": net.name,
        "net_type": net.net_type,
        "is_mgmt": net.is_mgmt,
    }
    if net.vlan_id is not None:
        desc["vlan_id"] = net.vlan_id
    if net.ip_configuration is not None:
        conf = asdict(net.ip_configuration)
        desc["ip_configuration"] = {k: v for k, v in conf.items() if v is not None}
    return desc


def _cp_key(cp: Mapping[str, Any], index: int) -> str:
    return str(cp.get("id") or cp.get("name") or index)


def attach_descriptor(fdu: dict[str, Any], descriptor_id: str,
                      networks: Mapping[str, str] | None) -> None:
    """Give the replica's connection points their own uuids, point ``vld_ref`` at the
    network's uuid and the interfaces' ``cp_id`` at the new uuids (in place)."""
    cps = fdu.get("connection_points")
    if not isinstance(cps, list) or not cps:
        return
    renamed: dict[str, str] = {}
    out: list[Any] = []
    for index, raw in enumerate(cps):
        if not isinstance(raw, Mapping):
            out.append(raw)
            continue
        cp = dict(raw)
        base = cp.get("uuid") if isinstance(cp.get("uuid"), str) else None
        new = cp_uuid(descriptor_id, _cp_key(cp, index), base)
        for old in (cp.get("id"), cp.get("uuid")):
            if isinstance(old, str) and old:
                renamed[old] = new
        cp["uuid"] = new
        ref = cp.get("vld_ref")
        if networks and isinstance(ref, str) and ref in networks:
            cp["vld_ref"] = networks[ref]
        out.append(cp)
    fdu["connection_points"] = out
    interfaces = fdu.get("interfaces")
    if isinstance(interfaces, list):
        fdu["interfaces"] = [
            {**i, "cp_id": renamed[i["cp_id"]]}
            if isinstance(i, Mapping) and i.get("cp_id") in renamed else i
            for i in interfaces
        ]


def replica_cp_ids(key: ArchitectureKey, entity: Entity, replica: int) -> list[str]:
    """The uuids of one replica's connection points, from the spec alone."""
    cps = entity.fdu.get("connection_points")
    if not isinstance(cps, list):
        return []
    did = replica_fdu(key, entity.name, entity.fdu, replica).id
    return [
        cp_uuid(did, _cp_key(cp, i), cp.get("uuid") if isinstance(cp.get("uuid"), str)
                else None)
        for i, cp in enumerate(cps) if isinstance(cp, Mapping)
    ]


@dataclass(frozen=True)
class NetworkPlan:
    """The networks of one architecture: their descriptors and every connection point
    uuid its replicas may have had."""

    descriptors: tuple[dict[str, Any], ...] = ()
    cp_ids: frozenset[str] = frozenset()

    @property
    def ids(self) -> set[str]:
        return {str(d["uuid"]) for d in self.descriptors}


def plan_networks(key: ArchitectureKey, networks: Sequence[Network],
                  entities: Sequence[Entity], replicas: Mapping[str, int]) -> NetworkPlan:
    """``replicas``: per entity, how many replicas to account for (the spec's, or more
    when the record knows of more)."""
    cps = {cp for ent in entities for idx in range(replicas.get(ent.name, ent.replicas))
           for cp in replica_cp_ids(key, ent, idx)}
    return NetworkPlan(tuple(network_descriptor(key, n) for n in networks), frozenset(cps))


def ensure_networks(ops: FogOps, plan: NetworkPlan) -> None:
    """Create the networks the fog does not have yet."""
    if not plan.descriptors:
        return
    present = {n.uuid for n in ops.call(None, "list_networks", ops.fog.list_networks)}
    for desc in plan.descriptors:
        if desc["uuid"] not in present:
            ops.call(str(desc["name"]), "add_network", ops.fog.add_network, desc)


def attach_replica(ops: FogOps, entity: str, descriptor: Mapping[str, Any]) -> bool:
    """Create the replica's connection points and connect each to its network; True
    when it has any."""
    cps = [cp for cp in descriptor.get("connection_points") or () if isinstance(cp, Mapping)]
    for cp in cps:
        ops.call(entity, "add_connection_point", ops.fog.add_connection_point, dict(cp))
        try:
            ops.call(entity, "connect_cp", ops.fog.connect_cp, cp["uuid"], cp["vld_ref"])
        except ArchitectureError as exc:
            if not isinstance(exc.__cause__, IllegalTransition):
                raise
            # connected to another network: the spec moved it
            ops.call(entity, "disconnect_cp", ops.fog.disconnect_cp, cp["uuid"])
            ops.call(entity, "connect_cp", ops.fog.connect_cp, cp["uuid"], cp["vld_ref"])
    return bool(cps)


def observe_networks(ops: FogOps, plan: NetworkPlan) -> tuple[str, ...]:
    """The architecture's networks the fog has now."""
    if not plan.descriptors:
        return ()
    ours = plan.ids
    return tuple(sorted(n.uuid for n in ops.call(None, "list_networks", ops.fog.list_networks)
                        if n.uuid in ours))


def remove_networks(ops: FogOps, plan: NetworkPlan) -> None:
    """Remove the connection points (ours by uuid, or connected to our networks), then
    the networks; what is gone already is fine."""
    ours = plan.ids
    if not ours and not plan.cp_ids:
        return
    for cp in ops.call(None, "list_connection_points", ops.fog.list_connection_points):
        if cp.uuid not in plan.cp_ids and cp.network_id not in ours:
            continue
        with contextlib.suppress(NotFound):
            if cp.network_id:
                ops.call(cp.name or None, "disconnect_cp", ops.fog.disconnect_cp, cp.uuid)
            ops.call(cp.name or None, "remove_connection_point",
                     ops.fog.remove_connection_point, cp.uuid)
    if not ours:
        return
    present = {n.uuid for n in ops.call(None, "list_networks", ops.fog.list_networks)}
    for uid in sorted(ours & present):
        with contextlib.suppress(NotFound):
            ops.call(None, "remove_network", ops.fog.remove_network, uid)
