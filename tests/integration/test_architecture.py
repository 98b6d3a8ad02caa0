"""The architecture engine against a real fogsim running real processes."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from controller.api.models import (
    ArchitectureDataSpec,
    ArchitectureSpec,
    Entity,
    EnvironmentSpec,
    HealthSpec,
    HttpCheck,
    Parameter,
    ProbeSpec,
    PrometheusQuery,
    QosCheck,
    Requirements,
    TcpCheck,
)
from controller.arch import (
    ArchitectureKey,
    BindingError,
    DeclarativeArchitecture,
    EngineOptions,
    Health,
    LifecycleError,
    Outcome,
    build_architecture,
    load_plugin,
    read_nodes,
)
from controller.arch.health import run_probes
from controller.arch.ids import fdu_id
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.fog.client import NodeStatus
from controller.fog.fogsim_driver import FogsimClient
from controller.fog.fogsim_http import HttpSettings
from tests.support.fogsim import FogsimServer, free_port

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
APP = str(FIXTURES / "arch" / "app.py")
NODES = FIXTURES / "arch" / "nodes.yaml"
OPTIONS = EngineOptions(deploy_timeout=60, undeploy_timeout=60, poll_interval=0.1)


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or pred}")


@pytest.fixture(scope="module")
def sim() -> Iterator[FogsimServer]:
    with FogsimServer(NODES, stop_grace=1.0) as server:
        yield server


@pytest.fixture
def fog(sim: FogsimServer) -> Iterator[FogsimClient]:
    client = FogsimClient(sim.url, HttpSettings(timeout=5.0))
    yield client
    client.close()


def environment(sim: FogsimServer) -> EnvironmentSpec:
    return EnvironmentSpec("fogsim", sim.url, info={"region": "eu-west"}, timeout=5.0)


def fdu(*args: str) -> dict[str, Any]:
    return {
        "name": "app",
        "hypervisor": "BARE",
        "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
        "command": {"binary": sys.executable, "args": [APP, *args]},
    }


def three_entity_spec(port: int) -> ArchitectureSpec:
    """store (A) ← worker x2 (B, gets A's URL) ; client (C, serve phase, connects to A)."""
    return ArchitectureSpec(
        parameters={
            "port": Parameter("port", "integer", required=True),
            "rounds": Parameter("rounds", "integer", default=7),
            "qosFile": Parameter("qosFile", "string", default=""),
        },
        entities=(
            Entity(
                name="store",
                fdu=fdu("server", "{{ params.port }}"),
                requirements=Requirements(node_selector={"tier": "cloud"}),
                env={"DATA": "{{ data.deployPath }}", "QOS_FILE": "{{ params.qosFile }}",
                     "REGION": "{{ environment.info.region }}"},
            ),
            Entity(
                name="worker",
                replicas=2,
                fdu=fdu("server", "{{ params.port }}"),
                requirements=Requirements(node_selector={"tier": "fog"},
                                          anti_affinity=("worker",)),
                env={"STORE_URL": "http://{{ entities.store.ip }}:{{ params.port }}",
                     "ROUNDS": "{{ params.rounds }}", "PEERS": "{{ entities.worker.ips }}"},
            ),
            Entity(
                name="client",
                phase="serve",
                fdu=fdu("client"),
                env={"TARGET": "http://{{ entities.store.ip }}:{{ params.port }}"},
            ),
        ),
        health=HealthSpec(
            timeout=1.0,
            probes=(
                ProbeSpec("store-http", "http", "store", http=HttpCheck(port, "/healthz")),
                ProbeSpec("worker-tcp", "tcp", "worker", tcp=TcpCheck(port)),
                ProbeSpec("store-qos", "qos", "store", qos=QosCheck(
                    http=HttpCheck(port, "/qos"), field="metrics.accuracy", min=0.8)),
            ),
        ),
    )


DATA = ArchitectureDataSpec("three", "hydraulic", deploy_path="/data/deploy", serve_path="/srv")


def owned(sim: FogsimServer, key: ArchitectureKey) -> tuple[list[Any], list[Any]]:
    state = sim.state()
    fdus = [f for f in state["fdus"] if str(f.get("id", "")).startswith(key.prefix)]
    uuids = {f["uuid"] for f in fdus}
    insts = [i for i in state["instances"] if i["fdu_id"] in uuids]
    return fdus, insts


def pids_of(insts: list[Any]) -> list[int]:
    return [i["hypervisor_info"]["pid"] for i in insts if i["hypervisor_info"].get("pid")]


def dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def new_arch(sim: FogsimServer, fog: FogsimClient, key: ArchitectureKey, spec: ArchitectureSpec,
             config: dict[str, Any]) -> DeclarativeArchitecture:
    arch = build_architecture(key, spec, options=OPTIONS)
    assert isinstance(arch, DeclarativeArchitecture)
    arch.configure(config)
    arch.associate(fog, environment(sim))
    return arch


def test_three_entities_lifecycle(sim: FogsimServer, fog: FogsimClient, tmp_path: Path) -> None:
    port = free_port()
    qos = tmp_path / "qos"
    qos.write_text("0.95")
    key = ArchitectureKey("default", "lab", "three")
    arch = new_arch(sim, fog, key, three_entity_spec(port), {"port": port, "qosFile": str(qos)})

    arch.deploy(DATA)
    assert arch.state.value == "deployed"
    rec = arch.record
    assert [r.node_name for r in rec.replicas("store")] == ["big"]
    assert sorted(r.node_name or "" for r in rec.replicas("worker")) == ["mid-1", "mid-2"]
    assert "client" not in rec.entities
    store_ip = rec.replicas("store")[0].node_ip
    stats = requests.get(f"http://{store_ip}:{port}/stats", timeout=2).json()
    assert stats["env"]["DATA"] == "/data/deploy" and stats["env"]["REGION"] == "eu-west"
    w_ip = rec.replicas("worker")[0].node_ip
    wstats = requests.get(f"http://{w_ip}:{port}/stats", timeout=2).json()
    assert wstats["env"]["STORE_URL"] == f"http://{store_ip}:{port}"
    assert wstats["env"]["ROUNDS"] == "7"
    assert wstats["env"]["PEERS"] == " ".join(r.node_ip or "" for r in rec.replicas("worker"))

    report = arch.check_status()
    assert report.health is Health.HEALTHY, report.message
    assert arch.get_mapping("deploy")["store"] == [rec.replicas("store")[0].node_id]

    arch.serve(DATA)
    assert arch.state.value == "served"
    client_iid = arch.record.replicas("client")[0].instance_id

    def client_hit() -> bool:
        hits = requests.get(f"http://{store_ip}:{port}/stats", timeout=2).json()["hits"]
        return bool(hits.get(client_iid, 0) > 0)

    wait_for(client_hit, what="client connecting to store")
    report = arch.check_status()
    assert report.health is Health.HEALTHY, report.message
    assert "client-running" in {r.name for r in report.results}

    # QoS drops below min → Unhealthy with the measured value; recovers
    qos.write_text("0.3")
    report = arch.check_status()
    assert report.health is Health.UNHEALTHY
    bad = next(r for r in report.results if r.name == "store-qos")
    assert bad.outcome is Outcome.FAILURE and bad.value == 0.3 and "< min 0.8" in bad.message
    qos.write_text("0.9")
    assert arch.check_status().healthy

    snap = arch.observe()
    assert snap.complete and snap.exists and not snap.vanished

    _fdus, insts = owned(sim, key)
    pids = pids_of(insts)
    assert len(insts) == 4 and len(pids) == 4
    arch.undeploy()
    assert str(arch.state) == "undeployed"
    assert owned(sim, key) == ([], [])
    wait_for(lambda: all(dead(p) for p in pids), what="processes gone")
    assert arch.record.entities == {}
    with pytest.raises(LifecycleError, match="cannot undeploy an architecture that is undeployed"):
        arch.undeploy()

    # redeploy after undeploy
    arch.deploy(DATA)
    assert arch.check_status().healthy
    arch.undeploy()
    assert owned(sim, key) == ([], [])


def test_deploy_twice_adopts_and_completes_partial(
    sim: FogsimServer, fog: FogsimClient
) -> None:
    port = free_port()
    key = ArchitectureKey("default", "lab", "adopt")
    spec = three_entity_spec(port)
    first = new_arch(sim, fog, key, spec, {"port": port})
    first.deploy(DATA)
    ids = first.record.instance_ids()

    # a "restarted controller": a fresh object adopts everything, restarts nothing
    second = new_arch(sim, fog, key, spec, {"port": port})
    second.deploy(DATA)
    assert second.record.instance_ids() == ids
    assert len(owned(sim, key)[1]) == 3

    # interruption: one worker instance vanished, the other crashed into ERROR
    w0, w1 = second.record.replicas("worker")
    assert w0.instance_id and w1.instance_id
    requests.post(f"{sim.url}/fdu/instances/{w0.instance_id}/undefine?force=true", timeout=5)
    requests.post(f"{sim.url}/sim/instances/{w1.instance_id}/crash", timeout=5)
    snap = second.observe()
    assert not snap.complete and snap.vanished == (("worker", 0, w0.instance_id),)

    third = new_arch(sim, fog, key, spec, {"port": port})
    third.deploy(DATA)
    assert third.record.instance_ids()["store"] == ids["store"]  # adopted
    assert set(third.record.instance_ids()["worker"]).isdisjoint(ids["worker"])
    assert third.check_status().healthy
    _fdus, insts = owned(sim, key)
    assert len(insts) == 3 and all(i["status"] == "RUN" for i in insts)

    # cleanup from a fresh object that never deployed (associated → undeployed)
    fourth = new_arch(sim, fog, key, spec, {"port": port})
    pids = pids_of(insts)
    fourth.undeploy()
    assert owned(sim, key) == ([], [])
    wait_for(lambda: all(dead(p) for p in pids), what="processes gone")
    fourth.deploy(DATA)  # undeployed → deployed
    fourth.undeploy()
    assert owned(sim, key) == ([], [])


class ListCountingFog(FogsimClient):
    """The fogsim driver, counting the reads of an FDU's instances (the adoption check)
    and the descriptors onboarded."""

    lists = 0
    onboards = 0

    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        self.lists += 1
        return super().instances(fdu_id, timeout=timeout)

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        self.onboards += 1
        return super().onboard(descriptor, timeout=timeout)


def test_a_deploy_with_nothing_there_does_not_look_for_instances_to_adopt(
    sim: FogsimServer
) -> None:
    """The controller says so when status records nothing of the architecture (the
    replacement in a failover); otherwise a deploy lists each FDU's instances first."""
    port = free_port()
    key = ArchitectureKey("default", "lab", "fresh")
    spec = three_entity_spec(port)
    fog = ListCountingFog(sim.url, HttpSettings(timeout=5.0))
    try:
        fresh = new_arch(sim, fog, key, spec, {"port": port})
        fresh.deploy(DATA, nothing_there=True)
        assert fog.lists == 0
        ids = fresh.record.instance_ids()
        assert fresh.check_status().healthy

        restarted = new_arch(sim, fog, key, spec, {"port": port})
        restarted.deploy(DATA)  # a restarted controller's object: adopts what runs
        assert fog.lists == 3  # store, worker x2
        assert restarted.record.instance_ids() == ids
        restarted.undeploy()
    finally:
        fog.close()
    assert owned(sim, key) == ([], [])


def test_prepare_onboards_ahead_what_needs_no_placement(sim: FogsimServer) -> None:
    """``prepare`` (run while a failed architecture is undeployed) onboards the store and
    worker descriptors; the deploy then onboards nothing again. An FDU template naming
    another entity's address waits for the deploy, which knows it."""
    port = free_port()
    key = ArchitectureKey("default", "lab", "ahead")
    spec = three_entity_spec(port)
    store = spec.entities[0]
    placed_fdu = {**store.fdu, "command": {"binary": sys.executable, "args": [
        APP, "server", "{{ params.port }}", "store at {{ entities.store.ip }}"]}}
    spec = replace(spec, entities=(store, replace(spec.entities[1], fdu=placed_fdu),
                                   spec.entities[2]))
    fog = ListCountingFog(sim.url, HttpSettings(timeout=5.0))
    try:
        arch = new_arch(sim, fog, key, spec, {"port": port})
        arch.prepare(DATA)
        assert fog.onboards == 1  # the store; the workers' descriptors need its address
        assert [f["id"] for f in owned(sim, key)[0]] == [fdu_id(key, "store", 0)]
        arch.deploy(DATA, nothing_there=True)
        assert fog.onboards == 3  # the two workers only
        assert arch.check_status().healthy
        arch.undeploy()
    finally:
        fog.close()
    assert owned(sim, key) == ([], [])


class StatusCountingFog(FogsimClient):
    """The fogsim driver, recording which nodes' status (free capacity) was read."""

    def __init__(self, url: str, settings: HttpSettings) -> None:
        super().__init__(url, settings)
        self.status_reads: list[str] = []

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        self.status_reads.append(self.node_info(node_id).name)
        return super().node_status(node_id, timeout=timeout)


SLEEPER = {**fdu(), "command": {"binary": "/bin/sleep", "args": ["30"]}}


def test_a_deploy_reads_the_capacity_of_the_nodes_it_could_use_only(sim: FogsimServer) -> None:
    """An entity that may run only on ``tier: cloud`` is placed on ``big`` without asking
    the other nodes how full they are; one without a selector asks every x86 node."""
    key = ArchitectureKey("default", "lab", "pinned")
    pinned = ArchitectureSpec(entities=(Entity(
        name="svc", fdu=SLEEPER,
        requirements=Requirements(node_selector={"tier": "cloud"})),))
    fog = StatusCountingFog(sim.url, HttpSettings(timeout=5.0))
    try:
        arch = new_arch(sim, fog, key, pinned, {})
        arch.deploy(DATA)
        assert fog.status_reads == ["big"]
        assert [r.node_id for r in arch.record.replicas("svc")] == [
            n for n in fog.list_nodes() if fog.node_info(n).name == "big"]
        arch.undeploy()

        fog.status_reads.clear()
        free = new_arch(sim, fog, ArchitectureKey("default", "lab", "free"), ArchitectureSpec(
            entities=(Entity(name="svc", fdu=SLEEPER),)), {})
        free.deploy(DATA)
        assert sorted(fog.status_reads) == ["big", "mid-1", "mid-2"]  # not the aarch64 pi
        free.undeploy()
    finally:
        fog.close()
    assert owned(sim, key) == ([], [])


def test_a_fresh_object_undeploys_fdus_its_spec_no_longer_names(
    sim: FogsimServer, fog: FogsimClient
) -> None:
    """After a restart the record may lack what a crashed deploy created: an object that
    did not deploy itself scans the catalog for the architecture's FDUs."""
    port = free_port()
    key = ArchitectureKey("default", "lab", "orphans")
    spec = three_entity_spec(port)
    first = new_arch(sim, fog, key, spec, {"port": port})
    first.deploy(DATA)
    first.serve(DATA)
    assert len(owned(sim, key)[0]) == 4
    shrunk = replace(spec, entities=spec.entities[:2])  # the client entity is gone
    restarted = new_arch(sim, fog, key, shrunk, {"port": port})
    restarted.undeploy()
    assert owned(sim, key) == ([], [])


def test_undeploy_tolerates_vanished_node(sim: FogsimServer, fog: FogsimClient) -> None:
    port = free_port()
    key = ArchitectureKey("default", "lab", "nodegone")
    arch = new_arch(sim, fog, key, three_entity_spec(port), {"port": port})
    arch.deploy(DATA)
    node = arch.record.replicas("worker")[0].node_name
    assert node
    sim.cli("node", "down", node)
    try:
        snap = arch.observe()
        assert not snap.complete and snap.missing_nodes
        assert arch.check_status().health is Health.UNHEALTHY
        arch.undeploy()
        assert owned(sim, key)[1] == []
    finally:
        sim.cli("node", "up", node)
    assert owned(sim, key) == ([], [])


def test_failed_step_names_entity_and_undeploy_cleans(
    sim: FogsimServer, fog: FogsimClient
) -> None:
    port = free_port()
    key = ArchitectureKey("default", "lab", "broken")
    base = three_entity_spec(port)
    broken = Entity(name="worker", fdu={**fdu(), "command": {"binary": "/nonexistent/bin"}},
                    env={"S": "{{ entities.store.ip }}"})
    spec = ArchitectureSpec(parameters=base.parameters, entities=(base.entities[0], broken))
    arch = new_arch(sim, fog, key, spec, {"port": port})
    with pytest.raises(Exception) as err:
        arch.deploy(DATA)
    assert str(err.value).startswith("worker: ")
    assert arch.state.value == "associated"
    arch.undeploy()
    assert owned(sim, key) == ([], [])


def test_missing_binding_fails_before_anything_runs(
    sim: FogsimServer, fog: FogsimClient
) -> None:
    port = free_port()
    key = ArchitectureKey("default", "lab", "nobinding")
    arch = new_arch(sim, fog, key, three_entity_spec(port), {"port": port})
    with pytest.raises(BindingError, match=r"store: bind: env DATA: data\.deployPath: no Arch"):
        arch.deploy(None)
    assert owned(sim, key) == ([], [])


def test_can_place_from_live_nodes(fog: FogsimClient) -> None:
    from controller.arch import can_place

    nodes, statuses = read_nodes(fog, timeout=5)
    assert {n.name for n in nodes} >= {"big", "mid-1", "mid-2", "pi"}
    ok = can_place(three_entity_spec(1), nodes, statuses)
    assert ok.ok
    greedy = ArchitectureSpec(entities=(Entity(
        name="w", fdu=fdu(), replicas=3,
        requirements=Requirements(node_selector={"tier": "fog"}, anti_affinity=("w",))),))
    bad = can_place(greedy, nodes, statuses)
    assert not bad.ok and bad.reasons[0].endswith("2 qualify: mid-1, mid-2")


# --- probes against real sockets ---------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never answers: HTTP probes time out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


class _Prom(BaseHTTPRequestHandler):
    answer: dict[str, Any] = {}

    def do_GET(self) -> None:
        import json

        data = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_probe_outcomes_on_real_sockets(silent_port: int) -> None:
    dead_port = free_port()
    record = ArchitectureRecord()
    record.put("e", 0, ReplicaRecord("f", "u", node_ip="127.0.0.1"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prom = f"http://127.0.0.1:{server.server_address[1]}"
    _Prom.answer = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "0.42"]}]}}
    try:
        probes = [
            ProbeSpec("dead-http", "http", "e", http=HttpCheck(dead_port)),
            ProbeSpec("dead-tcp", "tcp", "e", tcp=TcpCheck(dead_port)),
            ProbeSpec("slow-http", "http", "e", http=HttpCheck(silent_port)),
            ProbeSpec("prom-low", "qos", None, qos=QosCheck(
                prometheus=PrometheusQuery(prom, "acc"), min=0.5)),
            ProbeSpec("prom-ok", "qos", None, qos=QosCheck(
                prometheus=PrometheusQuery(prom, "acc"), min=0.4, max=0.5)),
            ProbeSpec("prom-down", "qos", None, qos=QosCheck(
                prometheus=PrometheusQuery(f"http://127.0.0.1:{dead_port}", "acc"), min=0.5)),
            ProbeSpec("no-instance", "state", "e"),
        ]
        start = time.monotonic()
        got = {r.name: r for r in run_probes(probes, record, None, timeout=1.0)}
        assert time.monotonic() - start < 3.0  # concurrent, each bounded by its timeout
        assert got["dead-http"].outcome is Outcome.FAILURE
        assert "refused" in got["dead-http"].message
        assert got["dead-tcp"].outcome is Outcome.FAILURE
        slow = got["slow-http"]
        assert slow.outcome is Outcome.UNKNOWN and "timed out" in slow.message
        assert got["prom-low"].outcome is Outcome.FAILURE and got["prom-low"].value == 0.42
        assert got["prom-ok"].outcome is Outcome.SUCCESS
        assert got["prom-down"].outcome is Outcome.UNKNOWN  # metrics backend ≠ service
        assert got["no-instance"].outcome is Outcome.UNKNOWN  # no fog to ask
        _Prom.answer = {"status": "success", "data": {"resultType": "vector", "result": []}}
        nodata = run_probes(probes[3:4], record, None, timeout=1.0)[0]
        assert nodata.outcome is Outcome.UNKNOWN and "no data" in nodata.message
    finally:
        server.shutdown()


# --- plugin through the entry point ------------------------------------------------------


@pytest.fixture(scope="module")
def plugin_on_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Make the example plugin discoverable without pip: a dist-info dir on sys.path."""
    root = tmp_path_factory.mktemp("plugins")
    shutil.copytree(FIXTURES / "plugin_pkg" / "fogstrat_example_plugin",
                    root / "fogstrat_example_plugin")
    info = root / "fogstrat_example_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fogstrat-example-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[fogstrat.architectures]\necho-fleet = fogstrat_example_plugin:EchoFleet\n")
    sys.path.insert(0, str(root))
    yield
    sys.path.remove(str(root))
    sys.modules.pop("fogstrat_example_plugin", None)


def test_plugin_lifecycle(plugin_on_path: None, sim: FogsimServer, fog: FogsimClient) -> None:
    from controller.arch import PluginError

    cls = load_plugin("echo-fleet")
    assert issubclass(cls, DeclarativeArchitecture)
    with pytest.raises(PluginError, match="no architecture plugin 'nope'"):
        load_plugin("nope")
    port = free_port()
    key = ArchitectureKey("default", "lab", "echo")
    arch = new_arch(sim, fog, key, ArchitectureSpec(plugin="echo-fleet"),
                    {"port": port, "replicas": 3})
    assert type(arch).__name__ == "EchoFleet"
    arch.deploy(None)
    assert len({r.node_id for r in arch.record.replicas("echo")}) == 3
    report = arch.check_status()
    assert report.healthy, report.message
    arch.serve(None)  # no serve-phase entities: still a legal step
    arch.undeploy()
    assert owned(sim, key) == ([], [])
    arch.deploy(None)
    assert arch.check_status().healthy
    arch.undeploy()
    assert owned(sim, key) == ([], [])
