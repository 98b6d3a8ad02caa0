"""fogsim's records as fog05 0.2 reports them: an instance's info, a node's status.

Returned values are fresh JSON-able dicts (callers may mutate them).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fogsim.instances import Instance, State
from fogsim.networks import LOOPBACK_PREFIX, ConnectedPort, Networks
from fogsim.nodes import NodeSpec

#: where simulated containers' addresses come from (a loopback block no node uses)
CONTAINER_BLOCK = ipaddress.IPv4Network("127.200.0.0/16")


def container_network(inst: Instance) -> dict[str, Any]:
    """What fog05's LXD plugin reports of a running container's interfaces, for the
    containers (LXD, KVM, DOCKER) fogsim simulates: an address of their own in
    :data:`CONTAINER_BLOCK`, derived from the instance uuid. Nothing listens on it."""
    if inst.hypervisor == "BARE" or inst.status is not State.RUN:
        return {}
    offset = uuid.UUID(inst.uuid).int % (CONTAINER_BLOCK.num_addresses - 2) + 1
    address = str(CONTAINER_BLOCK[offset])
    return {"network": {"eth0": interface(address, CONTAINER_BLOCK.prefixlen)}}


def interface(address: str, prefixlen: int, **extra: Any) -> dict[str, Any]:
    """One interface as fog05's plugins report it in ``hypervisor_info.network``."""
    return {"addresses": [{"family": "inet", "address": address, "netmask": str(prefixlen),
                           "scope": "global"}], "state": "up", **extra}


def port_interfaces(ports: Iterable[ConnectedPort]) -> dict[str, Any]:
    """The interfaces of an instance's connected connection points, by their names; each
    says which network it is on and its address there."""
    return {port.name: interface(port.address, LOOPBACK_PREFIX, network=port.network,
                                 network_address=port.network_address)
            for port in ports}


def cp_ids(descriptor: Mapping[str, Any]) -> list[str]:
    """The uuids of the connection points an FDU descriptor names."""
    cps = descriptor.get("connection_points")
    if not isinstance(cps, list):
        return []
    return [str(cp["uuid"]) for cp in cps if isinstance(cp, Mapping) and cp.get("uuid")]


def instance_record(inst: Instance, node: NodeSpec, networks: Networks, *,
                    simulated: bool, status: str | None = None) -> dict[str, Any]:
    """The instance's info record (``status`` overrides its state, as for UNDEFINE)."""
    hypervisor_info: dict[str, Any] = {
        "pid": inst.pid,
        "pgid": inst.pid,
        "cwd": str(inst.cwd) if inst.cwd else None,
        "log": str(inst.log_path) if inst.log_path else None,
        "exit_code": inst.exit_code,
        "simulated": simulated,
        **container_network(inst),
    }
    cps = cp_ids(inst.descriptor)
    ports = port_interfaces(networks.connected(cps)) if cps else {}
    if ports:  # first: the instance's address is its network's, not its node's
        hypervisor_info["network"] = {**ports, **hypervisor_info.get("network", {})}
    return {
        "uuid": inst.uuid,
        "fdu_id": inst.fdu_id,
        "node": inst.node,
        "status": status or inst.status.value,
        "error_code": inst.error_code,
        "error_msg": inst.error_msg,
        "hypervisor": inst.hypervisor,
        "hypervisor_info": hypervisor_info,
        "env": dict(inst.env),
        "node_ip": node.ip,
    }


def node_status_record(spec: NodeSpec, hosted: Iterable[Instance]) -> dict[str, Any]:
    """fog05 ``node.status()``: free RAM/disk after the instances that hold theirs."""
    ram = disk = 0.0
    for inst in hosted:
        if inst.holding:
            ram += inst.requirement("ram_size_mb")
            disk += inst.requirement("storage_size_gb")
    return {
        "uuid": spec.uuid,
        "ram": {"total": float(spec.ram_mb), "free": max(0.0, spec.ram_mb - ram)},
        "disk": [
            {
                "mount_point": "/",
                "dimension": float(spec.disk_gb),
                "free": max(0.0, spec.disk_gb - disk),
            }
        ],
        "neighbors": [],
        "overcommitted": ram > spec.ram_mb or disk > spec.disk_gb,
    }
