"""fogsim's virtual networks and connection points (fog05 0.2's ``network`` API).

fog05 keeps a catalog of virtual networks (ELAN descriptors with an IP configuration)
and of connection points, the ports an FDU's interfaces attach to; its agents create
them on the nodes and connect ports to networks. fogsim keeps the records, and gives a
connection point an address when it is connected: the next free host of the network's
subnet (of its DHCP range, when it has one). That address cannot be bound on this
machine, so each network also gets a loopback block of its own (a /24 of
:data:`LOOPBACK_POOL`, chosen from its uuid) and the connection point the address at
the same position there: that one a BARE process can bind, since all of 127/8 routes
to ``lo``. An instance whose FDU names a connected connection point reports it as an
interface (see ``records.instance_record``), so its address is the network's, not the node's.

Nodes live in 127.0.0.0/16 and simulated containers in 127.200.0.0/16; the pool stays
clear of both.
"""

from __future__ import annotations

import copy
import ipaddress
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: where networks' loopback blocks come from: 16,384 /24 blocks
LOOPBACK_POOL = ipaddress.IPv4Network("127.64.0.0/10")
#: the prefix length of one network's loopback block
LOOPBACK_PREFIX = 24
#: addresses one network can give out in fogsim (its loopback /24, less network and
#: broadcast)
MAX_ADDRESSES = 254
NET_TYPES = ("ELAN", "ELINE")


@dataclass(frozen=True)
class ConnectedPort:
    """A connection point connected to a network: what an instance naming it reports."""

    name: str
    address: str
    """Its loopback address, which a BARE process can bind."""
    network: str
    network_address: str | None
    """Its address in the network's own subnet."""


class NetworkError(Exception):
    """A descriptor or request fogsim refuses (the HTTP layer makes it a 400)."""


class NetworkNotFound(Exception):
    """Unknown network or connection point (404)."""


class NetworkInUse(Exception):
    """The network still has connection points, or the connection point is connected
    elsewhere (409)."""

    def __init__(self, message: str, users: list[str]) -> None:
        super().__init__(message)
        self.users = users


def _uuid(raw: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise NetworkError(f"invalid {what}: bad uuid {str(raw)[:80]!r}") from None


def _hosts(ipconf: Mapping[str, Any]) -> list[ipaddress.IPv4Address]:
    """The addresses a connection point may get: the DHCP range, else the subnet's hosts
    without the gateway; at most :data:`MAX_ADDRESSES` of them."""
    try:
        subnet = ipaddress.IPv4Network(str(ipconf.get("subnet")), strict=True)
    except ValueError as exc:
        raise NetworkError(f"invalid network descriptor: ip_configuration.subnet: {exc}"
                           ) from None
    gateway = ipconf.get("gateway")
    first, last = subnet.network_address + 1, subnet.broadcast_address - 1
    if subnet.prefixlen >= 31:
        first, last = subnet.network_address, subnet.broadcast_address
    dhcp = ipconf.get("dhcp_range")
    if dhcp:
        try:
            lo, _, hi = str(dhcp).partition(",")
            first, last = ipaddress.IPv4Address(lo.strip()), ipaddress.IPv4Address(hi.strip())
        except ValueError:
            raise NetworkError("invalid network descriptor: ip_configuration.dhcp_range: "
                               "want 'FIRST,LAST' addresses") from None
        if first not in subnet or last not in subnet or last < first:
            raise NetworkError(f"invalid network descriptor: ip_configuration.dhcp_range "
                               f"{dhcp} is not a range inside {subnet}")
    out: list[ipaddress.IPv4Address] = []
    addr = first
    while addr <= last and len(out) < MAX_ADDRESSES:
        if str(addr) != str(gateway):
            out.append(addr)
        addr += 1
    return out


def validate_network(descriptor: Any) -> dict[str, Any]:
    """The descriptor as stored (uuid normalised), or :class:`NetworkError`."""
    if not isinstance(descriptor, Mapping):
        raise NetworkError("invalid network descriptor: must be a JSON object")
    desc = copy.deepcopy(dict(descriptor))
    desc["uuid"] = _uuid(desc.get("uuid"), "network descriptor")
    if not isinstance(desc.get("name"), str) or not desc["name"]:
        raise NetworkError("invalid network descriptor: name must be a non-empty string")
    if desc.get("net_type", "ELAN") not in NET_TYPES:
        raise NetworkError(f"invalid network descriptor: net_type must be one of "
                           f"{', '.join(NET_TYPES)}")
    ipconf = desc.get("ip_configuration")
    if ipconf is not None:
        if not isinstance(ipconf, Mapping):
            raise NetworkError("invalid network descriptor: ip_configuration must be an object")
        if ipconf.get("ip_version", "IPV4") == "IPV4":
            _hosts(ipconf)
    return desc


class Networks:
    """The network catalog and connection points of one fog. Thread-safe.

    ``on_change`` runs (outside the lock) after a connection point's network or address
    changed: instance records that show it must be rendered afresh.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._nets: dict[str, dict[str, Any]] = {}
        self._blocks: dict[str, ipaddress.IPv4Network] = {}
        self._cps: dict[str, dict[str, Any]] = {}
        self._on_change = on_change or (lambda: None)

    # ------------------------------------------------------------------ networks
    def _block_for(self, net_id: str) -> ipaddress.IPv4Network:
        """A /24 of the pool no other network here has, chosen from the uuid so that
        fogsims side by side seldom pick the same one."""
        taken = {str(b) for b in self._blocks.values()}
        count = LOOPBACK_POOL.num_addresses // 256
        start = uuid.UUID(net_id).int % count
        for step in range(count):
            base = LOOPBACK_POOL.network_address + ((start + step) % count) * 256
            block = ipaddress.IPv4Network(f"{base}/{LOOPBACK_PREFIX}")
            if str(block) not in taken:
                return block
        raise NetworkError("no loopback block left for another network")

    def add_network(self, descriptor: Any) -> dict[str, Any]:
        """Store a network; adding the same uuid again replaces its descriptor."""
        desc = validate_network(descriptor)
        with self._lock:
            net_id = desc["uuid"]
            if net_id not in self._blocks:
                self._blocks[net_id] = self._block_for(net_id)
            desc["loopback_block"] = str(self._blocks[net_id])
            self._nets[net_id] = desc
            return copy.deepcopy(desc)

    def network(self, net_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._net(net_id))

    def _net(self, net_id: str) -> dict[str, Any]:
        net = self._nets.get(net_id)
        if net is None:
            raise NetworkNotFound(f"network {net_id} not found")
        return net

    def list_networks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(n) for n in self._nets.values()]

    def remove_network(self, net_id: str) -> dict[str, Any]:
        """Remove a network; refused while connection points are connected to it."""
        with self._lock:
            net = self._net(net_id)
            users = sorted(c["uuid"] for c in self._cps.values() if c.get("network") == net_id)
            if users:
                raise NetworkInUse(f"network {net_id} has connection points", users)
            del self._nets[net_id]
            del self._blocks[net_id]
            return copy.deepcopy(net)

    # --------------------------------------------------------- connection points
    def add_cp(self, descriptor: Any) -> dict[str, Any]:
        """Store a connection point, not connected; an existing one is kept as it is."""
        if not isinstance(descriptor, Mapping):
            raise NetworkError("invalid connection point descriptor: must be a JSON object")
        cp_id = _uuid(descriptor.get("uuid"), "connection point descriptor")
        with self._lock:
            if cp_id not in self._cps:
                rec = copy.deepcopy(dict(descriptor))
                rec.update(uuid=cp_id, network=None, ip_address=None, network_address=None)
                self._cps[cp_id] = rec
            return copy.deepcopy(self._cps[cp_id])

    def _cp(self, cp_id: str) -> dict[str, Any]:
        cp = self._cps.get(cp_id)
        if cp is None:
            raise NetworkNotFound(f"connection point {cp_id} not found")
        return cp

    def cp(self, cp_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._cp(cp_id))

    def list_cps(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._cps.values()]

    def _address(self, net_id: str) -> tuple[str | None, str | None]:
        """(loopback address, subnet address) for a new connection point on a network."""
        ipconf = self._nets[net_id].get("ip_configuration")
        if not isinstance(ipconf, Mapping) or ipconf.get("ip_version", "IPV4") != "IPV4":
            return None, None
        used = {c["network_address"] for c in self._cps.values()
                if c.get("network") == net_id and c.get("network_address")}
        for slot, host in enumerate(_hosts(ipconf), start=1):
            if str(host) not in used:
                return str(self._blocks[net_id][slot]), str(host)
        raise NetworkError(f"network {net_id} has no free address left "
                           f"(fogsim gives at most {MAX_ADDRESSES} per network)")

    def connect(self, cp_id: str, net_id: str) -> dict[str, Any]:
        """Connect a connection point to a network; again to the same one is a no-op."""
        with self._lock:
            cp = self._cp(cp_id)
            self._net(net_id)
            if cp.get("network") == net_id:
                return copy.deepcopy(cp)
            if cp.get("network"):
                raise NetworkInUse(f"connection point {cp_id} is connected to network "
                                   f"{cp['network']}", [str(cp["network"])])
            loopback, address = self._address(net_id)
            cp.update(network=net_id, ip_address=loopback, network_address=address)
            out = copy.deepcopy(cp)
        self._on_change()
        return out

    def disconnect(self, cp_id: str) -> dict[str, Any]:
        with self._lock:
            cp = self._cp(cp_id)
            changed = cp.get("network") is not None
            cp.update(network=None, ip_address=None, network_address=None)
            out = copy.deepcopy(cp)
        if changed:
            self._on_change()
        return out

    def remove_cp(self, cp_id: str) -> dict[str, Any]:
        """Remove a connection point (disconnecting it first)."""
        with self._lock:
            cp = self._cps.pop(cp_id, None)
            if cp is None:
                raise NetworkNotFound(f"connection point {cp_id} not found")
        if cp.get("network"):
            self._on_change()
        return cp

    def connected(self, cp_ids: list[str]) -> list[ConnectedPort]:
        """The connection points among ``cp_ids`` that are connected, in that order."""
        out: list[ConnectedPort] = []
        with self._lock:
            for cp_id in cp_ids:
                cp = self._cps.get(cp_id)
                if cp is None or not cp.get("ip_address"):
                    continue
                out.append(ConnectedPort(
                    name=str(cp.get("name") or cp.get("id") or cp_id),
                    address=str(cp["ip_address"]), network=str(cp["network"]),
                    network_address=cp["network_address"]))
        return out
