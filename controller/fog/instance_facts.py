"""What an instance record's ``hypervisor_info`` says beyond its state.

fog05 leaves ``hypervisor_info`` to the hypervisor plugin. The LXD plugin stores the
container's state there, whose ``network`` maps interface names to their addresses
(``{"eth0": {"addresses": [{"family": "inet", "address": "10.0.3.7", "scope":
"global"}]}}``); fogsim reports its containers the same way, and marks instances it only
simulates (no process runs) with ``simulated: true``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

#: at most this many interfaces are looked at (the record comes from the fog)
_MAX_INTERFACES = 64


def _global_ipv4(entry: Any) -> str | None:
    if not isinstance(entry, Mapping) or entry.get("family") not in ("inet", None):
        return None
    if entry.get("scope") not in ("global", None):
        return None
    try:
        address = ipaddress.IPv4Address(str(entry.get("address")))
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


def instance_address(info: Any) -> str | None:
    """The instance's own IPv4 address from ``hypervisor_info``, if it reports one: the
    first global one of the first interface that has one, ``lo`` skipped."""
    network = info.get("network") if isinstance(info, Mapping) else None
    if not isinstance(network, Mapping):
        return None
    for count, (name, interface) in enumerate(network.items()):
        if count >= _MAX_INTERFACES:
            break
        if name == "lo" or not isinstance(interface, Mapping):
            continue
        addresses = interface.get("addresses")
        if not isinstance(addresses, list):
            continue
        for entry in addresses[:_MAX_INTERFACES]:
            found = _global_ipv4(entry)
            if found:
                return found
    return None


def is_simulated(info: Any) -> bool:
    """Whether the fog says nothing really runs for this instance (fogsim's non-BARE)."""
    return isinstance(info, Mapping) and info.get("simulated") is True
