"""fog05's records (instances, node info, node status) as the typed values of
:mod:`controller.fog.client`.

fogsim answers with the records fog05's agents write, so both drivers parse them here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from controller.api.limits import excerpt
from controller.fog import node_labels
from controller.fog.client import (
    ConnectionPointInfo,
    FogError,
    InstanceInfo,
    InstanceState,
    NetworkInfo,
    NodeInfo,
    NodeStatus,
)
from controller.fog.instance_facts import instance_address, is_simulated
from controller.fog.node_labels import NodeLabels


def _error_code(raw: Any) -> int | None:
    """fog05's numeric error code; anything else (text, a huge number) is no code."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    try:
        code = int(raw)
    except ValueError:
        return None
    return code if -(2**31) <= code < 2**31 else None


def instance_from_record(rec: Mapping[str, Any]) -> InstanceInfo:
    """Map a fogsim/fog05 instance record to :class:`InstanceInfo`."""
    raw = rec.get("status")
    try:
        state = InstanceState(raw.upper() if isinstance(raw, str) else "")
    except ValueError:
        raise FogError(f"instance {excerpt(rec.get('uuid'))}: unknown state "
                       f"{excerpt(raw, 40)}") from None
    code = _error_code(rec.get("error_code"))
    msg = rec.get("error_msg")
    is_error = state is InstanceState.ERROR
    hyp = rec.get("hypervisor_info")
    return InstanceInfo(
        instance_id=str(rec.get("uuid")),
        fdu_id=str(rec.get("fdu_id")),
        node_id=str(rec.get("node")),
        state=state,
        error_code=code if code is not None and (is_error or code) else None,
        error_msg=str(msg) if msg else None,
        address=instance_address(hyp),
        simulated=is_simulated(hyp),
    )


def node_info_from_record(rec: Mapping[str, Any], central: NodeLabels | None = None
                          ) -> NodeInfo:
    """Map fog05 node info to :class:`NodeInfo`, with every label it has
    (:mod:`controller.fog.node_labels`; ``central``: the Environment's)."""
    cpus = rec.get("cpu") or []
    disks = rec.get("disks") or []
    ip: str | None = None
    for intf in rec.get("network") or []:
        addr = (intf.get("intf_configuration") or {}).get("ipv4_address")
        if addr:
            ip = str(addr)
            break
    uuid, name = str(rec.get("uuid")), str(rec.get("name") or rec.get("uuid"))
    arch = str(cpus[0].get("arch", "")) if cpus else ""
    return NodeInfo(
        uuid=uuid,
        name=name,
        cpu_arch=arch,
        cores=len(cpus),
        ram_mb=int(float((rec.get("ram") or {}).get("size", 0))),
        disk_gb=float(sum(float(d.get("dimension", 0)) for d in disks)),
        ip=ip,
        labels=node_labels.merged(rec, uuid, name, arch, central or {}),
    )


def node_status_from_record(rec: Mapping[str, Any]) -> NodeStatus:
    """Map fog05 node status to :class:`NodeStatus` (disks summed); a record not shaped
    so (the fog's word) is a :class:`FogError`."""
    uuid = str(rec.get("uuid"))
    ram = rec.get("ram") or {}
    disks = rec.get("disk") or []
    if not isinstance(ram, Mapping) or not isinstance(disks, list) or not all(
            isinstance(d, Mapping) for d in disks):
        raise FogError(f"node {excerpt(uuid)}: its status record is malformed")
    return NodeStatus(
        uuid=uuid,
        ram_total_mb=_amount(ram.get("total", 0), uuid),
        ram_free_mb=_amount(ram.get("free", 0), uuid),
        disk_total_gb=sum(_amount(d.get("dimension", 0), uuid) for d in disks),
        disk_free_gb=sum(_amount(d.get("free", 0), uuid) for d in disks),
    )


def _amount(raw: Any, node: str) -> float:
    """A finite number of MB or GB from a node's status record."""
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError
        value = float(raw)
    except (ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise FogError(f"node {excerpt(node)}: its status record has {excerpt(raw, 40)} "
                       "where a number belongs")
    return value


def network_from_record(rec: Mapping[str, Any]) -> NetworkInfo:
    """A network as fog05 keeps it (its descriptor, as ``network.list()`` returns)."""
    return NetworkInfo(uuid=str(rec.get("uuid") or ""), name=str(rec.get("name") or ""),
                       descriptor=dict(rec))


def cp_from_record(rec: Mapping[str, Any]) -> ConnectionPointInfo:
    """A connection point record: fog05's port record, with fogsim's ``network`` (the
    network it is connected to) and ``ip_address``."""
    net = rec.get("network")
    address = rec.get("ip_address")
    return ConnectionPointInfo(
        uuid=str(rec.get("uuid") or ""),
        name=str(rec.get("name") or rec.get("id") or ""),
        network_id=str(net) if net else None,
        address=str(address) if address else None,
    )
