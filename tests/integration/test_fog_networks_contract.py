"""The FogClient contract for virtual networks, on both drivers.

Same fogs as ``test_fog_contract.py`` (a real ``fogsim serve``; the real fog05 FIMAPI
over the YAKS stand-in): networks and connection points are added, connected, refused
when in use, give an instance the network's address, and are removed without a trace.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import pytest
import requests

from controller.fog.client import IllegalTransition, InvalidDescriptor, NotFound
from tests.integration.test_fog_contract import (  # noqa: F401 - fixtures, by name
    Fog,
    descriptor,
    fog05_fog,
    fogsim_fog,
    nodes_file,
    sim,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fogsim", "fog05"])
def net_fog(request: pytest.FixtureRequest) -> Fog:
    return request.getfixturevalue(f"{request.param}_fog")  # type: ignore[no-any-return]

LOOPBACK_POOL = ipaddress.IPv4Network("127.64.0.0/10")


def network(name: str = "net", **ipconf: Any) -> dict[str, Any]:
    conf = {"ip_version": "IPV4", "subnet": "10.77.0.0/24", "gateway": "10.77.0.1",
            "dhcp_enable": True, "dhcp_range": "10.77.0.10,10.77.0.20",
            "dns": "10.77.0.1", **ipconf}
    return {"uuid": str(uuid.uuid4()), "name": name, "net_type": "ELAN", "is_mgmt": False,
            "ip_configuration": conf}


def cp(name: str = "cp0") -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "id": name, "name": name}


def test_network_and_connection_point_lifecycle(net_fog: Fog) -> None:
    c = net_fog.client
    net = network("lab")
    net_id = c.add_network(net)
    assert net_id == net["uuid"]
    assert c.add_network(net) == net_id  # idempotent
    listed = {n.uuid: n for n in c.list_networks()}
    assert listed[net_id].name == "lab"
    assert listed[net_id].descriptor["ip_configuration"]["subnet"] == "10.77.0.0/24"

    port = cp()
    added = c.add_connection_point(port)
    assert (added.uuid, added.network_id, added.address) == (port["uuid"], None, None)
    assert c.add_connection_point(port).uuid == port["uuid"]  # idempotent
    connected = c.connect_cp(port["uuid"], net_id)
    assert connected.network_id == net_id
    assert connected.address is not None
    assert ipaddress.IPv4Address(connected.address) in LOOPBACK_POOL
    assert c.connect_cp(port["uuid"], net_id).address == connected.address  # no-op
    assert {p.uuid: p.network_id for p in c.list_connection_points()}[port["uuid"]] == net_id

    with pytest.raises(IllegalTransition):
        c.remove_network(net_id)  # a connection point is connected to it

    other = c.add_network(network("other", subnet="10.78.0.0/24", gateway="10.78.0.1",
                                  dhcp_range="10.78.0.10,10.78.0.20"))
    with pytest.raises(IllegalTransition):
        c.connect_cp(port["uuid"], other)

    assert c.disconnect_cp(port["uuid"]).network_id is None
    c.remove_connection_point(port["uuid"])
    assert port["uuid"] not in {p.uuid for p in c.list_connection_points()}
    c.remove_network(net_id)
    c.remove_network(other)
    assert not {net_id, other} & {n.uuid for n in c.list_networks()}


def test_connection_points_get_distinct_addresses_at_the_subnets_positions(net_fog: Fog) -> None:
    c = net_fog.client
    net_id = c.add_network(network("pair"))
    first, second = cp("a"), cp("b")
    addresses = []
    for port in (first, second):
        c.add_connection_point(port)
        addresses.append(c.connect_cp(port["uuid"], net_id).address)
    a, b = (ipaddress.IPv4Address(x) for x in addresses if x)
    assert a != b and int(b) == int(a) + 1  # the DHCP range's first two hosts
    for port in (first, second):
        c.remove_connection_point(port["uuid"])
    c.remove_network(net_id)


def test_an_instance_reports_its_connection_points_address(net_fog: Fog) -> None:
    c = net_fog.client
    net_id = c.add_network(network("inst"))
    port = cp("eth1")
    c.add_connection_point(port)
    address = c.connect_cp(port["uuid"], net_id).address
    desc = descriptor("net", connection_points=[{**port, "vld_ref": net_id}],
                      interfaces=[{"name": "eth1", "is_mgmt": False, "if_type": "INTERNAL",
                                   "cp_id": port["uuid"]}])
    fid = c.onboard(desc)
    inst = c.define(fid, net_fog.nodes["alpha"])
    assert c.instance_info(inst.instance_id).address == address
    c.undefine(inst.instance_id)
    c.offload(fid)
    c.remove_connection_point(port["uuid"])
    c.remove_network(net_id)


def test_unknown_network_ids_are_not_found(net_fog: Fog) -> None:
    c = net_fog.client
    ghost = str(uuid.uuid4())
    with pytest.raises(NotFound):
        c.remove_network(ghost)
    with pytest.raises(NotFound):
        c.remove_connection_point(ghost)
    with pytest.raises(NotFound):
        c.connect_cp(ghost, ghost)
    port = cp()
    c.add_connection_point(port)
    with pytest.raises(NotFound):
        c.connect_cp(port["uuid"], ghost)
    c.remove_connection_point(port["uuid"])


@pytest.mark.parametrize("bad_uuid", [None, "", 7])
def test_a_descriptor_without_a_uuid_is_refused_before_the_fog_is_asked(
        net_fog: Fog, bad_uuid: Any) -> None:
    c = net_fog.client
    with pytest.raises(InvalidDescriptor) as net_error:
        c.add_network({**network(), "uuid": bad_uuid})
    assert str(net_error.value) == "add network: descriptor has no 'uuid'"
    with pytest.raises(InvalidDescriptor) as cp_error:
        c.add_connection_point({**cp(), "uuid": bad_uuid})
    assert str(cp_error.value) == "add connection point: descriptor has no 'uuid'"
    assert c.list_networks() == [] and c.list_connection_points() == []


def test_fogsim_refuses_a_bad_network_descriptor(request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("fogsim_fog").client
    bad = network("bad", subnet="10.1.2.3/24")  # host bits set
    with pytest.raises(InvalidDescriptor) as ei:
        client.add_network(bad)
    assert "subnet" in str(ei.value) and "\n" not in str(ei.value)


def test_fogsim_network_routes_answer_bad_requests_with_an_error(
        request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sim").url
    ghost = str(uuid.uuid4())
    cases = [
        ("PUT", f"/networks/{ghost}/info", ["not", "an", "object"], 400, "must be a JSON object"),
        ("PUT", f"/networks/{ghost}/info", network(), 400, "is not the descriptor's uuid"),
        ("PUT", f"/networks/{ghost}/info", {**network(), "uuid": ghost, "net_type": "MESH"},
         400, "net_type"),
        ("PUT", f"/networks/{ghost}/info",
         {**network(dhcp_range="10.77.0.10,10.99.0.20"), "uuid": ghost}, 400, "dhcp_range"),
        ("PUT", "/networks/not-a-uuid/info", {**network(), "uuid": "not-a-uuid"}, 400,
         "bad uuid"),
        ("PUT", f"/networks/ports/{ghost}/info", "x", 400,
         "invalid connection point descriptor: must be a JSON object"),
        ("PUT", f"/networks/ports/{ghost}/info", {"uuid": str(uuid.uuid4())}, 400,
         "is not the descriptor's uuid"),
        ("POST", f"/networks/ports/{ghost}/connect", {"net": 1}, 400, "network"),
        ("POST", f"/networks/ports/{ghost}/teleport", None, 404, "unknown action teleport"),
        ("POST", f"/networks/ports/{ghost}/disconnect", None, 404, "not found"),
        ("POST", f"/networks/ports/{ghost}/connect", {"network": ghost}, 404, "not found"),
        ("DELETE", f"/networks/{ghost}/info", None, 404, "not found"),
        ("GET", f"/networks/ports/{ghost}/info", None, 404, "not found"),
    ]
    for method, path, body, status, text in cases:
        resp = requests.request(method, url + path, json=body, timeout=5)
        assert resp.status_code == status, (method, path, resp.text)
        error = resp.json()["error"]
        assert text in error and "\n" not in error, (path, error)


def test_fogsim_says_who_holds_a_network_it_will_not_remove(
        request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("fogsim_fog").client
    url = request.getfixturevalue("sim").url
    net_id = client.add_network(network("held"))
    port = cp()
    client.add_connection_point(port)
    client.connect_cp(port["uuid"], net_id)
    resp = requests.delete(f"{url}/networks/{net_id}/info", timeout=5)
    assert resp.status_code == 409 and resp.json()["users"] == [port["uuid"]]
    client.remove_connection_point(port["uuid"])  # disconnects it too
    client.remove_network(net_id)
