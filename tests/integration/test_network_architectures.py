"""Architectures with fog05 virtual networks, on both driver paths (fogsim over HTTP; the
real fog05 FIMAPI over the YAKS stand-in, running real processes).

A server attached to a network binds its address on that network (fogsim gives it one
on the network's loopback block) and a serve-phase client reaches it there; undeploy
leaves nothing (networks and connection points included), also when the deploy died
half-way and the record of what it created is lost.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from controller.api.models import ArchitectureSpec
from controller.api.parse import parse_document
from controller.arch import ArchitectureKey, DeclarativeArchitecture
from controller.arch.errors import ArchitectureError
from controller.arch.factory import build_architecture
from controller.arch.ids import owns
from controller.arch.networks import network_ids
from controller.fog.cache import CachedFog
from controller.fog.client import FogClient, FogUnavailable, NotFound
from tests.integration.test_fog05_path import (  # noqa: F401 - fixtures, by name
    OPTIONS,
    FogPath,
    fog05_path,
    fogsim_path,
    sim,
)
from tests.support.fogsim import free_port
from tests.support.scenario import wait_for

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "fixtures" / "arch" / "app.py")
LOOPBACK_POOL = ipaddress.IPv4Network("127.64.0.0/10")


@pytest.fixture(params=["fogsim", "fog05"])
def path(request: pytest.FixtureRequest) -> FogPath:
    return request.getfixturevalue(f"{request.param}_path")  # type: ignore[no-any-return]


def fdu(*args: str, binary: str = sys.executable, cp: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "app", "hypervisor": "BARE", "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 32},
        "command": {"binary": binary, "args": [APP, *args]},
    }
    if cp:
        body["connection_points"] = [{"id": "cp0", "name": "eth1", "vld_ref": "lab-net"}]
        body["interfaces"] = [{"name": "eth1", "is_mgmt": False, "if_type": "INTERNAL",
                               "cp_id": "cp0"}]
    return body


def spec_of(port: int, *, second: dict[str, Any] | None = None) -> ArchitectureSpec:
    """store (on lab-net, binding its address there) and a serve-phase client reaching it
    there; ``second``: a deploy-phase entity after store."""
    entities: list[dict[str, Any]] = [
        {"name": "store", "fdu": fdu("server", str(port)),
         "env": {"BIND_IP": "{{ entities.store.ip }}"}},
        {"name": "client", "phase": "serve", "fdu": fdu("client"),
         "env": {"TARGET": f"http://{{{{ entities.store.ip }}}}:{port}"}},
    ]
    if second is not None:
        entities.insert(1, second)
    raw = {
        "apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
        "metadata": {"name": "netted"},
        "spec": {
            "networks": [{"name": "lab-net", "net_type": "ELAN", "is_mgmt": False,
                          "ip_configuration": {"subnet": "192.168.234.0/24",
                                               "gateway": "192.168.234.1",
                                               "dhcp_enable": True,
                                               "dhcp_range": "192.168.234.2,192.168.234.100",
                                               "dns": "192.168.234.1"}}],
            "entities": entities,
            "health": {"timeout": "1s", "probes": [
                {"entity": "store", "http": {"port": port, "path": "/healthz"}}]},
        },
    }
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    return spec


def new_arch(path: FogPath, spec: ArchitectureSpec, tag: str,
             fog: FogClient | None = None) -> DeclarativeArchitecture:
    key = ArchitectureKey("default", f"net-{path.kind}-{tag}", "netted")
    arch = build_architecture(key, spec, options=OPTIONS)
    assert isinstance(arch, DeclarativeArchitecture)
    arch.configure({})
    arch.associate(fog or path.client, path.environment)
    return arch


def leftovers(path: FogPath, arch: DeclarativeArchitecture) -> list[str]:
    """What of ``arch`` the fog still has: FDUs, networks, connection points."""
    c = path.client
    out = []
    for uid in c.list_fdus():
        try:
            if owns(arch.key, str(c.fdu_info(uid).get("id", ""))):
                out.append(f"FDU {uid}")
        except NotFound:
            continue
    ours = set(network_ids(arch.key, arch.networks()).values())
    out += [f"network {n.uuid}" for n in c.list_networks() if n.uuid in ours]
    out += [f"connection point {p.uuid}" for p in c.list_connection_points()
            if p.network_id in ours]
    return out


def test_network_architecture_deploys_serves_and_leaves_nothing(path: FogPath) -> None:
    port = free_port()
    arch = new_arch(path, spec_of(port), "life")
    try:
        arch.deploy()
        (store,) = arch.record.replicas("store")
        assert store.address and store.address != store.node_ip
        assert ipaddress.IPv4Address(store.address) in LOOPBACK_POOL
        stats = requests.get(f"http://{store.address}:{port}/stats", timeout=5).json()
        assert stats["instance"] == store.instance_id
        with pytest.raises(requests.ConnectionError):  # bound to the network address only
            requests.get(f"http://{store.node_ip}:{port}/healthz", timeout=5)
        net_id = network_ids(arch.key, arch.networks())["lab-net"]
        assert net_id in {n.uuid for n in path.client.list_networks()}
        assert arch.observe().networks == (net_id,)
        assert arch.check_status().health.value == "Healthy"

        arch.serve()
        (client,) = arch.record.replicas("client")
        assert client.address and client.address != store.address
        env = path.env_of(client.instance_id or "")
        assert env["TARGET"] == f"http://{store.address}:{port}"

        def client_reached_store() -> bool:
            hits = requests.get(f"http://{store.address}:{port}/stats", timeout=5).json()
            return bool(hits["hits"].get(client.instance_id, 0))

        wait_for(client_reached_store, 30, "the client's requests over the network")
        arch.unserve()  # the client's connection point goes with it
        on_net = [p.uuid for p in path.client.list_connection_points()
                  if p.network_id == net_id]
        assert len(on_net) == 1
    finally:
        arch.undeploy()
    assert leftovers(path, arch) == []
    assert not arch.observe().exists


def test_undeploy_after_a_deploy_died_halfway_leaves_nothing(path: FogPath) -> None:
    port = free_port()
    broken = {"name": "worker", "fdu": fdu("server", str(port), binary="/nonexistent/python"),
              "dependsOn": ["store"]}
    spec = spec_of(port, second=broken)
    arch = new_arch(path, spec, "half")
    with pytest.raises(ArchitectureError):
        arch.deploy()
    assert arch.record.replicas("store")[0].address  # store and its network were there
    # a controller that lost the record: only the derived ids find what is there
    again = new_arch(path, spec, "half")
    seen = again.observe()
    assert seen.exists and seen.networks
    again.undeploy()
    assert leftovers(path, again) == []


class _DiesOnOnboard(CachedFog):
    """The fog as seen by a controller that dies right after creating the networks."""

    def onboard(self, descriptor: Any, *, timeout: float | None = None) -> str:
        raise FogUnavailable("onboard: the controller died here")


def test_networks_alone_count_as_there_and_are_removed(path: FogPath) -> None:
    spec = spec_of(free_port())
    arch = new_arch(path, spec, "early", fog=_DiesOnOnboard(path.client))
    with pytest.raises(ArchitectureError):
        arch.deploy()
    fresh = new_arch(path, spec, "early")
    seen = fresh.observe()
    assert seen.exists and seen.networks and not any(r.fdu_exists for r in seen.replicas)
    fresh.undeploy()
    assert leftovers(path, fresh) == []
    assert not fresh.observe().exists
