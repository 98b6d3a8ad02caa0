"""Every surface tells one story: the status history, the Prometheus counters and the log
agree on each completed transition, even while the fog API fails 30% of its requests.

A real etcd, a real fogsim (``fogsim faults --error-rate 0.3``) and the real ``fogstrat
controller``: the cloud node goes down and up again until two failovers and two failbacks
are in the history, then the counters and the log lines are compared with it.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.fogsim import free_port
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    strategy,
    wait_for,
    web_architecture,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def counted(metrics: str) -> Counter[tuple[str, str, str, str]]:
    """(kind, from, to, reason) -> count, from the controller's /metrics."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    for family in text_string_to_metric_families(metrics):
        kind = {"fogstrat_failovers": "failover", "fogstrat_failbacks": "failback"}.get(
            family.name)
        if kind is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value:
                lab = sample.labels
                out[(kind, lab["from"], lab["to"], lab["reason"])] += int(sample.value)
    return out


def histogram_count(metrics: str, kind: str) -> int:
    for family in text_string_to_metric_families(metrics):
        if family.name == "fogstrat_transition_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_count") and sample.labels.get("kind") == kind:
                    return int(sample.value)
    return 0


def history_of(status: dict[str, object]) -> Counter[tuple[str, str, str, str]]:
    out: Counter[tuple[str, str, str, str]] = Counter()
    for e in status.get("history") or []:  # type: ignore[attr-defined]
        if e["kind"] in ("failover", "failback"):
            out[(e["kind"], e["from"], e["to"], e["reason"])] += 1
    return out


def logged(path: Path, ns: str, name: str) -> Counter[str]:
    """Complete-transition sentences in the controller's log, by kind."""
    out: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        for kind in ("failover", "failback"):
            if f" INFO  {ns}/{name}: {kind} complete:" in line:
                out[kind] += 1
    return out


def serving_after(count: str, n: int, arch: str) -> Callable[[dict[str, Any]], bool]:
    return lambda st: (st.get(count) == n and st.get("activeArchitecture") == arch
                       and st.get("phase") == "Serving")


def test_noisy_fog_counters_history_and_log_agree(s: Scenario) -> None:
    s.given.web_strategy(window="2s").controller().serving("web-main", timeout=60)
    ctl: ControllerProcess = s.controllers[0]
    s.sim.cli("faults", "--error-rate", "0.3")
    for rounds in (1, 2):
        s.when.node_down("cloud-1")
        s.then.status_matches(serving_after("failoverCount", rounds, "web-backup"),
                              f"failover {rounds} complete", timeout=120)
        s.when.node_up("cloud-1")
        s.then.status_matches(serving_after("failbackCount", rounds, "web-main"),
                              f"failback {rounds} complete", timeout=120)
    s.sim.cli("faults", "--error-rate", "0")
    st = s.status()
    history = history_of(st)
    assert sum(v for (k, *_), v in history.items() if k == "failover") == 2, st["history"]
    assert sum(v for (k, *_), v in history.items() if k == "failback") == 2, st["history"]
    metrics = ctl.metrics()
    assert counted(metrics) == history, (counted(metrics), st["history"])
    assert histogram_count(metrics, "failover") == 2
    assert histogram_count(metrics, "failback") == 2
    assert logged(ctl.log_path, "default", s.name) == Counter(failover=2, failback=2), \
        ctl.log_tail(80)
    # One vocabulary: the labels are the status reasons themselves. A noisy fog may fail
    # every candidate's deploy once; the failover then goes on after its backoff as
    # "Unplaceable" (the main could not be placed), which docs/reasons.md lists.
    assert {r for (_, _, _, r) in history} <= {"Vanished", "Unhealthy", "MainReady",
                                               "Unplaceable"}


def test_describe_tells_why_the_process_died_in_its_own_words(s: Scenario) -> None:
    """The main's port on cloud-1 is taken: its process exits at once. The failure, as
    status, events and describe tell it, carries the process's own last line."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.10.11", s.port))  # cloud-1's address (hack/fogsim/nodes.yaml)
        taken.listen()
        s.given.web_strategy().controller()
        s.then.phase_is("Serving", active="web-backup", timeout=60)
    described = s.cli.ok("describe", "activestrategy", s.name).out
    assert "web on cloud-1 exited with code 1: " in described, described
    assert "Address already in use" in described, described
    assert "Traceback" not in described.split("web on cloud-1", 1)[1].splitlines()[0]


def test_an_unreachable_fog_before_anything_deployed_shows_in_get(s: Scenario) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s.given.documents(environment("lab", dead),
                      web_architecture("web-main", s.port, selector={"tier": "cloud"}),
                      web_architecture("web-backup", s.port, selector={"tier": "fog"}),
                      strategy("web", "web-main", ["web-backup"]),
                      active_strategy(s.name, "web", "lab"))
    s.given.controller()

    def row() -> list[str] | None:
        lines = s.cli.ok("get", "activestrategy").out.splitlines()
        cells = lines[1].split() if len(lines) > 1 else []
        return cells if "Degraded" in cells else None

    cells = wait_for(row, 30, "Degraded in get's table", s.describe)
    assert cells[0] == s.name
    s.then.condition("Degraded", "True")
    assert s.then.condition("Degraded")["reason"] == "FogUnreachable"
    log = s.controllers[0].log_path.read_text()
    assert f"WARNING default/{s.name}: fog unreachable" in log, log[-3000:]
