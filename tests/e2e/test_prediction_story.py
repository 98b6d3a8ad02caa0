"""The seed's scenario, end to end: federated learning serves predictions; when its
aggregator's node dies, gossip learning replaces it without anyone intervening; when the
node returns, federated learning takes over again. Every component is a real process:
etcd, fogsim running the example workloads, the controller, the CLI.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.service_probe import ServiceProbe, descriptor_ids
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"


def example_documents(fog_url: str) -> list[dict[str, Any]]:
    """The documents of ``deploy/examples`` as a newcomer applies them, pointed at this
    test's fogsim."""
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for d in docs:
        if d["kind"] == "Environment":
            d["spec"]["locator"] = fog_url
    return docs


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def aggregator_node(s: Scenario) -> str:
    st = s.status("prediction-lab")
    node = st["architectures"]["federated-learning"]["placement"]["aggregator"][0]
    names = s.node_names()
    return names.get(node, node)


def test_failover_to_gossip_learning_and_failback(etcd: EtcdServer, prefix: str,
                                                  report: list[str]) -> None:
    with Scenario(etcd.endpoint, prefix, name="prediction-lab") as s:
        # Given the example documents and a controller
        s.given.documents(*example_documents(s.sim.url))
        ctl = s.controller(cwd=str(REPO))
        ctl.start()
        s.then.phase_is("Serving", active="federated-learning", timeout=120)
        probe = ServiceProbe(s.state).start()
        try:
            t0 = probe.mark()
            assert _wait(lambda: probe.answered_since(t0), 30), \
                "the prediction service never answered while federated learning served"

            # When the aggregator's node goes down
            node = aggregator_node(s)
            down_at = probe.mark()
            s.when.node_down(node)

            # Then gossip learning replaces federated learning
            s.then.phase_is("Serving", active="gossip-learning", timeout=120)
            s.then.counts(failover=1, failback=0)
            s.then.history_has(**{"from": "federated-learning", "to": "gossip-learning"})
            t1 = probe.mark()
            assert _wait(lambda: probe.answered_since(t1), 30), \
                "gossip learning serves, but no prediction answered"
            failover_downtime = probe.downtime(down_at, probe.mark())

            # When the node comes back, Then federated learning takes over again
            up_at = probe.mark()
            s.when.node_up(node)
            s.then.phase_is("Serving", active="federated-learning", timeout=180)
            s.then.counts(failover=1, failback=1)
            s.then.history_has(**{"from": "gossip-learning", "to": "federated-learning"})
            t2 = probe.mark()
            assert _wait(lambda: probe.answered_since(t2), 30)
            failback_downtime = probe.downtime(up_at, probe.mark())
        finally:
            probe.stop()

        # And the counters users alert on say the same
        text = ctl.metrics()
        labels = {"namespace": "default", "strategy": "prediction-lab"}
        assert metric(text, "fogstrat_failovers_total", **labels,
                      **{"from": "federated-learning", "to": "gossip-learning"}) == 1
        assert metric(text, "fogstrat_failbacks_total", **labels,
                      **{"from": "gossip-learning", "to": "federated-learning"}) == 1
        assert re.search(r'fogstrat_active_architecture\{[^}]*architecture="federated-learning"'
                         r'[^}]*\} 1\.0', text)

        # And the only things left running are the main architecture's
        st = s.status("prediction-lab")
        assert st["architectures"]["gossip-learning"]["state"] == "undeployed"
        ids = descriptor_ids(s.state())
        running = {ids[i["fdu_id"]].split(".")[-2] for i in s.running()}
        assert running == {"aggregator", "worker", "client"}, running

        answered = sum(ok for _, ok in probe.samples)
        report.append(f"prediction service: {answered}/{len(probe.samples)} requests answered; "
                      f"downtime during failover {failover_downtime:.1f}s, "
                      f"during failback {failback_downtime:.1f}s")
        # A make-before-break failback hands over between two healthy architectures.
        assert failback_downtime < failover_downtime + 5


def _wait(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False
