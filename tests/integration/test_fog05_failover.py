"""The bundled example strategy, end to end on the fog05 driver path: the REAL
``ActiveStrategyReconciler`` (its informer on a real etcd) drives the real fog05 FIMAPI
over the in-process YAKS stand-in (fogsim's engine behind fog05's key layout, running the
example workloads as real processes) through start, serving, the aggregator's node going
down, failover to gossip learning, the node coming back, a make-before-break failback
to federated learning, and deletion.

The reconciler runs in this process because the stand-in does; its clock is the wall
clock plus a skew the test moves on between reconciles, so the example's 30s failback
window and 5s probe interval pass without sleeping through them. Nothing asserts on
durations: every wait polls a state with a deadline.
"""

from __future__ import annotations

import json
import random
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import kinds
from controller.arch import ArchitectureKey
from controller.metrics import Metrics
from controller.resources import Resources
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.documents import Documents
from controller.runtime.endpoints import EndpointPublisher
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.store import Store, connect
from controller.store.keys import endpoint_key, leader_key
from tests.support.cli import Cli
from tests.support.etcd import EtcdServer
from tests.support.fogsim import EXAMPLE_NODES
from tests.support.scenario import processes_under, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
NAME = "prediction-lab"
KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", NAME)
EXAMPLE_PORTS = (8080, 8090, 8099)
"""The aggregator's, the peers' and the serve-phase clients' ports, fixed by the example."""


def private_nodes(directory: Path) -> Path:
    """The example fog's nodes on a loopback block of their own: the example's ports are
    fixed, and another test on this machine may hold them on the usual addresses."""
    text = EXAMPLE_NODES.read_text()
    for _ in range(50):
        block = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."
        ips = [line.split("ip:")[1].strip().replace("127.0.10.", block)
               for line in text.splitlines() if line.strip().startswith("ip:")]
        if all(_free(ip, port) for ip in ips for port in EXAMPLE_PORTS):
            out = directory / "nodes.yaml"
            out.write_text(text.replace("127.0.10.", block))
            return out
    raise AssertionError("no free loopback block for the example's ports")


def _free(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


@dataclass
class Fog:
    """fogsim's engine behind the fog05 stand-in; ``locator`` is what the Environment
    names."""

    engine: Any
    standin: Any
    workdir: Path
    locator: str = "127.0.0.1:7447"

    def running_entities(self) -> set[str]:
        """``<architecture>.<entity>`` of every instance in RUN (``?``: not the
        strategy's)."""
        state = self.engine.state()
        ids = {d["uuid"]: d["id"] for d in state["fdus"]}
        out = set()
        for inst in state["instances"]:
            if inst["status"] == "RUN":
                out.add(_owner(ids.get(inst["fdu_id"], "")))
        return out


def _owner(descriptor_id: str) -> str:
    for arch in ("federated-learning", "gossip-learning"):
        prefix = ArchitectureKey("default", NAME, arch).prefix
        if descriptor_id.startswith(prefix):
            return f"{arch}.{descriptor_id.removeprefix(prefix).split('.')[0]}"
    return "?"


@pytest.fixture
def fog(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fog]:
    from controller.fog import fog05_compat

    fog05_compat.install_collections_shim()
    from fogsim.engine import Engine
    from fogsim.nodes import load_nodes

    from tests.support.yaks_standin import YaksStandin, install

    with tempfile.TemporaryDirectory(prefix="fogstrat-fog05-failover-") as work:
        nodes = private_nodes(Path(work))
        workdir = Path(work) / "fog"
        engine = Engine(load_nodes(nodes), workdir=workdir, stop_grace=1.0)
        standin = YaksStandin(engine)
        install(monkeypatch, standin)
        try:
            yield Fog(engine, standin, workdir)
        finally:
            standin.close()
            engine.close()


@dataclass
class Controller:
    """The controller's ActiveStrategy reconciler, in this process (as the controller
    builds it, with its endpoint publisher), leading with a real etcd lease."""

    store: Store
    prefix: str
    skew: float = 0.0
    endpoints_seen: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        lead = self.store.campaign(leader_key(self.prefix), "fog05-failover", ttl=10)
        assert lead is not None
        lead.keep_alive()
        self.lead = lead
        self.fence = lead.fence
        self.informer = Informer(self.store, self.prefix, lambda _change: None)
        self.informer.start()
        assert self.informer.wait_synced(10)
        self.resources = Resources(self.store, self.prefix)
        self.docs = Documents(self.informer)
        self.reconciler = ActiveStrategyReconciler(
            docs=self.docs,
            status=StatusWriter(self.resources, self.informer, lambda: self.fence),
            metrics=Metrics(process_collectors=False), is_leader=lambda: True,
            clock=lambda: time.time() + self.skew, workdir=REPO,
            endpoints=EndpointPublisher(self.store, self.prefix, lambda: self.fence))

    def close(self) -> None:
        self.reconciler.close()
        self.informer.stop()
        self.lead.resign()

    def status(self) -> dict[str, Any]:
        status, _ = self.resources.get_status(KEY.kind, KEY.namespace, KEY.name)
        return dict(status or {})

    def published(self) -> dict[str, Any] | None:
        rec = self.store.get(endpoint_key(self.prefix, KEY.namespace, KEY.name))
        return None if rec is None else dict(json.loads(rec.value))

    def step(self, advance: float) -> dict[str, Any]:
        """One reconcile (as the work queue would run it), then the clock moves on."""
        self.reconciler.reconcile(KEY)
        self.skew += advance
        seen = self.published()
        if seen is not None and (not self.endpoints_seen or self.endpoints_seen[-1] != seen):
            self.endpoints_seen.append(seen)
        return self.status()

    def until(self, pred: Callable[[dict[str, Any]], bool], what: str, *,
              advance: float = 0.0, timeout: float = 240) -> dict[str, Any]:
        """Reconcile until ``pred(status)``; ``advance``: seconds the clock moves on per
        reconcile beyond the wall clock."""
        def once() -> dict[str, Any] | None:
            st = self.step(advance)
            return st if pred(st) else None
        return wait_for(once, timeout, what, lambda: json.dumps(self.status(), indent=1)[:6000],
                        interval=0.2)


def serving(arch: str) -> Callable[[dict[str, Any]], bool]:
    return lambda st: st.get("phase") == "Serving" and st.get("activeArchitecture") == arch


def predicts(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200 and "label" in json.loads(resp.read())
    except (OSError, ValueError):
        return False


def first_address(st: dict[str, Any], arch: str, entity: str) -> str:
    first = st["architectures"][arch]["instances"]["entities"][entity]["0"]
    return str(first.get("address") or first["nodeIp"])


def apply_examples(cli: Cli, locator: str) -> None:
    """As the README does (``apply -f deploy/examples/``), then the Environment switched
    to the fog05 driver at the stand-in's locator."""
    cli.env = {**cli.env, "FOGSIM_URL": "http://127.0.0.1:7070"}
    cli.ok("apply", "-f", str(EXAMPLES), "--env-subst")
    (env,) = [d for d in yaml.safe_load_all((EXAMPLES / "00-environment-lab.yaml").read_text())
              if d]
    env["spec"].update(driver="fog05", locator=locator)
    cli.ok("apply", "-f", "-", stdin=yaml.safe_dump(env, sort_keys=False))


MAIN_ENTITIES = {"federated-learning.aggregator", "federated-learning.worker",
                 "federated-learning.client"}


@pytest.mark.parametrize("fault", ["node-down", "crash", "agent-dies"])
def test_example_strategy_fails_over_and_back_on_the_fog05_path(
        fog: Fog, etcd: EtcdServer, prefix: str, monkeypatch: pytest.MonkeyPatch,
        fault: str) -> None:
    """``node-down``: the aggregator's node dies (its agent and instances vanish) and
    comes back; ``crash``: the aggregator's process dies and fog05 reports the instance
    in ERROR, on a node that stays up; ``agent-dies``: the node dies with its agent as on
    a real fog05 0.2, its records left in the store as they were (instances ``RUN``), and
    a fresh agent comes back."""
    monkeypatch.chdir(REPO)  # the example's data paths are relative to the controller's
    cli = Cli(etcd.endpoint, prefix)
    apply_examples(cli, fog.locator)
    store = connect(etcd.endpoint)
    ctl = Controller(store, prefix)
    try:
        st = _serving_main(fog, ctl)
        _failover(fog, ctl, st, fault)
        _failback(fog, ctl, st, fault)
        _endpoints_follow_the_switches(ctl.endpoints_seen)
        _delete(fog, ctl, cli)
    finally:
        ctl.close()
        store.close()


def _serving_main(fog: Fog, ctl: Controller) -> dict[str, Any]:
    """Start: federated learning serves, its aggregator answers predictions."""
    st = ctl.until(serving("federated-learning"), "federated learning serving", advance=1.0)
    main_url = f"http://{first_address(st, 'federated-learning', 'aggregator')}:8080/predict"
    assert st["endpoint"]["url"] == main_url and ctl.published() == st["endpoint"]
    wait_for(lambda: predicts(main_url), 60, "the aggregator to answer a prediction")
    assert fog.running_entities() == MAIN_ENTITIES
    return st


def _failover(fog: Fog, ctl: Controller, before: dict[str, Any], fault: str) -> None:
    """The fault, then failover to gossip learning, which answers."""
    aggregator = before["architectures"]["federated-learning"]["instances"]["entities"][
        "aggregator"]["0"]
    if fault == "node-down":
        fog.engine.node_down(aggregator["nodeName"])
    elif fault == "agent-dies":
        fog.standin.agent_dies(aggregator["nodeName"])
        assert _stored_state(fog, aggregator["instanceId"]) == "RUN"
    else:
        fog.engine.crash(aggregator["instanceId"])
        assert fog.engine.instance_info(aggregator["instanceId"])["status"] == "ERROR"
    st = ctl.until(serving("gossip-learning"), "failover to gossip learning", advance=1.0)
    assert (st["failoverCount"], st.get("failbackCount", 0)) == (1, 0)
    over = [(e["from"], e["to"], e["reason"]) for e in st["history"] if e["kind"] == "failover"]
    assert over == [("federated-learning", "gossip-learning", FAILOVER_REASON[fault])]
    backup_url = f"http://{first_address(st, 'gossip-learning', 'peer')}:8090/predict"
    assert st["endpoint"]["url"] == backup_url and ctl.published() == st["endpoint"]
    wait_for(lambda: predicts(backup_url), 60, "a gossip peer to answer a prediction")
    assert {e.split(".")[0] for e in fog.running_entities()} == {"gossip-learning"}
    if fault == "agent-dies":  # the dead agent's records stayed: stale, never in the way
        assert _stored_state(fog, aggregator["instanceId"]) == "RUN"
        assert aggregator["nodeName"] not in _placed_nodes(st, "gossip-learning")


def _failback(fog: Fog, ctl: Controller, before: dict[str, Any], fault: str) -> None:
    """The node comes back (node-down), then the make-before-break failback to
    federated learning; gossip learning is undeployed only after it."""
    node = before["architectures"]["federated-learning"]["placement"]["aggregator"][0]
    if fault == "node-down":
        fog.engine.node_up(node)
    elif fault == "agent-dies":
        fog.standin.agent_returns(node)
    st = ctl.until(lambda s: serving("federated-learning")(s) and s.get("failbackCount") == 1,
                   "failback to federated learning", advance=2.0)
    back = [(e["from"], e["to"]) for e in st["history"] if e["kind"] == "failback"]
    assert back == [("gossip-learning", "federated-learning")]
    assert st["failoverCount"] == 1
    main_url = f"http://{first_address(st, 'federated-learning', 'aggregator')}:8080/predict"
    assert st["endpoint"]["url"] == main_url and ctl.published() == st["endpoint"]
    wait_for(lambda: predicts(main_url), 60, "the aggregator to answer after the failback")
    ctl.until(lambda s: s["architectures"]["gossip-learning"]["state"] == "undeployed",
              "gossip learning undeployed after the failback", advance=1.0)
    wait_for(lambda: fog.running_entities() == MAIN_ENTITIES, 30,
             "only federated learning running", lambda: str(fog.running_entities()))


def _delete(fog: Fog, ctl: Controller, cli: Cli) -> None:
    """Deletion leaves nothing in the fog, and no published endpoint."""
    cli.ok("delete", "activestrategy", NAME)
    wait_for(lambda: ctl.docs.get(KEY) is None, 10, "the informer to see it")

    def gone() -> bool:
        ctl.step(1.0)
        state = fog.engine.state()
        return (not state["instances"] and not state["fdus"] and ctl.published() is None
                and not processes_under(fog.workdir))
    wait_for(gone, 120, "nothing of the strategy left", lambda: json.dumps(
        fog.engine.state()["instances"])[:3000], interval=0.2)
    assert ctl.status() == {}


FAILOVER_REASON = {"node-down": "Vanished", "crash": "InstanceError", "agent-dies": "Vanished"}


def _stored_state(fog: Fog, instance_id: str) -> str | None:
    """The instance's status as fog05's global store holds it (what FIMAPI reads)."""
    entries = fog.standin.get(f"/agfos/0/tenants/0/nodes/*/fdu/*/instances/{instance_id}/info")
    return json.loads(entries[0].get_value().get_value())["status"] if entries else None


def _placed_nodes(st: dict[str, Any], arch: str) -> set[str]:
    """The names of the nodes ``arch``'s replicas are placed on."""
    return {node for nodes in st["architectures"][arch]["placement"].values() for node in nodes}


def _endpoints_follow_the_switches(seen: list[dict[str, Any]]) -> None:
    """Every published value named what served then, on that architecture's port: the
    main, then (after a gap while nothing served: break before make) the replacement,
    then the main again straight from the replacement (make before break)."""
    ports = {"federated-learning": ":8080/", "gossip-learning": ":8090/"}
    for value in seen:
        if value["url"] is not None:
            assert ports[value["architecture"]] in value["url"], seen
    order = [v["architecture"] if v["url"] else None for v in seen]
    collapsed = [a for i, a in enumerate(order) if i == 0 or order[i - 1] != a]
    assert collapsed[-2:] == ["gossip-learning", "federated-learning"], seen
    assert [a for a in collapsed if a] == ["federated-learning", "gossip-learning",
                                         "federated-learning"], seen
