"""Architecture networks: schema limits, one-line validation errors, parsing, the
descriptors and ids the engine derives from them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from controller.api.models import ArchitectureSpec
from controller.api.parse import parse_document
from controller.api.validation import validate
from controller.arch.descriptor import build_descriptor
from controller.arch.fdu_model import fog05_model_problems
from controller.arch.ids import ArchitectureKey
from controller.arch.networks import network_descriptor, network_ids, plan_networks


def net(name: str = "lan", **conf: Any) -> dict[str, Any]:
    ipconf = {"subnet": "10.20.0.0/24", "gateway": "10.20.0.1", "dhcp_enable": True,
              "dhcp_range": "10.20.0.10,10.20.0.50", "dns": "10.20.0.1,9.9.9.9", **conf}
    return {"name": name, "net_type": "ELAN", "ip_configuration": ipconf}


def arch(networks: list[Any], cps: list[Any] | None = None, **fdu: Any) -> dict[str, Any]:
    body = {"name": "srv", "hypervisor": "BARE", "migration_kind": "COLD",
            "computation_requirements": {"cpu_arch": "x86_64"},
            "command": {"binary": "/bin/true"}, **fdu}
    if cps is not None:
        body["connection_points"] = cps
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
            "metadata": {"name": "netted"},
            "spec": {"networks": networks, "entities": [{"name": "srv", "fdu": body}]}}


def messages(raw: Any) -> list[str]:
    return [str(p) for p in validate(raw)]


def test_a_valid_network_and_connection_point_parse() -> None:
    raw = arch([{**net(), "uuid": "1c0e8f36-9a53-4f7e-8d51-0b6f1f7a2e44", "vlan_id": 50}],
               [{"id": "cp0", "vld_ref": "lan"}])
    assert messages(raw) == []
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    (network,) = spec.networks
    assert (network.name, network.net_type, network.vlan_id, network.is_mgmt) == (
        "lan", "ELAN", 50, False)
    assert network.ip_configuration is not None
    assert network.ip_configuration.subnet == "10.20.0.0/24"
    assert network.ip_configuration.ip_version == "IPV4"


@pytest.mark.parametrize(("networks", "cps", "expected"), [
    ([net()], [{"id": "cp0", "vld_ref": "wan"}],
     "spec.entities[0].fdu.connection_points[0].vld_ref: 'wan' names no network of this "
     "architecture (spec.networks: lan)"),
    ([], [{"id": "cp0", "vld_ref": "lan"}],
     "spec.entities[0].fdu.connection_points[0].vld_ref: 'lan' names no network of this "
     "architecture (spec.networks: none)"),
    ([net(), net()], None, "spec.networks[1].name: duplicate network name 'lan'"),
    ([net(subnet="10.20.0.5/24")], None,
     "spec.networks[0].ip_configuration.subnet: '10.20.0.5/24' is not a subnet "
     "(10.20.0.5/24 has host bits set); write it as 10.10.0.0/24"),
    ([net(subnet="banana")], None,
     "spec.networks[0].ip_configuration.subnet: 'banana' is not a subnet "
     "('banana' does not appear to be an IPv4 or IPv6 network); write it as 10.10.0.0/24"),
    ([net(gateway="10.99.0.1")], None,
     "spec.networks[0].ip_configuration.gateway: 10.99.0.1 is not inside the subnet "
     "10.20.0.0/24"),
    ([net(dhcp_range="10.20.0.50,10.20.0.10")], None,
     "spec.networks[0].ip_configuration.dhcp_range: 10.20.0.50 comes after 10.20.0.10"),
    ([net(dhcp_range="10.20.0.10")], None,
     "spec.networks[0].ip_configuration.dhcp_range: want FIRST,LAST (two addresses, "
     "comma-separated)"),
    ([net(dns="8.8.8.8;8.8.4.4")], None,
     "spec.networks[0].ip_configuration.dns: '8.8.8.8;8.8.4.4' is not an IP address (want a "
     "comma-separated list of addresses)"),
    ([net(ip_version="IPV6")], None,
     "spec.networks[0].ip_configuration.subnet: 10.20.0.0/24 is not an IPv6 subnet "
     "(ip_version IPV6)"),
    ([{**net(), "uuid": "not-a-uuid"}], None, "spec.networks[0].uuid: 'not-a-uuid' is not a uuid"),
    ([net()], [{"vld_ref": "lan"}],
     "spec.entities[0].fdu.connection_points[0].id: required: the connection point's id "
     "(interfaces' cp_id may name it)"),
    ([net()], [{"id": "a", "vld_ref": "lan"}, {"id": "a", "vld_ref": "lan"}],
     "spec.entities[0].fdu.connection_points[1].id: duplicate connection point id 'a'"),
])
def test_bad_networks_are_one_line_each(networks: list[Any], cps: list[Any] | None,
                                        expected: str) -> None:
    found = messages(arch(networks, cps))
    assert expected in found, found
    assert all("\n" not in m for m in found)


def test_schema_bounds_networks() -> None:
    many = [net(f"n{i}") for i in range(33)]
    assert any("spec.networks" in m and "32" in m for m in messages(arch(many)))
    odd = {**net(), "net_type": "ELINE"}
    assert any("net_type" in m for m in messages(arch([odd])))
    vlan = {**net(), "vlan_id": 5000}
    assert any("vlan_id" in m for m in messages(arch([vlan])))
    unknown = {**net(), "colour": "blue"}
    assert any("colour" in m for m in messages(arch([unknown])))
    cps = [{"id": f"c{i}", "vld_ref": "lan"} for i in range(17)]
    assert any("connection_points" in m and "16" in m for m in messages(arch([net()], cps)))


def test_descriptor_gets_per_replica_connection_points_on_the_networks_uuid() -> None:
    raw = arch([net()], [{"id": "cp0", "name": "eth1", "vld_ref": "lan"}],
               interfaces=[{"name": "eth1", "is_mgmt": False, "if_type": "INTERNAL",
                            "cp_id": "cp0"}])
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    key = ArchitectureKey("default", "as1", "netted")
    nets = network_ids(key, spec.networks)
    (ent,) = spec.entities
    first = build_descriptor(ent, "fs.x.srv.0", networks=nets)
    second = build_descriptor(ent, "fs.x.srv.1", networks=nets)
    cp0, cp1 = first["connection_points"][0], second["connection_points"][0]
    assert cp0["vld_ref"] == cp1["vld_ref"] == nets["lan"]
    assert cp0["uuid"] != cp1["uuid"]
    assert first["interfaces"][0]["cp_id"] == cp0["uuid"]
    assert build_descriptor(ent, "fs.x.srv.0", networks=nets) == first  # deterministic
    uuid.UUID(cp0["uuid"])


def test_network_ids_are_per_active_strategy_and_deterministic() -> None:
    spec = parse_document(arch([net()])).spec
    assert isinstance(spec, ArchitectureSpec)
    a = ArchitectureKey("default", "as1", "netted")
    b = ArchitectureKey("default", "as2", "netted")
    assert network_ids(a, spec.networks) == network_ids(a, spec.networks)
    assert network_ids(a, spec.networks) != network_ids(b, spec.networks)
    desc = network_descriptor(a, spec.networks[0])
    assert desc["uuid"] == network_ids(a, spec.networks)["lan"]
    assert desc["ip_configuration"]["dhcp_range"] == "10.20.0.10,10.20.0.50"
    plan = plan_networks(a, spec.networks, spec.entities, {"srv": 3})
    assert plan.ids == {desc["uuid"]} and plan.cp_ids == frozenset()


def test_fog05_model_accepts_the_descriptor_with_connection_points() -> None:
    raw = arch([net()], [{"id": "cp0", "vld_ref": "lan"}],
               interfaces=[{"name": "eth1", "is_mgmt": False, "if_type": "INTERNAL",
                            "cp_id": "cp0"}])
    assert fog05_model_problems(raw) == []
