"""Nodes file: a compact user format converted to fog05 0.2 node shapes.

Format (YAML, a list or ``{nodes: [...]}``)::

    nodes:
      - name: cloud-1            # required, unique
        uuid: ...                # optional; default uuid5(NAMESPACE_URL, "fogsim:node:<name>")
        ip: 127.0.10.11          # optional; default 127.0.10.<index+10>; must be loopback
        arch: x86_64             # default x86_64
        cores: 8                 # default 1
        ramMB: 16384             # default 1024
        diskGB: 200              # default 10
        cpuMHz: 2400             # optional, default 2000
        cpuModel: "Xeon"         # optional
        os: linux                # optional
        labels: {tier: cloud}    # optional, str -> str

Why loopback IPs: BARE instances bind to their node's IP, so several "nodes"
on one machine each get their own address (all of 127/8 routes to ``lo``).
``fogsim serve --ip-block 127.0.N`` moves every node into ``127.0.N.0/24`` (each keeps
its last octet), so two fogsims with the same nodes file run side by side.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controller.api.documents import DocumentSyntaxError, load_value
from controller.api.limits import limits

NODE_NAMESPACE = uuid.NAMESPACE_URL


class NodesFileError(ValueError):
    """The nodes file is malformed; the message names the offending node."""


@dataclass
class NodeSpec:
    """One simulated fog05 node (what the nodes file says about it)."""

    name: str
    ip: str
    uuid: str = ""
    arch: str = "x86_64"
    cores: int = 1
    ram_mb: float = 1024.0
    disk_gb: float = 10.0
    cpu_mhz: float = 2000.0
    cpu_model: str = "fogsim vCPU"
    os: str = "linux"
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.uuid:
            self.uuid = node_uuid(self.name)

    def info(self) -> dict[str, Any]:
        """fog05 ``node.info()`` shape plus fogsim's ``labels``."""
        octets = [int(o) for o in self.ip.split(".")]
        mac = "02:00:" + ":".join(f"{o:02x}" for o in octets)
        return {
            "uuid": self.uuid,
            "name": self.name,
            "os": self.os,
            "cpu": [
                {"model": self.cpu_model, "frequency": float(self.cpu_mhz), "arch": self.arch}
                for _ in range(self.cores)
            ],
            "ram": {"size": float(self.ram_mb)},
            "disks": [
                {
                    "local_address": "/dev/fogsim0",
                    "dimension": float(self.disk_gb),
                    "mount_point": "/",
                    "filesystem": "ext4",
                }
            ],
            "network": [
                {
                    "intf_name": "fogsim0",
                    "intf_mac_address": mac,
                    "intf_configuration": {
                        "ipv4_address": self.ip,
                        "ipv4_netmask": "255.255.255.0",
                        "ipv4_gateway": "",
                        "ipv6_address": "",
                        "ipv6_netmask": "",
                    },
                    "intf_speed": 1000,
                    "type": "ethernet",
                    "available": True,
                    "default_gw": False,
                }
            ],
            "io": [],
            "accelerator": [],
            "labels": dict(self.labels),
        }


def node_uuid(name: str) -> str:
    """Deterministic node uuid so restarts and tests see stable ids."""
    return str(uuid.uuid5(NODE_NAMESPACE, f"fogsim:node:{name}"))


def _num(raw: dict[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise NodesFileError(f"{where}: {key} must be a non-negative number, got {value!r}")
    return float(value)


def parse_nodes(data: Any) -> list[NodeSpec]:
    """Convert the parsed YAML document into validated :class:`NodeSpec` s."""
    if isinstance(data, dict):
        data = data.get("nodes")
    if not isinstance(data, list) or not data:
        raise NodesFileError("nodes file must be a non-empty list (or {nodes: [...]})")
    specs: list[NodeSpec] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(data):
        where = f"node #{index}"
        if not isinstance(raw, dict):
            raise NodesFileError(f"{where}: must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise NodesFileError(f"{where}: name is required")
        where = f"node {name!r}"
        ip = str(raw.get("ip", f"127.0.10.{index + 10}"))
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError as exc:
            raise NodesFileError(f"{where}: bad ip {ip!r}") from exc
        if not addr.is_loopback:
            raise NodesFileError(f"{where}: ip {ip} must be a loopback address (127.0.0.0/8)")
        uid = str(raw.get("uuid") or node_uuid(name))
        try:
            uid = str(uuid.UUID(uid))
        except ValueError as exc:
            raise NodesFileError(f"{where}: bad uuid {uid!r}") from exc
        labels = raw.get("labels") or {}
        if not isinstance(labels, dict):
            raise NodesFileError(f"{where}: labels must be a mapping")
        cores = raw.get("cores", 1)
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise NodesFileError(f"{where}: cores must be a positive integer")
        spec = NodeSpec(
            name=name,
            ip=ip,
            uuid=uid,
            arch=str(raw.get("arch", "x86_64")),
            cores=cores,
            ram_mb=_num(raw, "ramMB", 1024, where),
            disk_gb=_num(raw, "diskGB", 10, where),
            cpu_mhz=_num(raw, "cpuMHz", 2000, where),
            cpu_model=str(raw.get("cpuModel", "fogsim vCPU")),
            os=str(raw.get("os", "linux")),
            labels={str(k): str(v) for k, v in labels.items()},
        )
        for key, value in (("name", spec.name), ("uuid", spec.uuid), ("ip", spec.ip)):
            other = seen.get(f"{key}:{value}")
            if other is not None:
                raise NodesFileError(f"{where}: duplicate {key} {value} (also {other!r})")
            seen[f"{key}:{value}"] = name
        specs.append(spec)
    return specs


def load_nodes(path: str | Path) -> list[NodeSpec]:
    """Read and parse a nodes YAML file."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            text = handle.read(limits().max_document_bytes + 1)
        data = load_value(text, str(path))
    except (OSError, UnicodeDecodeError, DocumentSyntaxError) as exc:
        raise NodesFileError(f"cannot read nodes file {path}: {exc}") from exc
    return parse_nodes(data)


def parse_ip_block(block: str) -> str:
    """``127.0.N`` (a /24 of the loopback network), normalised; else NodesFileError."""
    parts = block.strip().removesuffix(".0/24").split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts) or parts[0] != "127":
        raise NodesFileError(f"--ip-block wants the first three octets of a loopback /24 "
                             f"such as 127.0.42, got {block!r}")
    return ".".join(str(int(p)) for p in parts)


def rebase(specs: list[NodeSpec], block: str) -> list[NodeSpec]:
    """The same nodes with their IPs moved into ``block`` (each keeps its last octet)."""
    prefix = parse_ip_block(block)
    moved = [replace(s, ip=f"{prefix}.{s.ip.rsplit('.', 1)[1]}") for s in specs]
    seen: dict[str, str] = {}
    for spec in moved:
        if spec.ip in seen:
            raise NodesFileError(f"node {spec.name!r}: ip {spec.ip} in block {prefix} is also "
                                 f"node {seen[spec.ip]!r}'s (their last octets are equal)")
        seen[spec.ip] = spec.name
    return moved
