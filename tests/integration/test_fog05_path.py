"""The architecture engine on both driver paths: fogsim over HTTP, and the fog05 driver
driving the REAL ``fog05.FIMAPI`` over the in-process YAKS stand-in (fogsim's engine
behind fog05's key layout, running real processes).

What a fog05 user meets first: the bundled example architectures, CPU architecture
aliases, env values fog05 can carry, and addresses in templates.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from controller.api.documents import load_path
from controller.api.models import (
    ActiveStrategySpec,
    ArchitectureDataSpec,
    ArchitectureSpec,
    EnvironmentSpec,
    HttpCheck,
    TcpCheck,
)
from controller.api.parse import parse_document
from controller.arch import ArchitectureKey, DeclarativeArchitecture, EngineOptions
from controller.arch.factory import build_architecture
from controller.fog.client import FogClient, InstanceState
from controller.fog.factory import make_fog_client
from tests.support.fogsim import EXAMPLE_NODES, FogsimServer, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
WORKLOADS = EXAMPLES / "workloads"
OPTIONS = EngineOptions(deploy_timeout=60, undeploy_timeout=60, poll_interval=0.1)


@dataclass
class FogPath:
    """One driver path: the client the engine uses and the Environment naming it."""

    kind: str
    client: FogClient
    environment: EnvironmentSpec
    engine: Any = None  # fogsim's engine behind the fog05 stand-in
    sim: FogsimServer | None = None

    def env_of(self, instance_id: str) -> dict[str, str]:
        """The env an instance was started with, as the simulator recorded it."""
        if self.sim is not None:
            url = f"{self.sim.url}/fdu/instances/{instance_id}/info"
            return dict(requests.get(url, timeout=5).json()["env"])
        return dict(self.engine.instance_info(instance_id)["env"])


@pytest.fixture(scope="module")
def sim() -> Iterator[FogsimServer]:
    with FogsimServer(EXAMPLE_NODES, stop_grace=1.0) as server:
        yield server


def lab(driver: str, locator: str, **labels: dict[str, str]) -> EnvironmentSpec:
    """The example Environment, on ``driver`` at ``locator``, with more node labels."""
    (raw,) = load_path(EXAMPLES / "00-environment-lab.yaml")
    spec = parse_document(raw).spec
    assert isinstance(spec, EnvironmentSpec)
    return dataclasses.replace(spec, driver=driver, locator=locator, timeout=5.0,  # type: ignore[arg-type]
                               node_labels={**spec.node_labels, **labels})


def connect(env: EnvironmentSpec) -> FogClient:
    return make_fog_client(env.driver, env.locator, timeout=env.timeout,
                           node_labels=env.node_labels)


@pytest.fixture
def fogsim_path(sim: FogsimServer) -> Iterator[FogPath]:
    env = lab("fogsim", sim.url)
    client = connect(env)
    yield FogPath("fogsim", client, env, sim=sim)
    client.close()


@pytest.fixture
def fog05_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[FogPath]:
    from controller.fog import fog05_compat

    fog05_compat.install_collections_shim()
    from fogsim.engine import Engine
    from fogsim.nodes import load_nodes

    from tests.support.yaks_standin import YaksStandin, install

    with tempfile.TemporaryDirectory(prefix="fogstrat-fog05-path-") as work:
        engine = Engine(load_nodes(EXAMPLE_NODES), workdir=Path(work), stop_grace=1.0)
        standin = YaksStandin(engine)
        install(monkeypatch, standin)
        env = lab("fog05", "127.0.0.1:7447")
        client = connect(env)
        try:
            yield FogPath("fog05", client, env, engine)
        finally:
            client.close()
            standin.close()
            engine.close()


@pytest.fixture(params=["fogsim", "fog05"])
def fog_path(request: pytest.FixtureRequest) -> FogPath:
    return request.getfixturevalue(f"{request.param}_path")  # type: ignore[no-any-return]


def example_architectures() -> dict[str, ArchitectureSpec]:
    out = {}
    for raw in load_path(EXAMPLES):
        doc = parse_document(raw)
        if isinstance(doc.spec, ArchitectureSpec):
            out[doc.name] = doc.spec
    return out


def on_port(spec: ArchitectureSpec, port: int) -> ArchitectureSpec:
    """The spec with its ``port`` parameter's probes moved to ``port`` (a free one: other
    tests on this machine may hold the example's fixed port on the same loopback IP)."""
    probes = []
    for probe in spec.health.probes:
        if probe.http is not None:
            probe = dataclasses.replace(probe, http=dataclasses.replace(probe.http, port=port))
        if probe.tcp is not None:
            probe = dataclasses.replace(probe, tcp=TcpCheck(port))
        if probe.qos is not None and probe.qos.http is not None:
            http: HttpCheck = dataclasses.replace(probe.qos.http, port=port)
            probe = dataclasses.replace(probe, qos=dataclasses.replace(probe.qos, http=http))
        probes.append(probe)
    return dataclasses.replace(spec, health=dataclasses.replace(spec.health,
                                                                probes=tuple(probes)))


def data_for(name: str) -> ArchitectureDataSpec:
    return ArchitectureDataSpec(name, "hydraulic-system", str(WORKLOADS), str(WORKLOADS))


def deploy(path: FogPath, name: str, spec: ArchitectureSpec, config: dict[str, Any],
           association: dict[str, Any] | None = None) -> DeclarativeArchitecture:
    key = ArchitectureKey("default", f"lab-{path.kind}", name)
    arch = build_architecture(key, spec, options=OPTIONS)
    assert isinstance(arch, DeclarativeArchitecture)
    arch.configure(config)
    arch.associate(path.client, path.environment, association)
    return arch


@pytest.mark.parametrize("name", sorted(example_architectures()))
def test_every_example_architecture_runs(fog_path: FogPath, name: str) -> None:
    port = free_port()
    spec = on_port(example_architectures()[name], port)
    arch = deploy(fog_path, name, spec, {"port": port})
    data = data_for(name)
    try:
        arch.deploy(data)
        arch.serve(data)
        assert arch.state.value == "served"
        record = arch.record
        for entity, replicas in record.entities.items():
            for rep in replicas.values():
                info = fog_path.client.instance_info(rep.instance_id or "")
                assert info.state is InstanceState.RUN, (entity, info)
        first = next(iter(record.entities.values()))[0]
        assert requests.get(f"http://{first.node_ip}:{port}/healthz", timeout=5).ok
        report = arch.check_status()
        assert all(r.outcome.value != "failure" for r in report.results
                   if not r.name.endswith("accuracy")), report.message
    finally:
        arch.undeploy()
    assert arch.record.entities == {}


DESCRIPTORS = REPO / "tests" / "fixtures" / "fog05-descriptors"


def published_architecture() -> ArchitectureSpec:
    """One entity per published descriptor, pasted as is; the BARE one's binary (a path on
    its author's machine) is the only thing swapped, for one that exists here."""
    entities = []
    for path in sorted(DESCRIPTORS.glob("*.json")):
        fdu = json.loads(path.read_text())
        if fdu["hypervisor"] == "BARE":
            fdu["command"] = {"binary": "/bin/sleep", "args": ["600"]}
        entities.append({"name": fdu["hypervisor"].lower(), "fdu": fdu})
    raw = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
           "metadata": {"name": "published"}, "spec": {"entities": entities}}
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    return spec


def test_published_descriptors_deploy(fog_path: FogPath, caplog: pytest.LogCaptureFixture
                                      ) -> None:
    spec = published_architecture()
    arch = deploy(fog_path, "published", spec, {})
    try:
        with caplog.at_level(logging.WARNING, logger="fogstrat.arch"):
            arch.deploy(data_for("published"))
        # fogsim runs no container: said in the status, the health message and the log
        simulated = ["docker", "kvm", "lxd"]
        assert arch.record.to_dict()["simulated"] == simulated
        assert arch.check_status().message.endswith(
            "; simulated, no process runs: docker, kvm, lxd")
        warned = sorted(r.getMessage().split("entity ")[1].split(" ")[0]
                        for r in caplog.records if "only simulated" in r.getMessage())
        assert warned == simulated
        nodes = {n: fog_path.client.node_info(n) for n in fog_path.client.list_nodes()}
        for entity in spec.entities:
            rep = arch.record.replicas(entity.name)[0]
            assert fog_path.client.instance_info(rep.instance_id or "").state is \
                InstanceState.RUN
            onboarded = fog_path.client.fdu_info(rep.fdu_uuid)
            assert onboarded["name"] == entity.fdu["name"]
            assert str(onboarded["id"]).endswith("." + entity.fdu["id"])
            if entity.fdu["computation_requirements"]["cpu_arch"] == "arm64":
                assert nodes[rep.node_id or ""].cpu_arch == "aarch64"
    finally:
        arch.undeploy()
    assert arch.record.entities == {}


def test_ip_is_the_instances_own_address_where_the_fog_reports_one(fog_path: FogPath) -> None:
    box = json.loads((DESCRIPTORS / "fdu_lxd.json").read_text())
    raw = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
           "metadata": {"name": "addresses"}, "spec": {"entities": [
               {"name": "box", "fdu": box},
               {"name": "user", "fdu": {"hypervisor": "BARE", "command": {
                   "binary": "/bin/sleep", "args": ["600"]},
                   "computation_requirements": {"cpu_arch": "x86_64"}},
                "env": {"BOX": "{{ entities.box.ip }}", "BOX_NODE": "{{ entities.box.nodeIp }}",
                        "ME": "{{ entities.user.ip }}", "MY_NODE": "{{ entities.user.nodeIp }}"}},
           ]}}
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    arch = deploy(fog_path, "addresses", spec, {})
    try:
        arch.deploy(data_for("addresses"))
        box_rep = arch.record.replicas("box")[0]
        user_rep = arch.record.replicas("user")[0]
        own = fog_path.client.instance_info(box_rep.instance_id or "").address
        assert own and own.startswith("127.200.") and own != box_rep.node_ip
        assert box_rep.address == own
        env = fog_path.env_of(user_rep.instance_id or "")
        assert env["BOX"] == own and env["BOX_NODE"] == box_rep.node_ip
        # a BARE process runs on its node: its ip is the node's
        assert env["ME"] == env["MY_NODE"] == user_rep.node_ip
    finally:
        arch.undeploy()


def test_a_node_selector_works_on_a_fog_without_labels_of_its_own(fog_path: FogPath) -> None:
    """On the fog05 path the fog reports no labels at all: what matches comes from the
    Environment (by name, by uuid) and the well-known labels."""
    fog2 = next(i for i in (fog_path.client.node_info(n) for n in fog_path.client.list_nodes())
                if i.name == "fog-2")
    env = dataclasses.replace(fog_path.environment, node_labels={
        **fog_path.environment.node_labels, fog2.uuid: {"zone": "z2"}})
    client = connect(env)
    selectors = {"cloud": {"tier": "cloud"}, "zoned": {"zone": "z2"},
                 "arm": {"fogstrat.io/arch": "aarch64"},
                 "named": {"fogstrat.io/node-name": "fog-1", "fogstrat.io/os": "linux"}}
    raw = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
           "metadata": {"name": "selected"}, "spec": {"entities": [
               {"name": name, "requirements": {"nodeSelector": sel},
                "fdu": {"hypervisor": "BARE", "command": {"binary": "/bin/sleep",
                                                          "args": ["600"]},
                        "computation_requirements": {"cpu_arch": "arm64" if name == "arm"
                                                     else "amd64"}}}
               for name, sel in selectors.items()]}}
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    arch = deploy(dataclasses.replace(fog_path, client=client, environment=env), "selected",
                  spec, {})
    try:
        arch.deploy(data_for("selected"))
        placed = {e: arch.record.replicas(e)[0].node_name for e in selectors}
        assert placed == {"cloud": "cloud-1", "zoned": "fog-2", "arm": "edge-1",
                          "named": "fog-1"}
    finally:
        arch.undeploy()
        client.close()


def test_templates_read_the_association_args(fog_path: FogPath) -> None:
    active = parse_document({
        "apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
        "metadata": {"name": "lab"},
        "spec": {"strategy": "prediction", "environment": "lab",
                 "associationArgs": {"zone": "z1", "broker": {"port": 1883}},
                 "associationArgsByArchitecture": {"assoc": {"zone": "z2"}}}}).spec
    assert isinstance(active, ActiveStrategySpec)
    raw = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
           "metadata": {"name": "assoc"}, "spec": {"entities": [
               {"name": "app", "env": {"ZONE": "{{ association.zone }}",
                                       "PORT": "{{ association.broker.port }}"},
                "fdu": {"hypervisor": "BARE", "command": {"binary": "/bin/sleep",
                                                          "args": ["600"]},
                        "computation_requirements": {"cpu_arch": "x86_64"}}}]}}
    spec = parse_document(raw).spec
    assert isinstance(spec, ArchitectureSpec)
    arch = deploy(fog_path, "assoc", spec, {}, active.association_args_for("assoc"))
    try:
        arch.deploy(data_for("assoc"))
        env = fog_path.env_of(arch.record.replicas("app")[0].instance_id or "")
        assert (env["ZONE"], env["PORT"]) == ("z2", "1883")
    finally:
        arch.undeploy()
