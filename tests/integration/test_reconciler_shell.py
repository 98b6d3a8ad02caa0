"""The ActiveStrategy reconciler's shell in this process, on a real etcd and fogsim, after a
``fogstrat controller`` brought the strategy up: what a restarted controller does first.

The decision core is tested on its own (``tests/unit/test_decision.py``); this checks the
shell keeps its side of the bargain, counting calls into the real ``decide``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from controller.api import kinds
from controller.metrics import Metrics
from controller.reconcile import decision as core
from controller.resources import Resources
from controller.runtime import active as active_module
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.documents import Documents
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.store import connect
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, wait_for


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


class Shell:
    """A restarted controller's reconciler (fresh memory), its clock ours to move."""

    def __init__(self, s: Scenario) -> None:
        self.now = time.time()
        self.store = connect(s.endpoint)
        self.informer = Informer(self.store, s.prefix, lambda _change: None)
        self.informer.start()
        assert self.informer.wait_synced(10)
        self.reconciler = ActiveStrategyReconciler(
            docs=Documents(self.informer),
            status=StatusWriter(Resources(self.store, s.prefix), self.informer, lambda: None),
            metrics=Metrics(), is_leader=lambda: True, clock=lambda: self.now)
        self.key = ObjectKey(kinds.ACTIVE_STRATEGY, "default", s.name)

    def close(self) -> None:
        self.reconciler.close()
        self.informer.stop()
        self.store.close()


def counting_decide(monkeypatch: pytest.MonkeyPatch) -> list[core.Decision]:
    """The real ``decide``, each decision it makes recorded."""
    made: list[core.Decision] = []

    def decide(inp: core.DecisionInput) -> core.Decision:
        made.append(core.decide(inp))
        return made[-1]

    monkeypatch.setattr(active_module, "decide", decide)
    return made


def test_restart_runs_the_due_probe_cycle_before_one_step(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    s.given.web_strategy().controller().serving("web-main")
    s.then.stays(lambda st: st["phase"] == "Serving", "Serving", seconds=1.5)
    s.when.controller_killed()
    last_probe = s.raw_status()["architectures"]["web-main"]["lastProbeTime"]

    shell = Shell(s)
    try:
        decisions = counting_decide(monkeypatch)
        shell.now = last_probe + 60  # the probe cycle (every 1 s) is long overdue
        again = shell.reconciler.reconcile(shell.key)

        assert len(decisions) == 1, [d.message for d in decisions]
        assert decisions[0].actions == (), decisions[0].message
        assert again is not None and 0 < again <= 1.0
        stored = wait_for(lambda: shell.reconciler._status.current(shell.key)[0], 5,
                          "the status")
        assert stored["phase"] == "Serving"
        # the probe ran (the status is written only when more than its volatile fields
        # change, so the shell's memory is where the fresh probe time shows)
        mem = shell.reconciler._memory[shell.key]
        assert mem.status is not None
        assert mem.status.arch("web-main").last_probe_time == shell.now
    finally:
        shell.close()
