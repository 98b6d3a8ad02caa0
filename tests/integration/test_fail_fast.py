"""Fail-fast on a real etcd and fogsim: an instance crashed into ERROR is a definite
failure, and the reconcile that observes it fails over, however many probe cycles
``failureThreshold`` asks for; with ``policy.failFast: false`` it waits for them.

Causality, not time: the controller that brought the strategy up is killed, the instance
crashed, and a reconciler in this process (its clock ours to move) is stepped one
reconcile at a time, each decision it makes counted (see ``test_reconciler_shell``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from controller.reconcile import decision as core
from controller.reconcile.times import parse_time
from tests.integration.test_reconciler_shell import Shell, counting_decide
from tests.support.etcd import EtcdServer
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    strategy,
    web_architecture,
)

THRESHOLD = 5
INTERVAL = 60.0
"""A probe cycle a minute: no cycle falls due unless the test moves the clock."""


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def bring_up(s: Scenario, *, fail_fast: bool | None) -> None:
    """``web-main`` serving under a controller that is then killed; its instance crashed."""
    st = strategy("web", "web-main", ["web-backup"])
    if fail_fast is not None:
        st["spec"]["policy"]["failFast"] = fail_fast
    s.given.documents(
        environment("lab", s.sim.url),
        *(web_architecture(name, s.port, selector={"tier": tier}, interval=f"{INTERVAL:g}s",
                           failure_threshold=THRESHOLD)
          for name, tier in (("web-main", "cloud"), ("web-backup", "fog"))),
        st, active_strategy(s.name, "web", "lab"),
    ).controller().serving("web-main")
    s.when.controller_killed()
    crash(s, instance_id(s.raw_status(), "web-main"))


def instance_id(status: dict[str, Any], arch: str) -> str:
    [replica] = status["architectures"][arch]["instances"]["entities"]["web"].values()
    return str(replica["instanceId"])


def crash(s: Scenario, iid: str) -> None:
    req = urllib.request.Request(f"{s.sim.url}/sim/instances/{iid}/crash", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    [inst] = [i for i in s.instances() if i["uuid"] == iid]
    assert inst["status"] == "ERROR", inst


def last_probe(s: Scenario) -> float:
    t = parse_time(s.raw_status()["architectures"]["web-main"].get("lastProbeTime"))
    assert t is not None
    return t


def failing_over(d: core.Decision) -> bool:
    t = d.status.transition
    return t is not None and t.kind == "failover" and t.reason == "InstanceError"


def test_an_instance_in_error_fails_over_in_the_one_reconcile_that_observes_it(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    bring_up(s, fail_fast=None)  # the default: on
    shell = Shell(s)
    try:
        decisions = counting_decide(monkeypatch)
        shell.now = last_probe(s) + 1  # no probe cycle due: the observation alone decides
        shell.reconciler.reconcile(shell.key)

        first = decisions[0]
        assert failing_over(first), first.message
        assert "web-main in ERROR" in first.message and "fault injection" in first.message
        assert first.status.arch("web-main").consecutive_failures == 0
        stored = shell.reconciler._status.current(shell.key)[0]
        assert stored is not None
        assert stored["phase"] in ("FailingOver", "Serving"), stored["phase"]
        assert (stored.get("transition") or stored["history"][-1])["reason"] == "InstanceError"
    finally:
        shell.close()


def test_with_fail_fast_off_an_instance_in_error_waits_for_the_threshold(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    bring_up(s, fail_fast=False)
    shell = Shell(s)
    try:
        decisions = counting_decide(monkeypatch)
        shell.now = last_probe(s) + 1
        shell.reconciler.reconcile(shell.key)
        assert not any(failing_over(d) for d in decisions), decisions[-1].message
        assert "failFast is off" in decisions[-1].message
        assert decisions[-1].status.phase == "Degraded"

        cycles = 0
        while not any(failing_over(d) for d in decisions):
            assert cycles < THRESHOLD, decisions[-1].message
            shell.now += INTERVAL  # exactly one probe cycle falls due
            shell.reconciler.reconcile(shell.key)
            cycles += 1
        assert cycles == THRESHOLD
        [turn] = [d for d in decisions if failing_over(d)][:1]
        assert turn.status.arch("web-main").consecutive_failures == THRESHOLD
    finally:
        shell.close()
