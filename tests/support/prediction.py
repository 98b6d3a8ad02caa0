"""The seed's story as documents and facts: ``deploy/examples`` (federated learning, gossip
learning as its replacement) as a newcomer applies them, and where its pieces run.

Shared by the e2e story (``tests/e2e/test_prediction_story.py``) and the bench's story
row (``hack/bench/story.py``), so both measure the same service.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from controller.arch.ids import ArchitectureKey
from controller.store.keys import endpoint_key
from tests.support.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
NAME = "prediction-lab"
MAIN = "federated-learning"
REPLACEMENT = "gossip-learning"


def example_documents(fog_url: str, window: str | None = None) -> list[dict[str, Any]]:
    """The documents of ``deploy/examples``, pointed at ``fog_url``; ``window``: the
    Strategy's failback stabilization window instead of the example's."""
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for d in docs:
        if d["kind"] == "Environment":
            d["spec"]["locator"] = fog_url
        if d["kind"] == "Strategy" and window is not None:
            d["spec"]["policy"]["failback"]["stabilizationWindow"] = window
    return docs


def story_scenario(endpoint: str, prefix: str) -> Scenario:
    """A Scenario for this story whose fog nodes sit in a loopback /24 nobody else's
    uses: the example's workloads listen on fixed ports of their node's address, so two
    stories on one machine in the example's own block would answer each other's users."""
    s = Scenario(endpoint, prefix, name=NAME)
    s.sim.extra_args = (*s.sim.extra_args, "--ip-block", free_ip_block())
    return s


def free_ip_block() -> str:
    """A ``127.0.N`` block where none of the example's service ports is taken."""
    for n in random.sample(range(100, 250), 150):
        if all(_bindable(f"127.0.{n}.{host}", port)
               for host in (11, 21, 22, 32) for port in (8080, 8090, 8099)):
            return f"127.0.{n}"
    raise RuntimeError("no free 127.0.N block for the story's fog nodes")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def service_key(s: Scenario) -> str:
    """Where the controller publishes the prediction service's endpoint."""
    return endpoint_key(s.prefix, "default", NAME)


def aggregator_node(s: Scenario) -> str:
    """The name of the node federated learning's aggregator runs on."""
    st = s.status(NAME)
    node = str(st["architectures"][MAIN]["placement"]["aggregator"][0])
    return s.node_names().get(node, node)


def node_ips(s: Scenario) -> dict[str, str]:
    """Node name -> IP."""
    return {n["name"]: n["ip"] for n in s.state()["nodes"]}


def descriptor_ids(state: dict[str, Any]) -> dict[str, str]:
    """FDU uuid -> descriptor id (``fs.<ns>.<as>.<arch>.<entity>.<replica>``)."""
    return {str(d.get("uuid")): str(d.get("id")) for d in state.get("fdus", [])}


def running(state: dict[str, Any], architecture: str, entity: str) -> list[dict[str, Any]]:
    """The fog's running instance records of ``architecture``'s ``entity`` (of this
    story's ActiveStrategy), from fogsim's ``/sim/state``."""
    ids = descriptor_ids(state)
    start = f"{ArchitectureKey('default', NAME, architecture).prefix}{entity}."
    return [i for i in state.get("instances", [])
            if i.get("status") == "RUN" and ids.get(i.get("fdu_id", ""), "").startswith(start)]


def running_of(s: Scenario, architecture: str, entity: str) -> set[str]:
    """IPs of the nodes where the fog runs ``architecture``'s ``entity`` now."""
    state = s.state()
    ips = {n["uuid"]: n["ip"] for n in state.get("nodes", [])}
    return {ips[i["node"]] for i in running(state, architecture, entity) if i.get("node") in ips}


def host_of(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None
