"""The start-up probe rule on a real etcd and fogsim: a failover's target that has not yet
passed a probe cycle is probed again at ``health.startupInterval``, not a whole
``interval`` later, its failed start-up cycles do not count towards ``failureThreshold``,
and one that never passes is failed once the start-up budget (``failureThreshold x
interval`` since its deploy) is spent.

Causality, not time: the controller that brought the strategy up is killed, the main's
instance crashed (a definite failure: the failover starts at once), and a reconciler in
this process (its clock ours to move) is stepped one reconcile at a time; the
replacement's quality comes from a file the test writes (``websvc.py``'s ``/qos``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.reconcile import decision as core
from controller.reconcile.probing import STARTUP_INTERVAL
from controller.runtime.active import reconciler as active_module
from tests.integration.test_fail_fast import crash, instance_id, last_probe
from tests.integration.test_reconciler_shell import Shell
from tests.support.etcd import EtcdServer
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    strategy,
    web_architecture,
)

THRESHOLD = 3
INTERVAL = 60.0
"""A probe cycle a minute: only a start-up cycle can fall due while the clock moves by
a fraction of a second."""
BUDGET = THRESHOLD * INTERVAL
MAIN, BACKUP = "web-main", "web-backup"


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def bring_up(s: Scenario, qos: Path) -> None:
    """``web-main`` serving under a controller that is then killed; the replacement's
    accuracy (floor 0.5) read from ``qos``, 0.1 for now; the main's instance crashed."""
    qos.write_text("0.1")
    s.given.documents(
        environment("lab", s.sim.url),
        web_architecture(MAIN, s.port, selector={"tier": "cloud"}, interval=f"{INTERVAL:g}s",
                         failure_threshold=THRESHOLD),
        web_architecture(BACKUP, s.port, selector={"tier": "fog"}, qos_min=0.5,
                         interval=f"{INTERVAL:g}s", failure_threshold=THRESHOLD),
        strategy("web", MAIN, [BACKUP], replacement_config={"qosFile": str(qos)}),
        active_strategy(s.name, "web", "lab"),
    ).controller().serving(MAIN)
    s.when.controller_killed()
    crash(s, instance_id(s.raw_status(), MAIN))


class Recorder:
    """The real ``decide``, each decision recorded with the replacement's probe cycle it
    was given (the shell runs the cycles; a decision folds them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decisions: list[core.Decision] = []
        self.cycles: list[str] = []
        monkeypatch.setattr(active_module, "decide", self.decide)

    def decide(self, inputs: core.DecisionInput) -> core.Decision:
        outcome = (inputs.probes or {}).get(BACKUP)
        if outcome is not None:
            self.cycles.append(outcome.result)
        self.decisions.append(core.decide(inputs))
        return self.decisions[-1]


def start_failover(s: Scenario, shell: Shell) -> float | None:
    """The reconcile that sees the crash: fails over, deploys the replacement and runs its
    first cycle (which fails). Returns when it asks to come back."""
    shell.now = last_probe(s) + 1
    again = shell.reconciler.reconcile(shell.key)
    status = shell.reconciler._memory[shell.key].stored.status
    assert status is not None and status.transition is not None, status
    assert (status.transition.kind, status.transition.to) == ("failover", BACKUP)
    return again


@dataclass
class Failover:
    """The main failed, its backup deployed and in its start-up (its accuracy file says
    it has not trained past the floor yet); what the shell decided is recorded."""

    qos: Path
    shell: Shell
    seen: Recorder
    again: float | None
    """When the shell asked to be called again after starting the failover."""


@pytest.fixture
def failover(s: Scenario, monkeypatch: pytest.MonkeyPatch,
             tmp_path: Path) -> Iterator[Failover]:
    qos = tmp_path / "accuracy"
    bring_up(s, qos)
    shell = Shell(s)
    try:
        seen = Recorder(monkeypatch)
        yield Failover(qos, shell, seen, start_failover(s, shell))
    finally:
        shell.close()


def test_a_target_still_starting_is_probed_at_the_startup_cadence_then_serves(
        failover: Failover) -> None:
    qos, shell, seen, again = failover.qos, failover.shell, failover.seen, failover.again
    decisions = seen.decisions
    # the next cycle is due a start-up interval later, not a probe interval
    assert again is not None and 0 < again <= STARTUP_INTERVAL
    for _ in range(2 * THRESHOLD):  # twice the failed cycles the threshold allows
        shell.now += STARTUP_INTERVAL
        again = shell.reconciler.reconcile(shell.key)
        assert again is not None and 0 < again <= STARTUP_INTERVAL
    assert seen.cycles == ["Unhealthy"] * (1 + 2 * THRESHOLD)
    last = decisions[-1]
    assert last.status.transition is not None and last.status.transition.to == BACKUP
    assert "starting up: waiting for its first healthy cycle" in last.message
    assert last.status.arch(BACKUP).consecutive_failures == 1 + 2 * THRESHOLD

    qos.write_text("0.9")  # trained past the floor
    shell.now += STARTUP_INTERVAL
    shell.reconciler.reconcile(shell.key)
    assert seen.cycles[-1] == "Healthy"
    stored = shell.reconciler._status.current(shell.key)[0]
    assert stored is not None
    assert (stored["phase"], stored["activeArchitecture"]) == ("Serving", BACKUP)
    assert stored["architectures"][BACKUP]["firstPassTime"]
    assert stored["history"][-1]["kind"] == "failover"
    assert [d.status.transition.to for d in decisions
            if d.status.transition is not None] == [BACKUP] * len(
                [d for d in decisions if d.status.transition is not None])


def test_a_target_never_passing_fails_once_its_startup_budget_is_spent(
        s: Scenario, failover: Failover) -> None:
    shell, decisions = failover.shell, failover.seen.decisions
    deployed_at = shell.now
    for _ in range(2 * THRESHOLD):
        shell.now += STARTUP_INTERVAL
        shell.reconciler.reconcile(shell.key)
    assert not any("did not pass" in d.message for d in decisions)
    backup = instance_id(s.raw_status(), BACKUP)
    assert any(i["uuid"] == backup for i in s.instances())
    shell.now = deployed_at + BUDGET  # the budget spent: the next failed cycle ends it
    shell.reconciler.reconcile(shell.key)
    failed = next(d for d in decisions if "did not pass a probe cycle" in d.message)
    assert (f"web-backup did not pass a probe cycle within {BUDGET:g}s of its deploy "
            f"({2 * THRESHOLD + 2} failed start-up cycles") in failed.message
    stored = shell.reconciler._status.current(shell.key)[0]
    assert stored is not None
    # no other candidate to try (the main was the failed one): held, nothing serving
    assert stored["phase"] == "Degraded", stored["phase"]
    assert "did not pass a probe cycle" in stored["lastError"]["message"]
    assert not any(i["uuid"] == backup for i in s.instances()), "left deployed"
