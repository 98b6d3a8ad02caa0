"""The seed's story as documents and facts: ``deploy/examples`` (federated learning, gossip
learning as its replacement) as a newcomer applies them, and where its pieces run.

Shared by the e2e story (``tests/e2e/test_prediction_story.py``) and the bench's story
row (``hack/bench/story.py``), so both measure the same service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

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


def running_of(s: Scenario, architecture: str, entity: str) -> set[str]:
    """IPs of the nodes where the fog runs ``architecture``'s ``entity`` now."""
    state = s.state()
    ids = descriptor_ids(state)
    ips = {n["uuid"]: n["ip"] for n in state.get("nodes", [])}
    marker = f".{architecture}.{entity}."
    return {ips[i["node"]] for i in state.get("instances", [])
            if i.get("status") == "RUN" and marker in ids.get(i.get("fdu_id", ""), "")
            and i.get("node") in ips}


def host_of(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None
