"""decide() on definite failures: the rows of the decision table and the stories for
fail-fast (an instance in ERROR, gone, or on a node that is gone fails over at once) and
for ``policy.failFast: false`` (the threshold applies to them too). The table's helpers
and its tiny world are ``test_decision``'s."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

import tests.unit.test_decision as table
from controller.api.models import StrategySpec
from controller.api.parse import parse_document
from controller.api.validation import validate
from controller.arch.observe import ArchitectureSnapshot, ObservedReplica
from controller.fog.client import InstanceInfo, InstanceState
from controller.reconcile.decision import (
    Action,
    Decision,
    Deploy,
    Observed,
    Probe,
    ProbeOutcome,
    Undeploy,
)
from tests.unit.test_decision import (
    HEALTH,
    POLICY,
    SERVED,
    STRATEGY,
    UNPLACEABLE,
    A,
    B,
    C,
    Case,
    Run,
    World,
    arch,
    bad,
    cond,
    in_transition,
    inp,
    no_events,
    ob,
    serving,
    serving_arch,
    tr,
)

ERROR = "web replica 0: instance i-1 in ERROR: crashed by fault injection"
IN_ERROR = ob(True, True, complete=False, instance_error=ERROR)
SLOW = replace(STRATEGY, policy=replace(POLICY, fail_fast=False))
"""``policy.failFast: false``."""


def reason(d: Decision) -> str | None:
    return d.status.transition.reason if d.status.transition is not None else None


CASES = [
    Case("instance-error-fails-over-at-once", inp(serving(), {A: IN_ERROR}),
         (Undeploy(A), Deploy(B)), "FailingOver",
         f"main fl in ERROR ({ERROR}), failing over to gossip",
         lambda d: reason(d) == "InstanceError" and d.status.arch(A).consecutive_failures == 0
         and no_events(d)),
    Case("instance-error-and-its-failed-probe-fail-over-at-once",
         inp(serving(), {A: IN_ERROR}, probes=bad()), (Undeploy(A), Deploy(B)), "FailingOver",
         "in ERROR", lambda d: reason(d) == "InstanceError"),
    Case("vanished-wins-over-instance-error",
         inp(serving(), {A: replace(IN_ERROR, vanished=True)}), (Undeploy(A), Deploy(B)),
         "FailingOver", "main fl vanished", lambda d: reason(d) == "Vanished"),
    Case("probe-failure-is-not-definite-keeps-the-threshold",
         inp(serving(), {A: SERVED}, probes=bad()), (), "Serving", "1/3 failed cycles",
         lambda d: d.status.transition is None),
    Case("instance-error-fail-fast-off-waits-for-the-threshold",
         inp(serving(), {A: IN_ERROR}, probes=bad(), strategy=SLOW), (), "Degraded",
         "failFast is off: failing over after 3 failed cycles (1 so far)",
         lambda d: cond(d, "Degraded") == ("True", "InstanceError")
         and d.status.transition is None and d.status.active_architecture == A),
    Case("instance-error-fail-fast-off-serves-nothing-meanwhile",
         inp(serving(archs={A: arch("deployed")}), {A: IN_ERROR}, strategy=SLOW), (),
         "Degraded", "main fl in ERROR"),
    Case("instance-error-fail-fast-off-at-the-threshold",
         inp(serving(archs={A: arch(bad=2, ok=0)}), {A: IN_ERROR}, probes=bad(), strategy=SLOW),
         (Undeploy(A), Deploy(B)), "FailingOver", "main fl in ERROR",
         lambda d: reason(d) == "InstanceError"),
    Case("vanished-fail-fast-off-waits-for-the-threshold",
         inp(serving(), {A: ob(True, True, vanished=True)}, probes=bad(), strategy=SLOW), (),
         "Degraded", "main fl vanished; failFast is off",
         lambda d: cond(d, "Degraded") == ("True", "Vanished")),
    Case("all-gone-fail-fast-off-at-the-threshold",
         inp(serving(archs={A: arch(bad=3)}), {}, strategy=SLOW), (Deploy(B),), "FailingOver",
         "main fl vanished, failing over to gossip", lambda d: reason(d) == "Vanished"),
    Case("instance-error-pinned-holds",
         inp(serving(B), {B: IN_ERROR}, spec=replace(table.SPEC, pin=B)), (), "Degraded",
         "gossip in ERROR", lambda d: cond(d, "Degraded") == ("True", "PinnedUnhealthy")),
    Case("instance-error-flap-guard-holds",
         inp(serving(B, recent_failovers=(table.NOW - 30,) * 4), {B: IN_ERROR}), (),
         "Degraded", "flap guard holds", lambda d: cond(d, "Degraded") == ("True", "FlapGuard")),
    Case("instance-error-nothing-else-placeable-keeps-it",
         inp(serving(), {A: IN_ERROR, B: UNPLACEABLE, C: UNPLACEABLE}), (), "Degraded",
         "no other candidate can be placed",
         lambda d: cond(d, "Degraded") == ("True", "NoPlaceableCandidate")),
    Case("target-in-error-fails-at-once",
         inp(in_transition(tr("failover", A, B, attempted=(A,)), {B: arch("deployed", ok=0)}),
             {B: ob(True, complete=False, instance_error=ERROR)}), (Undeploy(B),),
         "FailingOver", "gossip in ERROR", lambda d: d.status.transition is not None
         and d.status.transition.to == C and ERROR in d.status.arch(B).message),
    Case("target-in-error-fail-fast-off-waits",
         inp(in_transition(tr("failover", A, B, attempted=(A,)), {B: arch("deployed", ok=0)}),
             {B: ob(True, complete=False, instance_error=ERROR)}, strategy=SLOW),
         (Deploy(B),), "FailingOver", "waiting",
         lambda d: d.status.transition is not None and d.status.transition.to == B),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide_table_definite_failures(case: Case) -> None:
    table.test_decide_table(case)


@dataclass
class CrashWorld(World):
    """The tiny world where an architecture's instance can crash into ERROR: its state
    probe fails from then on, and an undeploy takes the dead instance away."""

    crashed: set[str] = field(default_factory=set)

    def observe(self) -> dict[str, Observed]:
        out = super().observe()
        for n in self.crashed & set(self.deployed):
            out[n] = replace(out[n], complete=False, instance_error=ERROR)
        return out

    def apply(self, action: Action) -> bool:
        if isinstance(action, Probe) and action.arch in self.crashed:
            self.probes[action.arch] = ProbeOutcome("Unhealthy", "instance in ERROR")
            return False
        if isinstance(action, Undeploy):
            self.crashed.discard(action.arch)
        return super().apply(action)


def steps_to_failover(r: Run) -> int:
    """Steps from now until one starts the failover (probe cycles run as they fall due)."""
    for n in range(1, 50):
        d = r.step()
        if reason(d) is not None:
            return n
    raise AssertionError(f"no failover: {r.messages[-3:]}")


def test_story_a_crash_fails_over_in_the_step_that_sees_it() -> None:
    r = Run(CrashWorld())
    r.until(serving_arch(A))
    r.world.crashed.add(A)  # type: ignore[attr-defined]
    assert steps_to_failover(r) == 1
    assert r.status.transition is not None and r.status.transition.reason == "InstanceError"
    r.until(serving_arch(B))
    assert r.events[-1].kind == "failover" and r.events[-1].reason == "InstanceError"
    assert r.status.failover_count == 1


def test_story_fail_fast_off_a_crash_waits_for_the_threshold() -> None:
    r = Run(CrashWorld(), strategy=SLOW)
    r.until(serving_arch(A))
    r.world.crashed.add(A)  # type: ignore[attr-defined]
    steps = steps_to_failover(r)
    threshold = HEALTH[A].failure_threshold
    assert r.status.arch(A).consecutive_failures == threshold
    assert steps > threshold  # each failed cycle its own step (plus the asking ones)
    assert any("failFast is off" in m for m in r.messages)
    r.until(serving_arch(B))
    assert r.events[-1].reason == "InstanceError"


def test_story_node_gone_fail_fast_off_waits_then_fails_over() -> None:
    r = Run(CrashWorld(), strategy=SLOW)
    r.until(serving_arch(A))
    r.world.up.discard(A)  # main's nodes vanish
    assert steps_to_failover(r) > HEALTH[A].failure_threshold
    r.until(serving_arch(B))
    assert r.events[-1].reason == "Vanished"


def test_story_a_crashed_replacement_goes_back_to_the_main_at_once() -> None:
    r = Run(CrashWorld())
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(serving_arch(B))
    r.world.healthy[A] = True
    r.world.crashed.add(B)  # type: ignore[attr-defined]
    assert steps_to_failover(r) == 1
    r.until(serving_arch(A))
    assert [e.reason for e in r.events] == ["Unhealthy", "InstanceError"]


# --- where the definite failure comes from -------------------------------------------------


def replica(*states: InstanceState, msg: str = "") -> ObservedReplica:
    infos = tuple(InstanceInfo(f"i-{n}", "fdu", "node", s, -9 if s is InstanceState.ERROR
                               else None, msg or None) for n, s in enumerate(states))
    return ObservedReplica("web", 0, "deploy", "fdu", "uuid", True, infos)


def test_a_replica_with_only_error_instances_is_in_error_in_the_fogs_words() -> None:
    snap = ArchitectureSnapshot((replica(InstanceState.ERROR, msg="crashed\nby fault"),), ())
    assert snap.error_summary() == "web replica 0: instance i-0 in ERROR: crashed by fault"
    assert not snap.complete


@pytest.mark.parametrize("states", [
    (InstanceState.RUN, InstanceState.ERROR),  # a duplicate in ERROR: the RUN one serves
    (InstanceState.CONFIGURE,),  # not running, but nothing says it failed
    (),  # no instance at all: the record's vanished ids say more
])
def test_no_definite_error_while_an_instance_is_not_in_error(
        states: tuple[InstanceState, ...]) -> None:
    assert ArchitectureSnapshot((replica(*states),), ()).error_summary() == ""


def test_error_without_a_message_names_the_code_and_counts_the_others() -> None:
    one = replica(InstanceState.ERROR)
    other = replace(one, replica=1)
    text = ArchitectureSnapshot((one, other), ()).error_summary()
    assert text == "web replica 0: instance i-0 in ERROR: error code -9 (and 1 more)"


@pytest.mark.parametrize("policy,fail_fast", [({}, True), ({"failFast": False}, False)])
def test_fail_fast_is_a_strategy_policy_on_by_default(policy: dict[str, object],
                                                     fail_fast: bool) -> None:
    doc = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy",
           "metadata": {"name": "s"}, "spec": {"main": {"architecture": "a"},
                                               "policy": policy}}
    spec = parse_document(doc).spec
    assert isinstance(spec, StrategySpec) and spec.policy.fail_fast is fail_fast


def test_fail_fast_that_is_not_a_boolean_is_one_clear_problem() -> None:
    doc = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Strategy",
           "metadata": {"name": "s"}, "spec": {"main": {"architecture": "a"},
                                               "policy": {"failFast": "sometimes"}}}
    assert [f"{p.path}: {p.message}" for p in validate(doc)] == [
        "spec.policy.failFast: must be a boolean, got string 'sometimes'"]
