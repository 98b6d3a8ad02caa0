"""An instance record's own address and simulated flag, and what templates make of them."""

from __future__ import annotations

from typing import Any

import pytest

from controller.arch.context import entity_facts
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.fog.instance_facts import instance_address, is_simulated
from controller.fog.records import instance_from_record


def lxd_network(*addresses: dict[str, str], name: str = "eth0") -> dict[str, Any]:
    return {"network": {"lo": {"addresses": [{"family": "inet", "address": "127.0.0.1",
                                              "scope": "local"}]},
                        name: {"addresses": list(addresses), "state": "up"}}}


@pytest.mark.parametrize(("info", "expected"), [
    (lxd_network({"family": "inet6", "address": "fe80::1", "scope": "link"},
                 {"family": "inet", "address": "10.0.3.7", "scope": "global"}), "10.0.3.7"),
    (lxd_network({"family": "inet", "address": "10.0.3.7"}), "10.0.3.7"),
    (lxd_network({"family": "inet", "address": "0.0.0.0", "scope": "global"}), None),
    (lxd_network({"family": "inet", "address": "not an address", "scope": "global"}), None),
    ({"network": {"lo": {"addresses": [{"family": "inet", "address": "127.0.0.1"}]}}}, None),
    ({"pid": 12}, None),
    ({"network": "eth0"}, None),
    (None, None),
    ("garbage", None),
])
def test_instance_address(info: Any, expected: str | None) -> None:
    assert instance_address(info) == expected


def test_the_record_carries_address_and_simulated() -> None:
    rec = {"uuid": "i", "fdu_id": "f", "node": "n", "status": "RUN",
           "hypervisor_info": {"simulated": True,
                               **lxd_network({"family": "inet", "address": "127.200.1.2"})}}
    info = instance_from_record(rec)
    assert (info.address, info.simulated) == ("127.200.1.2", True)
    bare = instance_from_record({**rec, "hypervisor_info": {"pid": 3, "simulated": False}})
    assert (bare.address, bare.simulated) == (None, False)
    assert not is_simulated({"simulated": "yes"})


def test_ip_prefers_the_own_address_and_node_ip_is_always_the_nodes() -> None:
    record = ArchitectureRecord()
    record.put("c", 0, ReplicaRecord("f0", "u0", node_id="n1", node_ip="127.0.10.1",
                                     address="10.0.3.7"))
    record.put("c", 1, ReplicaRecord("f1", "u1", node_id="n2", node_ip="127.0.10.2"))
    facts = entity_facts(record.replicas("c"))
    assert facts["ip"] == "10.0.3.7" and facts["ips"] == ["10.0.3.7", "127.0.10.2"]
    assert facts["nodeIp"] == "127.0.10.1" and facts["nodeIps"] == ["127.0.10.1", "127.0.10.2"]
    back = ArchitectureRecord.from_dict(record.to_dict())
    assert back.replicas("c")[0].address == "10.0.3.7"
    assert "address" not in record.to_dict()["entities"]["c"]["1"]


def test_simulated_replicas_are_named_at_the_architecture_level() -> None:
    record = ArchitectureRecord()
    record.put("box", 0, ReplicaRecord("f0", "u0", simulated=True))
    record.put("app", 0, ReplicaRecord("f1", "u1"))
    data = record.to_dict()
    assert data["simulated"] == ["box"]
    assert ArchitectureRecord.from_dict(data).simulated_entities() == ["box"]
    assert "simulated" not in ArchitectureRecord().to_dict()
