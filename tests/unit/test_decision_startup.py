"""decide() on a transition's target in its start-up: until it passes a probe cycle after its
deploy it is probed at ``health.startupInterval`` (default the shorter of ``interval`` and
250 ms) and failed by time (``failureThreshold x interval`` since its deploy), not by
count; after it, the normal interval and thresholds. The table's helpers and its tiny
world are ``test_decision``'s."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.reconcile.decision import (
    Action,
    Decision,
    Deploy,
    Probe,
    ProbeOutcome,
    Undeploy,
    decide,
    probes_due,
)
from controller.reconcile.probing import STARTUP_INTERVAL, startup_interval
from controller.reconcile.status import ArchitectureStatus, StrategyStatus
from tests.unit.test_decision import (
    HEALTH,
    NOW,
    POLICY,
    RUNNING,
    SERVED,
    STRATEGY,
    T0,
    A,
    B,
    C,
    Case,
    Check,
    Run,
    World,
    arch,
    in_transition,
    inp,
    ob,
    serving,
    serving_arch,
    tr,
)

BUDGET = HEALTH[B].failure_threshold * HEALTH[B].interval  # 3 x 5 s
LOW = ProbeOutcome("Unhealthy", "accuracy 0.4 < 0.6", {"accuracy": 0.4}, "QosOutOfRange")


def starting(bad: int = 0, *, last: float = T0, **kw: Any) -> ArchitectureStatus:
    """A target deployed by the transition that has not passed a cycle yet."""
    fields: dict[str, Any] = (
        {"last_probe_message": LOW.message, "last_probe_reason": LOW.reason} if bad else {})
    return replace(arch("deployed", "Unknown", ok=0, bad=bad, started=False, **kw),
                   last_probe_time=last, **fields)


def failover(target: ArchitectureStatus, since: float = NOW - 1, **kw: Any) -> StrategyStatus:
    return in_transition(tr("failover", A, B, since=since, attempted=(A,)), {B: target}, **kw)


def to(d: Decision) -> str | None:
    return d.status.transition.to if d.status.transition is not None else None


P = Probe


def due(name: str, at: float) -> Check:
    return lambda d: d.probes_due.get(name) == pytest.approx(at)


CASES = [
    Case("startup-target-probed-at-the-startup-cadence",
         inp(failover(starting(2, last=NOW - 0.3)), {B: RUNNING}), (Probe(B),), "FailingOver",
         "starting up: waiting for its first healthy cycle", due(B, NOW)),
    Case("startup-target-waits-for-its-next-startup-cycle",
         inp(failover(starting(2, last=NOW - 0.1)), {B: RUNNING}), (), "FailingOver",
         "starting up", lambda d: due(B, NOW + 0.15)(d)
         and d.requeue_after == pytest.approx(0.15)),
    Case("startup-failed-cycles-are-not-counted",
         inp(failover(starting(7)), {B: RUNNING}, probes={B: LOW}), (), "FailingOver",
         "starting up", lambda d: to(d) == B and d.status.arch(B).consecutive_failures == 8),
    Case("startup-target-failed-when-its-budget-is-spent",
         inp(failover(starting(4), since=NOW - BUDGET), {B: RUNNING}), (Undeploy(B),),
         "FailingOver",
         "gossip did not pass a probe cycle within 15s of its deploy (4 failed start-up "
         "cycles (accuracy 0.4 < 0.6)) (QosOutOfRange), trying edge",
         lambda d: to(d) == C and d.status.arch(B).message.startswith("gossip did not pass")),
    Case("startup-budget-not-spent-on-unknown-cycles",  # the deploy timeout bounds those
         inp(failover(starting(0, unknown=40), since=NOW - BUDGET), {B: RUNNING}), (P(B),),
         "FailingOver", "starting up", lambda d: to(d) == B),
    Case("startup-budget-follows-the-policy-failure-threshold",
         inp(failover(starting(1), since=NOW - 5), {B: RUNNING},
             strategy=replace(STRATEGY, policy=replace(POLICY, failure_threshold=1))),
         (Undeploy(B),), "FailingOver", "within 5s of its deploy (1 failed start-up cycles"),
    Case("startup-interval-from-the-spec",
         inp(failover(starting(1, last=NOW - 0.5)), {B: RUNNING},
             health={**HEALTH, B: replace(HEALTH[B], startup_interval=2.0)}), (),
         "FailingOver", "starting up", due(B, NOW + 1.5)),
    Case("first-pass-ends-the-startup",
         inp(failover(starting(5, last=NOW - 0.3)), {B: RUNNING},
             probes={B: ProbeOutcome("Healthy")}), (), "FailingOver",
         "waiting for health 1/2 cycles",
         lambda d: d.status.arch(B).first_pass_time == NOW
         and due(B, NOW + HEALTH[B].interval)(d)),
    Case("passed-target-probed-at-its-interval",
         inp(failover(arch("deployed", "Unknown", ok=1)), {B: RUNNING}), (), "FailingOver",
         "waiting for health 1/2 cycles", due(B, T0 + HEALTH[B].interval)),
    Case("passed-target-failures-are-counted",
         inp(failover(arch("deployed", "Unhealthy", ok=0, bad=3, started=True)),
             {B: RUNNING}), (Undeploy(B),), "FailingOver",
         "gossip unhealthy 3/3 cycles (Unhealthy), trying edge"),
    Case("startup-target-in-error-fails-at-once",
         inp(failover(starting(0)), {B: ob(True, instance_error="instance i-9 in ERROR")}),
         (Undeploy(B),), "FailingOver", "gossip in ERROR (instance i-9 in ERROR)",
         lambda d: to(d) == C),
    Case("startup-target-vanished-fails-at-once",
         inp(failover(starting(0)), {B: ob(True, vanished=True)}), (Undeploy(B),),
         "FailingOver", "gossip instances vanished (Vanished), trying edge"),
    Case("startup-target-deploy-failed-fails-at-once",
         inp(failover(starting(0)), {B: ob(True, complete=False, error="no room on n3")}),
         (Undeploy(B),), "FailingOver", "no room on n3 (DeployFailed), trying edge"),
    Case("make-before-break-target-in-startup-probed-at-the-cadence",
         inp(in_transition(tr("failback", B, A, mbb=True, since=NOW - 1),
                           {A: starting(5, last=NOW - 0.3), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (Probe(A),), "FailingBack", "starting up",
         due(A, NOW)),
    Case("make-before-break-target-failed-by-time-aborts",
         inp(in_transition(tr("failback", B, A, mbb=True, since=NOW - BUDGET),
                           {A: starting(5), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (Undeploy(A),), "Serving",
         "failback to fl aborted (fl did not pass a probe cycle within 15s of its deploy",
         lambda d: d.status.active_architecture == B and d.status.transition is None),
    Case("active-architecture-probed-at-its-interval-even-if-never-started",
         inp(serving(archs={A: replace(arch(), first_pass_time=None)}), {A: SERVED}), (), "Serving",
         "", due(A, T0 + HEALTH[A].interval)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_startup_table(case: Case) -> None:
    d = decide(case.input)
    assert d.actions == case.actions, d.message
    assert d.status.phase == case.phase, d.message
    assert case.message in d.message, d.message
    assert case.check(d), d
    assert StrategyStatus.from_json(json.loads(json.dumps(d.status.to_json()))) == d.status


def test_startup_interval_default_is_the_shorter_of_interval_and_the_cap() -> None:
    assert startup_interval(HEALTH[B]) == STARTUP_INTERVAL
    assert startup_interval(replace(HEALTH[B], interval=0.1)) == 0.1
    assert startup_interval(replace(HEALTH[B], startup_interval=0.5)) == 0.5


def test_probes_due_by_status_alone_knows_the_startup() -> None:
    """A restarted shell runs a start-up target's cycles at the start-up cadence too."""
    status = failover(starting(1, last=T0))
    assert probes_due(status, HEALTH) == {B: T0 + STARTUP_INTERVAL}
    assert probes_due(failover(replace(starting(1), first_pass_time=T0)), HEALTH) == {B: T0 + 5.0}


@dataclass
class WarmingWorld(World):
    """The tiny world, but an architecture's first ``warmup[name]`` probe cycles after each
    deploy fail (peers training past an accuracy floor)."""

    warmup: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    cycles: list[str] = field(default_factory=list)

    def apply(self, action: Action) -> bool:
        if isinstance(action, Deploy) and action.arch not in self.deployed:
            self.left[action.arch] = self.warmup.get(action.arch, 0)
        if isinstance(action, Probe) and self.left.get(action.arch, 0) > 0:
            self.left[action.arch] -= 1
            self.cycles.append(action.arch)
            self.probes[action.arch] = LOW
            return False
        return super().apply(action)


def fail_main(r: Run) -> None:
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(lambda r: r.status.transition is not None and r.status.transition.to == B)


@settings(max_examples=20, deadline=None)
@given(warmup=st.integers(min_value=0, max_value=12))  # the tiny shell: ~1 s a cycle
def test_story_target_warming_up_longer_than_the_threshold_still_serves(warmup: int) -> None:
    """Failed start-up cycles, however many, within the budget: the target serves; none
    of them count towards failing it, and the next candidate is never deployed."""
    world = WarmingWorld(warmup={B: warmup})
    r = Run(world)
    fail_main(r)
    r.until(serving_arch(B))
    assert world.cycles.count(B) == warmup
    assert C not in r.world.deployed and not any("trying" in m for m in r.messages)
    assert r.status.failover_count == 1 and r.status.arch(B).started


def test_story_target_never_ready_fails_by_time_then_the_next_serves() -> None:
    world = WarmingWorld(warmup={B: 1000})
    r = Run(world)
    fail_main(r)
    started = r.status.transition.stage_since if r.status.transition else 0.0
    r.until(lambda r: r.status.transition is not None and r.status.transition.to == C)
    failed = next(m for m in r.messages if "trying edge" in m)
    assert "gossip did not pass a probe cycle within 15s of its deploy" in failed
    assert world.cycles.count(B) > HEALTH[B].failure_threshold  # by time, not by count
    assert r.now - started >= BUDGET
    r.until(serving_arch(C))
