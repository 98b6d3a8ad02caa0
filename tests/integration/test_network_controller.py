"""Architecture networks through the real controller: real etcd, real fogsim, real
``fogstrat controller`` processes.

A strategy whose architecture declares a network serves over it, and deleting it leaves
nothing on the fog; a controller killed mid-deploy, with the ActiveStrategy deleted
while it was down, leaves nothing either once a controller runs again: the networks
are found by their derived ids.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.etcd import EtcdServer
from tests.support.fogsim import free_port
from tests.support.scenario import Scenario, active_strategy, doc, environment, wait_for

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "fixtures" / "arch" / "app.py")


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd, lease_ttl=3) as scenario:
        yield scenario


def _fdu(args: list[str]) -> dict[str, Any]:
    return {"name": "app", "hypervisor": "BARE", "migration_kind": "COLD",
            "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 32},
            "command": {"binary": sys.executable, "args": args},
            "connection_points": [{"id": "cp0", "name": "eth1", "vld_ref": "svc-net"}],
            "interfaces": [{"name": "eth1", "is_mgmt": False, "if_type": "INTERNAL",
                            "cp_id": "cp0"}]}


def netted(port: int, *, stuck_port: int | None = None) -> dict[str, Any]:
    """``store`` serving on its svc-net address and a serve-phase ``client`` of it; with
    ``stuck_port``, also ``stuck``, whose readiness probe (nothing listens there) never
    passes, so the deploy is still running when the test wants it."""
    entities: list[dict[str, Any]] = [
        {"name": "store", "fdu": _fdu([APP, "server", str(port)]),
         "env": {"BIND_IP": "{{ entities.store.ip }}"}},
        {"name": "client", "phase": "serve", "fdu": _fdu([APP, "client"]),
         "env": {"TARGET": f"http://{{{{ entities.store.ip }}}}:{port}"}},
    ]
    probes: list[dict[str, Any]] = [{"entity": "store", "http": {"port": port,
                                                                  "path": "/healthz"}}]
    if stuck_port is not None:
        entities.insert(1, {"name": "stuck", "dependsOn": ["store"],
                            "fdu": _fdu(["-c", "import time; time.sleep(600)"])})
        probes.append({"entity": "stuck", "tcp": {"port": stuck_port}})
    return doc("Architecture", "netted", {
        "networks": [{"name": "svc-net", "ip_configuration": {
            "subnet": "10.42.0.0/24", "gateway": "10.42.0.1", "dhcp_enable": True,
            "dhcp_range": "10.42.0.10,10.42.0.99"}}],
        "entities": entities,
        "health": {"interval": "1s", "timeout": "1s", "probes": probes},
    })


def documents(s: Scenario, arch: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        environment("lab", s.sim.url),
        arch,
        doc("Strategy", "web", {"main": {"architecture": "netted"},
                                "policy": {"deployTimeout": "120s"}}),
        active_strategy(s.name, "web", "lab"),
    ]


def fog_holds(s: Scenario) -> dict[str, int]:
    st = s.state()
    return {k: len(st[k]) for k in ("fdus", "instances", "networks", "connection_points")
            if st[k]}


def address_of(s: Scenario) -> str:
    """The network address of the first instance whose FDU id names ``store``."""
    st = s.state()
    ids = {f["uuid"]: f["id"] for f in st["fdus"]}
    for inst in st["instances"]:
        if ".store." in ids.get(inst["fdu_id"], ""):
            net = inst["hypervisor_info"].get("network") or {}
            return str(net["eth1"]["addresses"][0]["address"])
    raise AssertionError("no store instance")


def test_a_strategy_serves_over_its_network_and_deleting_it_leaves_nothing(
        s: Scenario) -> None:
    port = free_port()
    s.given.documents(*documents(s, netted(port))).controller()
    s.then.phase_is("Serving", active="netted", timeout=60)
    store = address_of(s)
    assert store.startswith("127.")
    assert fog_holds(s) == {"fdus": 2, "instances": 2, "networks": 1,
                            "connection_points": 2}

    def client_hits() -> bool:
        hits = requests.get(f"http://{store}:{port}/stats", timeout=5).json()["hits"]
        return bool(hits)

    wait_for(client_hits, 30, "the client reaching the store on its network address",
             s.describe)
    s.when.fogstrat("delete", "activestrategy", s.name)
    wait_for(lambda: not fog_holds(s), 60, "the fog to be empty", s.describe)


def test_a_controller_killed_mid_deploy_leaves_no_network_behind(s: Scenario) -> None:
    port = free_port()
    s.given.documents(*documents(s, netted(port, stuck_port=free_port()))).controller()

    def mid_deploy() -> bool:
        st = s.state()
        return bool(st["networks"]) and any(i["status"] == "RUN" for i in st["instances"])

    wait_for(mid_deploy, 60, "the network and the store running", s.describe)
    s.when.controller_killed()
    assert fog_holds(s)["networks"] == 1
    s.when.fogstrat("delete", "activestrategy", s.name)
    s.when.controller_restarted()
    wait_for(lambda: not fog_holds(s), 60, "the fog to be empty", s.describe)
