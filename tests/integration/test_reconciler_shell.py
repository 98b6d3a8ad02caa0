"""The ActiveStrategy reconciler's shell in this process, on a real etcd and fogsim, after a
``fogstrat controller`` brought the strategy up: what a restarted controller does first.

The decision core is tested on its own (``tests/unit/test_decision.py``); this checks the
shell keeps its side of the bargain, counting calls into the real ``decide``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from controller.api import kinds
from controller.arch.ids import ArchitectureKey
from controller.fog.fogsim_driver import FogsimClient
from controller.fog.fogsim_http import HttpSettings
from controller.metrics import Metrics
from controller.reconcile import decision as core
from controller.reconcile.status import StrategyStatus
from controller.reconcile.times import parse_time
from controller.resources import Resources
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.active import reconciler as active_module
from controller.runtime.documents import Documents
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.store import connect
from controller.store.base import Conflict
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
    last_probe = parse_time(s.raw_status()["architectures"]["web-main"]["lastProbeTime"])
    assert last_probe is not None

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
        assert mem.stored.status is not None
        assert mem.stored.status.arch("web-main").last_probe_time == shell.now
    finally:
        shell.close()


def test_a_failover_whose_status_write_fails_takes_back_what_it_prepared(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replacement's descriptors are onboarded while the failover's status write is in
    flight; when the write fails, no deploy follows, and they are offloaded again."""
    s.given.web_strategy().controller().serving("web-main")
    s.when.controller_killed()
    s.when.node_down("cloud-1")  # web-main's node: it vanishes, a failover at once

    write = StatusWriter.write

    def refused(self: StatusWriter, key: ObjectKey, status: Mapping[str, Any], *,
                changed: bool = False) -> bool:
        if status.get("transition"):
            raise Conflict(str(key), 1, 2)  # someone else wrote it meanwhile
        return write(self, key, status, changed=changed)

    monkeypatch.setattr(StatusWriter, "write", refused)
    shell = Shell(s)
    try:
        decisions = counting_decide(monkeypatch)
        with pytest.raises(Conflict):
            shell.reconciler.reconcile(shell.key)
        assert any(isinstance(a, core.Deploy) and a.arch == "web-backup"
                   for a in decisions[-1].actions), decisions[-1].message
        backup = ArchitectureKey("default", s.name, "web-backup").prefix
        main = ArchitectureKey("default", s.name, "web-main").prefix
        fdus = [str(f["id"]) for f in s.state()["fdus"]]
        assert not [f for f in fdus if f.startswith(backup)], fdus
        assert not [f for f in fdus if f.startswith(main)], fdus  # undeployed meanwhile
    finally:
        shell.close()


def test_descriptors_prepared_by_a_controller_that_died_go_with_the_strategy(
        s: Scenario) -> None:
    """What a controller killed between preparing a failover and recording it leaves (the
    replacement's descriptors, named by its key, no instance) is removed on deletion."""
    s.given.web_strategy().controller().serving("web-main")
    [main] = [f for f in s.state()["fdus"]
              if str(f["id"]).startswith(ArchitectureKey("default", s.name, "web-main").prefix)]
    left = {k: v for k, v in main.items() if k != "uuid"}
    left["id"] = ArchitectureKey("default", s.name, "web-backup").prefix + "web.0"
    fog = FogsimClient(s.sim.url, HttpSettings(timeout=5.0))
    try:
        fog.onboard(left)
    finally:
        fog.close()

    s.when.fogstrat("delete", "activestrategy", s.name)
    s.then.fog_empty(timeout=20)


def test_a_quiet_probe_cycle_neither_reads_nor_writes_status_json(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """A healthy cycle of a resting strategy works on the status in memory: the stored JSON
    is parsed when the store holds someone else's write and built when something changes,
    never on the path every steady strategy takes every interval."""
    s.given.web_strategy().controller().serving("web-main")
    s.then.stays(lambda st: st["phase"] == "Serving", "Serving", seconds=1.5)
    s.when.controller_killed()
    last_probe = parse_time(s.raw_status()["architectures"]["web-main"]["lastProbeTime"])
    assert last_probe is not None

    calls: list[str] = []
    to_json, from_json = StrategyStatus.to_json, StrategyStatus.from_json

    def counted_to_json(self: StrategyStatus) -> dict[str, Any]:
        calls.append("to_json")
        return to_json(self)

    def counted_from_json(data: Any) -> StrategyStatus:
        calls.append("from_json")
        return from_json(data)

    monkeypatch.setattr(StrategyStatus, "to_json", counted_to_json)
    monkeypatch.setattr(StrategyStatus, "from_json", staticmethod(counted_from_json))
    shell = Shell(s)
    try:
        decisions = counting_decide(monkeypatch)
        shell.now = last_probe + 60
        assert shell.reconciler.reconcile(shell.key) is not None  # the restart's one step
        assert "from_json" in calls  # what the dead controller stored, read once
        stepped, calls[:] = len(decisions), []
        for _ in range(5):
            shell.now += 1.0  # web-main is probed every second
            again = shell.reconciler.reconcile(shell.key)
            assert again is not None and 0 < again <= 1.0
        assert len(decisions) == stepped, [d.message for d in decisions[stepped:]]
        assert calls == []
    finally:
        shell.close()
