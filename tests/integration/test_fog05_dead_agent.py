"""The fog05 driver facing a node that died with its agent, as a real fog05 0.2 leaves
it: its records stay in the store (instances ``RUN``), no change of them is published and
its evals answer nothing (or hang). The REAL ``fog05.FIMAPI`` runs over the YAKS stand-in
(:mod:`tests.support.yaks_standin`); the driver's agent watch runs on its own thread, so
every wait polls a state with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.api.models import ArchitectureDataSpec, ArchitectureSpec, EnvironmentSpec
from controller.api.parse import parse_document
from controller.arch import ArchitectureKey, DeclarativeArchitecture, EngineOptions
from controller.arch.factory import build_architecture
from controller.fog.client import FeedCursor, FogChange, FogChangeKind, NotFound
from controller.fog.fog05_driver import Fog05Client
from tests.support.scenario import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

NODES_YAML = """\
nodes:
  - {name: alpha, ip: 127.0.10.101, arch: x86_64, cores: 4, ramMB: 4096, diskGB: 40}
  - {name: beta, ip: 127.0.10.102, arch: x86_64, cores: 2, ramMB: 2048, diskGB: 20}
"""


@dataclass
class DeadAgentFog:
    client: Fog05Client
    standin: Any
    nodes: dict[str, str]  # name -> uuid

    def running(self, name: str) -> tuple[str, str]:
        """A new FDU with an instance in RUN on node ``name``: (fdu id, instance id)."""
        fid = self.client.onboard(descriptor())
        iid = self.client.define(fid, self.nodes[name]).instance_id
        self.client.configure(iid)
        self.client.start(iid)
        return fid, iid

    def stored_state(self, iid: str) -> str | None:
        entries = self.standin.get(f"/agfos/0/tenants/0/nodes/*/fdu/*/instances/{iid}/info")
        return json.loads(entries[0].get_value().get_value())["status"] if entries else None

    def listed(self, name: str) -> bool:
        return self.nodes[name] in self.client.list_nodes(timeout=5.0)


def descriptor() -> dict[str, Any]:
    fid = f"dead-agent-{uuid.uuid4().hex[:8]}"
    return {"id": fid, "name": fid, "hypervisor": "BARE", "migration_kind": "LIVE",
            "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
            "command": {"binary": "/bin/sleep", "args": ["30"]}}


@contextlib.contextmanager
def dead_agent_fog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, processes: bool
                   ) -> Iterator[DeadAgentFog]:
    from controller.fog import fog05_compat

    fog05_compat.install_collections_shim()
    from fogsim.engine import Engine
    from fogsim.nodes import load_nodes

    from tests.support.yaks_standin import YaksStandin, install

    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(NODES_YAML)
    engine = Engine(load_nodes(nodes), no_processes=not processes,
                    workdir=tmp_path / "fog", stop_grace=1.0)
    standin = YaksStandin(engine)
    install(monkeypatch, standin)
    client = Fog05Client("127.0.0.1:7447", timeout=5.0, agent_timeout=0.5)
    names = {engine.node_info(n)["name"]: n for n in engine.node_list()}
    try:
        yield DeadAgentFog(client, standin, names)
    finally:
        for node in names.values():
            standin.unhang(node)
        client.close()
        standin.close()
        engine.close()


@pytest.fixture
def fog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeadAgentFog]:
    with dead_agent_fog(tmp_path, monkeypatch, processes=False) as f:
        yield f


def _changes_until(client: Fog05Client, cursor: FeedCursor, wanted: set[tuple[str, str]]
                   ) -> list[FogChange]:
    """Read the feed on from ``cursor`` until it told every (kind, id) in ``wanted`` as
    gone."""
    seen: list[FogChange] = []

    def told() -> bool:
        nonlocal cursor
        feed = client.watch_instances(cursor, wait=0.5, timeout=5.0)
        cursor = feed.cursor
        seen.extend(feed.changes)
        return wanted <= {(c.kind.value, c.id) for c in seen if c.gone}

    wait_for(told, 60, "the feed to tell the dead agent's node and instance gone",
             lambda: repr(seen)[:3000])
    return seen


def test_a_dead_agents_node_is_gone_and_its_records_are_stale(fog: DeadAgentFog) -> None:
    c = fog.client
    fid, iid = fog.running("alpha")
    _, other = fog.running("beta")
    cursor = c.watch_instances(None, wait=0, timeout=5.0).cursor
    assert fog.listed("alpha")

    fog.standin.agent_dies("alpha")
    wait_for(lambda: not fog.listed("alpha"), 60, "alpha to count as gone")
    assert fog.stored_state(iid) == "RUN"  # the store still says so: stale

    with pytest.raises(NotFound):
        c.instance_info(iid)
    assert iid not in c.all_instances() and other in c.all_instances()
    assert c.instances(fid) == {}
    with pytest.raises(NotFound):  # an undeploy finds nothing left to stop
        c.stop(iid)
    c.offload(fid)  # the stale record is no user of the FDU
    assert fid not in c.list_fdus()
    with pytest.raises(NotFound, match="is gone"):
        c.define(c.onboard(descriptor()), fog.nodes["alpha"])
    assert fog.listed("beta") and c.instance_info(other).state.value == "RUN"

    _changes_until(c, cursor, {(FogChangeKind.NODE.value, fog.nodes["alpha"]),
                               (FogChangeKind.INSTANCE.value, iid)})

    fog.standin.agent_returns("alpha")
    wait_for(lambda: fog.listed("alpha"), 60, "alpha back with a fresh agent")
    _, again = fog.running("alpha")
    assert c.instance_info(again).state.value == "RUN"


def test_a_hung_agent_counts_as_dead_with_or_without_instances(fog: DeadAgentFog) -> None:
    """Evals to the agent that never return: its node is gone once the question outlives
    the agent timeout, whether something runs there or not; the other node stays."""
    _, iid = fog.running("alpha")
    assert fog.listed("alpha") and fog.listed("beta")
    fog.standin.hang_agent(fog.nodes["alpha"])
    wait_for(lambda: not fog.listed("alpha"), 60, "alpha to count as gone")
    assert fog.listed("beta")
    with pytest.raises(NotFound):
        fog.client.instance_info(iid)
    fog.standin.hang_agent(fog.nodes["beta"])  # nothing runs on beta
    wait_for(lambda: not fog.listed("beta"), 60, "beta to count as gone")
    fog.standin.unhang(fog.nodes["beta"])
    wait_for(lambda: fog.listed("beta"), 60, "beta back once its agent answers")


def test_a_hung_plugin_is_no_dead_node_and_no_definite_failure(fog: DeadAgentFog) -> None:
    """The agent answers its own eval while the plugin behind the instance's ``log``
    does not: the node stays listed, its instance stays readable (nothing says it is
    gone), and the node is only marked hung until the plugin answers again."""
    c = fog.client
    _, iid = fog.running("alpha")
    assert fog.listed("alpha")
    cursor = c.watch_instances(None, wait=0, timeout=5.0).cursor
    fog.standin.hang_plugin(fog.nodes["alpha"])
    wait_for(lambda: c.agents.liveness.is_hung(fog.nodes["alpha"]), 60,
             "alpha's plugin to count as hung")
    assert fog.listed("alpha") and not c.agents.liveness.is_dead(fog.nodes["alpha"])
    assert c.instance_info(iid).state.value == "RUN"
    assert iid in c.all_instances()
    feed = c.watch_instances(cursor, wait=0.5, timeout=5.0)  # fail-fast hears nothing
    assert not feed.relisted and not [ch for ch in feed.changes if ch.gone]
    fog.standin.unhang(fog.nodes["alpha"])
    wait_for(lambda: not c.agents.liveness.is_hung(fog.nodes["alpha"]), 60,
             "alpha's plugin to answer again")
    assert fog.listed("alpha")


def test_a_dead_agents_connection_points_are_stale(fog: DeadAgentFog) -> None:
    """A connection point on the dead node's agent is as good as removed: not listed, and
    removing it finds nothing to wait for (not found: what an undeploy takes as done)."""
    c = fog.client
    net_id = c.add_network({"uuid": str(uuid.uuid4()), "name": "lab", "net_type": "ELAN",
                            "is_mgmt": False, "ip_configuration": {
                                "ip_version": "IPV4", "subnet": "10.77.0.0/24"}})
    port = {"uuid": str(uuid.uuid4()), "id": "cp0", "name": "cp0"}
    c.add_connection_point(port)
    c.connect_cp(port["uuid"], net_id)
    holder = fog.standin.port_node(port["uuid"])
    name = next(n for n, u in fog.nodes.items() if u == holder)
    fog.running(name)
    fog.standin.agent_dies(name)
    wait_for(lambda: not fog.listed(name), 60, f"{name} to count as gone")
    assert port["uuid"] not in {p.uuid for p in c.list_connection_points()}
    with pytest.raises(NotFound):
        c.remove_connection_point(port["uuid"], timeout=2.0)


def sleepers(name: str, replicas: int) -> ArchitectureSpec:
    raw = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
           "metadata": {"name": name}, "spec": {"entities": [
               {"name": "sleeper", "replicas": replicas,
                "fdu": {"hypervisor": "BARE", "command": {"binary": "/bin/sleep",
                                                          "args": ["600"]},
                        "computation_requirements": {"cpu_arch": "x86_64",
                                                     "ram_size_mb": 64}}}]}}
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    return spec


def deployed_on(fog: DeadAgentFog, name: str, replicas: int) -> list[str]:
    """The architecture ``name`` deployed (real processes), undeployed again: the names of
    the nodes its replicas ran on."""
    key = ArchitectureKey("default", "dead-agent", name)
    arch = build_architecture(key, sleepers(name, replicas), options=EngineOptions(
        deploy_timeout=60, undeploy_timeout=60, poll_interval=0.1))
    assert isinstance(arch, DeclarativeArchitecture)
    arch.configure({})
    arch.associate(fog.client, EnvironmentSpec("fog05", "127.0.0.1:7447", timeout=5.0,
                                               agent_timeout=0.5), None)
    data = ArchitectureDataSpec(name, "none", str(REPO), str(REPO))
    try:
        arch.deploy(data)
        return [str(r.node_name) for r in arch.record.replicas("sleeper")]
    finally:
        arch.undeploy()


def test_a_dead_node_with_nothing_running_is_no_placement_candidate_until_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """alpha, the node placement prefers (the larger, first by name, both empty), dies
    with nothing on it: both replicas land on beta; once alpha's agent answers again it
    is a candidate again, and the next deploy lands there."""
    with dead_agent_fog(tmp_path, monkeypatch, processes=True) as fog:
        assert fog.listed("alpha") and fog.listed("beta")
        fog.standin.agent_dies("alpha")
        wait_for(lambda: not fog.listed("alpha"), 60, "alpha to count as gone")
        assert deployed_on(fog, "while-alpha-is-dead", 2) == ["beta", "beta"]
        fog.standin.agent_returns("alpha")
        wait_for(lambda: fog.listed("alpha"), 60, "alpha back with a fresh agent")
        assert deployed_on(fog, "after-alpha-returns", 1) == ["alpha"]
