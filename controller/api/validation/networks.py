"""Architecture networks: what the schema cannot say about ``spec.networks`` and the
connection points entities attach to them with.

fog05 accepts a network descriptor whatever its addresses say and fails (or silently
misconfigures a bridge) on the node; these checks make such a descriptor one line at
``fogstrat validate`` instead.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from controller.api.limits import excerpt
from controller.api.validation.common import Sink

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: Any, subnet: IpNetwork, sink: Sink, *parts: str | int) -> bool:
    """Whether ``text`` is an address inside ``subnet``; says why not."""
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        sink.add(f"{excerpt(text)} is not an IP address", *parts)
        return False
    if addr not in subnet:
        sink.add(f"{addr} is not inside the subnet {subnet}", *parts)
        return False
    return True


def _subnet(conf: Mapping[str, Any], sink: Sink) -> IpNetwork | None:
    raw = conf.get("subnet")
    version = 6 if conf.get("ip_version") == "IPV6" else 4
    try:
        subnet = ipaddress.ip_network(str(raw), strict=True)
    except ValueError as exc:
        sink.add(f"{excerpt(raw)} is not a subnet ({exc}); write it as 10.10.0.0/24",
                 "subnet")
        return None
    if subnet.version != version:
        sink.add(f"{subnet} is not an IPv{version} subnet (ip_version "
                 f"{conf.get('ip_version', 'IPV4')})", "subnet")
        return None
    return subnet


def _check_ip_configuration(conf: Mapping[str, Any], sink: Sink) -> None:
    subnet = _subnet(conf, sink)
    if subnet is None:
        return
    if conf.get("gateway") is not None:
        _address(conf["gateway"], subnet, sink, "gateway")
    dhcp = conf.get("dhcp_range")
    if dhcp is not None:
        first, sep, last = str(dhcp).partition(",")
        if not sep:
            sink.add("want FIRST,LAST (two addresses, comma-separated)", "dhcp_range")
        elif _address(first, subnet, sink, "dhcp_range") and _address(
                last, subnet, sink, "dhcp_range"):
            lo, hi = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
            if int(hi) < int(lo):
                sink.add(f"{lo} comes after {hi}", "dhcp_range")
    elif conf.get("dhcp_enable") is True:
        sink.add("dhcp_enable needs a dhcp_range (FIRST,LAST)", "dhcp_range")
    dns = conf.get("dns")
    if dns is not None:
        for part in str(dns).split(","):
            try:
                ipaddress.ip_address(part.strip())
            except ValueError:
                sink.add(f"{excerpt(part.strip())} is not an IP address (want a "
                         "comma-separated list of addresses)", "dns")
                break


def check_networks(networks: Sequence[Any], sink: Sink) -> set[str]:
    """Check ``spec.networks``; returns the declared names."""
    names: set[str] = set()
    for index, net in enumerate(networks):
        if not isinstance(net, Mapping):
            continue
        at = sink.at(index)
        name = net.get("name")
        if isinstance(name, str):
            if name in names:
                at.add(f"duplicate network name {name!r}", "name")
            names.add(name)
        raw_uuid = net.get("uuid")
        if raw_uuid is not None:
            try:
                uuid.UUID(str(raw_uuid))
            except ValueError:
                at.add(f"{excerpt(raw_uuid)} is not a uuid", "uuid")
        conf = net.get("ip_configuration")
        if isinstance(conf, Mapping):
            _check_ip_configuration(conf, at.at("ip_configuration"))
    return names


def check_connection_points(fdu: Mapping[str, Any], declared: set[str], sink: Sink) -> None:
    """An entity's ``fdu.connection_points``: each names a declared network in
    ``vld_ref`` and has an ``id`` unique in the fdu."""
    cps = fdu.get("connection_points")
    if not isinstance(cps, list):
        return
    seen: set[str] = set()
    known = ", ".join(sorted(declared)) or "none"
    for index, cp in enumerate(cps):
        at = sink.at("connection_points", index)
        if not isinstance(cp, Mapping):
            at.add("must be an object")
            continue
        ident = cp.get("id")
        if not isinstance(ident, str) or not ident:
            at.add("required: the connection point's id (interfaces' cp_id may name it)",
                   "id")
        elif ident in seen:
            at.add(f"duplicate connection point id {ident!r}", "id")
        else:
            seen.add(ident)
        ref = cp.get("vld_ref")
        if not isinstance(ref, str) or ref not in declared:
            at.add(f"{excerpt(ref)} names no network of this architecture (spec.networks: "
                   f"{known})", "vld_ref")
