"""decide(): one table row per situation, then multi-step stories against a tiny world."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.models import (
    ActiveStrategySpec,
    ArchitectureRef,
    FailbackPolicy,
    HealthSpec,
    StrategyPolicy,
    StrategySpec,
)
from controller.reconcile.decision import (
    RESYNC,
    Action,
    Adopt,
    Decision,
    DecisionInput,
    DeleteStatus,
    Deploy,
    Observed,
    Probe,
    ProbeOutcome,
    Serve,
    TransitionEvent,
    Undeploy,
    Unserve,
    decide,
    probes_due,
    quiet_probe,
)
from controller.reconcile.endpoint import serving_architecture
from controller.reconcile.status import (
    HISTORY_LIMIT,
    RECENT_FAILOVER_WINDOW,
    ArchitectureStatus,
    HealthName,
    Role,
    StrategyStatus,
    Transition,
)

A, B, C = "fl", "gossip", "edge"  # main, replacement 1, replacement 2
T0 = 10_000.0
NOW = T0 + 1.0  # probes ran at T0 with interval 5: not due at NOW
POLICY = StrategyPolicy(failback=FailbackPolicy(stabilization_window=60.0))
STRATEGY = StrategySpec(main=ArchitectureRef(A, {"rounds": 20}),
                        replacements=(ArchitectureRef(B), ArchitectureRef(C)), policy=POLICY)
HEALTH = {n: HealthSpec(interval=5.0, failure_threshold=3, success_threshold=2) for n in (A, B, C)}
ONE_CYCLE = {n: replace(h, success_threshold=1) for n, h in HEALTH.items()}
"""One healthy cycle makes a target ready: it is served in its deploy's batch."""
SPEC = ActiveStrategySpec(strategy="prediction", environment="lab")


def ob(exists: bool = False, served: bool = False, *, complete: bool | None = None,
       placeable: bool = True, alongside: bool = True, **kw: Any) -> Observed:
    return Observed(exists=exists, complete=exists if complete is None else complete,
                    served=served, placeable=placeable, placeable_alongside=alongside, **kw)


RUNNING, SERVED, GONE = ob(True), ob(True, True), ob()
UNPLACEABLE = ob(placeable=False, alongside=False, placement_message="no x86_64 node free")


def arch(state: str | None = "served", health: HealthName = "Healthy", ok: int = 2, bad: int = 0,
         unknown: int = 0, **kw: Any) -> ArchitectureStatus:
    """``started`` (passed a cycle since its deploy) unless told: whenever a cycle passed."""
    started = kw.pop("started", ok > 0 or health == "Healthy")
    kw.setdefault("first_pass_time", T0 - 10 if started else None)
    return ArchitectureStatus(state=state, health=health,  # type: ignore[arg-type]
                              consecutive_successes=ok, consecutive_failures=bad,
                              consecutive_unknowns=unknown, last_probe_time=T0, **kw)


def serving(active: str = A, **kw: Any) -> StrategyStatus:
    role: Role = "main" if active == A else "replacement"
    archs = {active: arch(), **kw.pop("archs", {})}
    return StrategyStatus(observed_generation=1, phase="Serving", active_architecture=active,
                          active_role=role, architectures=archs, **kw)


def inp(status: StrategyStatus | None = None, observed: Mapping[str, Observed] | None = None,
        *, probes: Mapping[str, ProbeOutcome] | None = None, spec: ActiveStrategySpec = SPEC,
        strategy: StrategySpec = STRATEGY, now: float = NOW, generation: int = 1,
        health: Mapping[str, HealthSpec] = HEALTH, **kw: Any) -> DecisionInput:
    obs = {A: GONE, B: GONE, C: GONE, **(observed or {})}
    return DecisionInput(spec=spec, generation=generation, strategy=strategy,
                         status=status or StrategyStatus(), observed=obs, now=now,
                         health=health, probes=probes, key="default/prediction", **kw)


def bad(reason: str = "") -> Mapping[str, ProbeOutcome]:
    return {A: ProbeOutcome("Unhealthy", "accuracy 0.5 < 0.8", {"accuracy": 0.5}, reason)}


def tr(kind: str, frm: str | None, to: str, stage: str = "deploying", since: float = T0,
       attempted: tuple[str, ...] = (), mbb: bool = False, reason: str = "Unhealthy") -> Transition:
    return Transition(kind, frm, to, reason, T0 - 5, stage, since,  # type: ignore[arg-type]
                      attempted, mbb)


def in_transition(t: Transition, archs: Mapping[str, ArchitectureStatus] | None = None,
                  active: str | None = None, **kw: Any) -> StrategyStatus:
    return StrategyStatus(observed_generation=1, phase="FailingOver", transition=t,
                          active_architecture=active, architectures=archs or {}, **kw)


Check = Callable[[Decision], object]


@dataclass(frozen=True)
class Case:
    id: str
    input: DecisionInput
    actions: tuple[Action, ...]
    phase: str
    message: str
    check: Check = lambda d: True


def cond(d: Decision, type_: str) -> tuple[str, str]:
    c = d.status.condition(type_)
    assert c is not None, type_
    return c.status, c.reason


def no_events(d: Decision) -> bool:
    return d.events == () and d.status.failover_count == 0 and d.status.failback_count == 0


MBB_FAILBACK = tr("failback", B, A, mbb=True, reason="MainReady")
P = Probe

CASES = [
    # --- start ---
    Case("start-deploys-main", inp(), (Deploy(A),), "Deploying", "starting to fl: deploying",
         lambda d: d.status.transition is not None and d.status.transition.kind == "start"
         and d.status.transition.stage == "deploying" and no_events(d)),
    Case("start-main-unplaceable-uses-first-placeable-replacement",
         inp(observed={A: UNPLACEABLE}), (Deploy(B),), "Deploying", "to gossip",
         lambda d: d.status.transition is not None
         and d.status.transition.reason == "Unplaceable"),
    Case("start-none-placeable-degraded",
         inp(observed={A: UNPLACEABLE, B: UNPLACEABLE, C: UNPLACEABLE}), (), "Degraded",
         "no candidate can be placed (fl: no x86_64 node free",
         lambda d: cond(d, "Degraded") == ("True", "Unplaceable") and d.requeue_after == 30.0),
    # --- deploying ---
    Case("deploying-waits-for-success-threshold",
         inp(in_transition(tr("start", None, A), {A: arch("deployed", "Unknown", ok=1)}),
             {A: RUNNING}), (), "Deploying", "waiting for health 1/2 cycles"),
    Case("deploying-incomplete-deploys-again",  # e.g. a deploy interrupted by a crash
         inp(in_transition(tr("start", None, A), {A: arch("deployed")}),
             {A: ob(True, complete=False)}), (Deploy(A), Probe(A), Serve(A)), "Deploying",
         "waiting for all replicas"),  # 2 cycles were healthy: the next makes it ready
    Case("deploying-fresh-target-waits-for-its-cycles",
         inp(in_transition(tr("start", None, A), {A: arch("deployed", "Unknown", ok=0)}),
             {}), (Deploy(A), Probe(A)), "Deploying", "deploying"),
    Case("deploying-one-cycle-target-served-behind-its-probe",
         inp(in_transition(tr("start", None, A), {A: arch("deployed", "Unknown", ok=0)}),
             {}, health=ONE_CYCLE), (Deploy(A), Probe(A), Serve(A)), "Deploying",
         "deploying"),
    Case("failover-one-cycle-target-served-behind-its-probe",
         inp(serving(archs={A: arch(bad=3)}), {A: SERVED}, health=ONE_CYCLE),
         (Undeploy(A), Deploy(B), Probe(B), Serve(B)), "FailingOver", "failing over to"),
    Case("make-before-break-target-not-served-while-the-old-serves",
         inp(in_transition(tr("failback", B, A, mbb=True), {A: arch("deployed", ok=0),
                                                            B: arch()}),
             {B: SERVED}, health=ONE_CYCLE), (Deploy(A), Probe(A)), "FailingBack",
         "deploying"),
    Case("deploying-healthy-serves",
         inp(in_transition(tr("start", None, A), {A: arch("deployed", ok=1)}), {A: RUNNING},
             probes={A: ProbeOutcome("Healthy")}), (Serve(A),), "Deploying",
         "fl healthy, serving it"),
    Case("deploying-served-completes-start",
         inp(in_transition(tr("start", None, A), {A: arch()}), {A: SERVED}), (), "Serving",
         "start complete: main fl serving",
         lambda d: d.status.active_architecture == A and d.status.active_role == "main"
         and d.status.history[-1].kind == "start" and no_events(d)
         and cond(d, "Ready") == ("True", "Healthy") and cond(d, "Serving")[0] == "True"),
    Case("serve-false-completes-as-deployed",
         inp(in_transition(tr("start", None, A), {A: arch("deployed")}), {A: RUNNING},
             spec=replace(SPEC, serve=False)), (), "Deployed", "start complete: main fl deployed",
         lambda d: cond(d, "Serving") == ("False", "ServeDisabled")),
    Case("serve-turned-on-serves-active",
         inp(serving(A, archs={A: arch("deployed")}), {A: RUNNING}), (Serve(A),), "Serving",
         "serving it"),
    Case("serve-turned-off-stops-the-serve-step-at-once",
         inp(serving(), {A: SERVED}, spec=replace(SPEC, serve=False)), (Unserve(A),),
         "Deployed", "serve disabled, stopping its serve step"),
    Case("serve-off-and-stopped-rests-deployed",
         inp(serving(A, archs={A: arch("deployed")}), {A: RUNNING},
             spec=replace(SPEC, serve=False)), (), "Deployed", "deployed (serve disabled)",
         lambda d: cond(d, "Serving") == ("False", "ServeDisabled")),
    # --- steady ---
    Case("steady-no-action", inp(serving(), {A: SERVED}), (), "Serving",
         "default/prediction: no action: main fl serving, healthy",
         lambda d: d.status.observed_generation == 1 and d.requeue_after == 4.0),
    Case("probe-due-emits-probe", inp(serving(), {A: SERVED}, now=T0 + 5), (P(A),), "Serving",
         "no action", lambda d: d.requeue_after == 0.0),
    Case("unknown-probe-keeps-counters",
         inp(serving(archs={A: arch(bad=2, ok=0)}), {A: SERVED},
             probes={A: ProbeOutcome("Unknown", "timeout")}), (), "Serving",
         "2/3 failed cycles",
         lambda d: (d.status.arch(A).consecutive_failures, d.status.arch(A).consecutive_unknowns,
                    d.status.arch(A).health) == (2, 1, "Healthy")),
    Case("many-unknowns-visible-not-failover",
         inp(serving(archs={A: arch(unknown=2)}), {A: SERVED},
             probes={A: ProbeOutcome("Unknown", "no data")}), (), "Serving",
         "3 cycles could not measure",
         lambda d: d.status.arch(A).health == "Unknown"
         and cond(d, "Ready") == ("Unknown", "ProbesInconclusive")
         and d.status.arch(A).consecutive_successes == 2),
    # --- needs-replacement ---
    Case("failover-after-failure-threshold",
         inp(serving(archs={A: arch(bad=2, ok=0)}), {A: SERVED}, probes=bad()),
         (Undeploy(A), Deploy(B)), "FailingOver",
         "default/prediction: main fl unhealthy 3/3 cycles (accuracy 0.5 < 0.8), failing "
         "over to gossip",
         lambda d: d.status.transition is not None
         and (d.status.transition.kind, d.status.transition.to, d.status.transition.started_at,
              d.status.transition.attempted) == ("failover", B, NOW, (A,))
         and d.status.active_architecture is None and no_events(d)),
    Case("failover-policy-threshold-override",
         inp(serving(), {A: SERVED}, probes=bad(),
             strategy=replace(STRATEGY, policy=replace(POLICY, failure_threshold=1))),
         (Undeploy(A), Deploy(B)), "FailingOver", "unhealthy 1/1 cycles"),
    Case("failover-reason-qos",
         inp(serving(archs={A: arch(bad=2)}), {A: SERVED}, probes=bad("QosBelowThreshold")),
         (Undeploy(A), Deploy(B)), "FailingOver", "failing over to gossip",
         lambda d: d.status.transition is not None
         and d.status.transition.reason == "QosBelowThreshold"
         and d.status.arch(A).last_probe_values == {"accuracy": 0.5}),
    Case("failover-vanished", inp(serving(), {A: ob(True, True, vanished=True)}),
         (Undeploy(A), Deploy(B)), "FailingOver", "main fl vanished, failing over to gossip",
         lambda d: d.status.transition is not None and d.status.transition.reason == "Vanished"),
    Case("failover-all-gone-no-undeploy-needed", inp(serving(), {A: GONE}), (Deploy(B),),
         "FailingOver", "main fl vanished, failing over to gossip"),
    Case("replacement-failing-goes-back-to-main-first",
         inp(serving(B, archs={B: arch(bad=3)}), {B: SERVED}), (Undeploy(B), Deploy(A)),
         "FailingOver",
         "replacement gossip unhealthy 3/3 cycles, failing over to fl"),
    Case("failover-skips-unplaceable",
         inp(serving(archs={A: arch(bad=3)}), {A: SERVED, B: UNPLACEABLE}),
         (Undeploy(A), Deploy(C)),
         "FailingOver", "failing over to edge"),
    Case("failover-none-placeable-keeps-active",
         inp(serving(archs={A: arch(bad=3)}), {A: SERVED, B: UNPLACEABLE, C: UNPLACEABLE}), (),
         "Degraded", "no other candidate can be placed (gossip: no x86_64 node free",
         lambda d: cond(d, "Degraded") == ("True", "NoPlaceableCandidate")
         and d.status.active_architecture == A),
    Case("drained-deploys-target",
         inp(in_transition(tr("failover", A, B, "draining", attempted=(A,)))), (Deploy(B),),
         "FailingOver", "failing over to gossip: deploying",
         lambda d: d.status.transition is not None and d.status.transition.stage == "deploying"
         and d.status.transition.stage_since == NOW and d.status.arch(B).health == "Unknown"),
    Case("target-deploy-error-tries-next",
         inp(in_transition(tr("failover", A, B, attempted=(A,)), {B: arch("deployed", ok=0)}),
             {B: ob(True, complete=False, error="no room on node n3")}), (Undeploy(B),),
         "FailingOver", "no room on node n3 (DeployFailed), trying edge",
         lambda d: d.status.transition is not None
         and (d.status.transition.to, d.status.transition.attempted,
              d.status.transition.stage) == (C, (A, B), "draining")
         and d.status.last_error is None),
    Case("target-timeout-tries-next",
         inp(in_transition(tr("failover", A, B, since=NOW - 300, attempted=(A,)),
                           {B: arch("deployed", "Unknown", ok=0)}), {B: RUNNING}),
         (Undeploy(B),), "FailingOver", "gossip not healthy within 300s (DeployTimeout)"),
    Case("target-unhealthy-tries-next-including-main",
         inp(in_transition(tr("failover", C, B, attempted=(C,)), {B: arch("deployed", bad=3)}),
             {B: RUNNING}), (Undeploy(B),), "FailingOver", "trying fl"),
    Case("all-candidates-failed-degraded",
         inp(in_transition(tr("failover", A, C, attempted=(A, B)), {C: arch("deployed")}),
             {C: ob(True, complete=False, error="image missing")}), (Undeploy(C),), "Degraded",
         "no other candidate can be placed",
         lambda d: d.status.transition is None and d.status.history[-1].kind == "degraded"
         and d.status.last_error is not None and d.status.last_error.reason == "NoCandidate"
         and d.status.last_error.left_behind == A and no_events(d)),
    Case("degraded-backoff-then-waits",
         inp(StrategyStatus.from_json({"phase": "Degraded", "lastError": {
             "reason": "NoCandidate", "retryAt": NOW + 7, "message": "x"}})),
         (), "Degraded", "retrying after backoff", lambda d: d.requeue_after == 7.0),
    Case("degraded-backoff-over-the-failover-goes-on",
         inp(StrategyStatus.from_json({"phase": "Degraded", "lastError": {
             "reason": "NoCandidate", "retryAt": NOW - 1, "message": "x", "leftBehind": A}}),
             {A: UNPLACEABLE}), (Deploy(B),), "FailingOver", "failing over to gossip",
         lambda d: d.status.transition is not None
         and (d.status.transition.kind, d.status.transition.from_, d.status.transition.to,
              d.status.transition.reason) == ("failover", A, B, "Unplaceable")
         and d.status.last_error is None),
    Case("degraded-backoff-over-the-failback-goes-on",
         inp(StrategyStatus.from_json({"phase": "Degraded", "lastError": {
             "reason": "NoCandidate", "retryAt": NOW - 1, "message": "x", "leftBehind": B}})),
         (Deploy(A),), "FailingBack", "failing back to fl",
         lambda d: d.status.transition is not None
         and (d.status.transition.kind, d.status.transition.from_, d.status.transition.to,
              d.status.transition.reason) == ("failback", B, A, "MainReady")),
    Case("degraded-backoff-over-stored-without-left-behind-starts",
         inp(StrategyStatus.from_json({"phase": "Degraded", "lastError": {
             "reason": "NoCandidate", "retryAt": NOW - 1, "message": "x"}, "history": [
             {"time": "2026-01-01T00:00:00Z", "kind": "degraded", "from": A, "to": None,
              "reason": "NoCandidate", "message": "configure: injected fault"}]}),
             {A: UNPLACEABLE}), (Deploy(B),), "Deploying", "gossip",
         lambda d: d.status.transition is not None
         and (d.status.transition.kind, d.status.transition.from_) == ("start", None)),
    Case("failover-completes-counts-once",
         inp(in_transition(tr("failover", A, B, attempted=(A,)), {B: arch()}), {B: SERVED}),
         (), "Serving",
         "failover complete: replacement gossip serving (fl -> gossip, Unhealthy, 6s)",
         lambda d: d.status.failover_count == 1 and d.status.recent_failovers == (NOW,)
         and d.events == (TransitionEvent("failover", A, B, "Unhealthy", 6.0),)
         and d.status.history[-1].kind == "failover" and d.status.active_role == "replacement"),
    # --- main-ready / failback ---
    Case("main-ready-starts-window", inp(serving(B), {B: SERVED}), (), "Serving",
         "main fl placeable, stabilizing",
         lambda d: d.status.main_ready_since == NOW and cond(d, "MainReady")[0] == "True"
         and d.requeue_after == 4.0),
    Case("main-ready-window-running",
         inp(serving(B, main_ready_since=NOW - 10), {B: SERVED}, now=NOW), (), "Serving",
         "stabilizing", lambda d: d.status.main_ready_since == NOW - 10),
    Case("main-unplaceable-resets-window",
         inp(serving(B, main_ready_since=NOW - 59), {B: SERVED, A: UNPLACEABLE}), (), "Serving",
         "no action: replacement gossip serving, healthy",
         lambda d: d.status.main_ready_since is None and cond(d, "MainReady")[0] == "False"),
    Case("failback-make-before-break",
         inp(serving(B, main_ready_since=NOW - 60), {B: SERVED}), (Deploy(A),), "FailingBack",
         "main fl placeable for 60s, failing back from gossip (make-before-break)",
         lambda d: d.status.transition is not None and d.status.transition.make_before_break
         and d.status.active_architecture == B and d.status.main_ready_since is None),
    Case("failback-break-before-make-no-room",
         inp(serving(B, main_ready_since=NOW - 60), {B: SERVED, A: ob(alongside=False)}),
         (Undeploy(B), Deploy(A)), "FailingBack", "(break-before-make)",
         lambda d: d.status.active_architecture is None),
    Case("failback-break-before-make-policy",
         inp(serving(B, main_ready_since=NOW - 60), {B: SERVED},
             strategy=replace(STRATEGY, policy=replace(POLICY, failback=FailbackPolicy(
                 make_before_break=False)))), (Undeploy(B), Deploy(A)), "FailingBack",
         "break-before-make"),
    Case("mbb-main-healthy-served-alongside-the-old",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed"), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (Serve(A),), "FailingBack",
         "fl healthy, serving it alongside gossip",
         lambda d: serving_architecture(d.status) == B and d.write_before == 1),
    Case("mbb-main-served-endpoint-moves-then-old-undeployed",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed"), B: arch()}, active=B),
             {A: SERVED, B: SERVED}), (Undeploy(B),), "FailingBack",
         "fl serving, undeploying gossip",
         lambda d: serving_architecture(d.status) == A and d.write_before == 0
         and d.status.transition is not None and no_events(d)),
    Case("restart-mid-hand-over-undeploys-the-old",  # the endpoint already names fl
         inp(in_transition(MBB_FAILBACK, {A: arch(), B: arch()}, active=B),
             {A: SERVED, B: SERVED}), (Undeploy(B),), "FailingBack",
         "fl serving, undeploying gossip",
         lambda d: serving_architecture(d.status) == A and d.write_before == 0),
    Case("mbb-old-fails-to-undeploy-retries-endpoint-stays-on-target",
         inp(in_transition(MBB_FAILBACK, {A: arch(), B: arch()}, active=B),
             {A: SERVED, B: ob(True, True, error="fog05: 500")}), (Undeploy(B),),
         "FailingBack", "last action failed: gossip: fog05: 500",
         lambda d: serving_architecture(d.status) == A and d.requeue_after == 5.0
         and d.status.last_error is not None and d.status.transition is not None),
    Case("mbb-served-target-fails-before-hand-over-endpoint-back-to-old",
         inp(in_transition(MBB_FAILBACK, {A: arch(), B: arch()}, active=B),
             {A: ob(True, True, vanished=True), B: SERVED}), (Undeploy(A),), "Serving",
         "aborted", lambda d: serving_architecture(d.status) == B
         and d.status.transition is None),
    Case("mbb-serve-off-undeploys-old-then-completes",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed"), B: arch("deployed")},
                           active=B), {A: RUNNING, B: RUNNING},
             spec=replace(SPEC, serve=False)), (Undeploy(B),), "FailingBack",
         "fl healthy, undeploying gossip"),
    Case("mbb-main-waits-replacement-keeps-serving",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed", ok=1), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (), "FailingBack", "waiting for health 1/2",
         lambda d: cond(d, "Serving") == ("True", "Served")),
    Case("failback-completes-counts-once",
         inp(in_transition(MBB_FAILBACK, {A: arch(), B: arch("undeployed")}, active=B,
                           failover_count=1), {A: SERVED}), (), "Serving",
         "failback complete: main fl serving",
         lambda d: d.status.failback_count == 1 and d.status.failover_count == 1
         and d.events == (TransitionEvent("failback", B, A, "MainReady", 6.0),)),
    Case("mbb-main-fails-aborts-keeps-replacement",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed", bad=3), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (Undeploy(A),), "Serving",
         "failback to fl aborted (fl unhealthy 3/3 cycles): undeploying fl, gossip keeps serving",
         lambda d: d.status.transition is None and d.status.active_architecture == B
         and no_events(d) and d.status.history[-1].kind == "aborted"),
    Case("manual-failback-reports-only",
         inp(serving(B, main_ready_since=NOW - 3600), {B: SERVED},
             strategy=replace(STRATEGY, policy=replace(POLICY, failback=FailbackPolicy(
                 mode="Manual")))), (), "Serving", "failback is Manual (fogstrat switch)",
         lambda d: cond(d, "MainReady") == ("True", "MainPlaceable")),
    # --- flap guard ---
    Case("flap-guard-holds",
         inp(serving(B, archs={B: arch(bad=3)}, recent_failovers=(NOW - 3000, NOW - 2000,
                                                                    NOW - 1000, NOW - 10)),
             {B: SERVED}), (), "Degraded",
         "flap guard holds: 4 failovers in the last hour (max 4)",
         lambda d: cond(d, "Degraded") == ("True", "FlapGuard") and d.requeue_after == 4.0
         and d.status.active_architecture == B),
    Case("flap-guard-old-failovers-expire",
         inp(serving(B, archs={B: arch(bad=3)}, recent_failovers=(NOW - 4000, NOW - 3700,
                                                                    NOW - 1000, NOW - 10)),
             {B: SERVED}), (Undeploy(B), Deploy(A)), "FailingOver", "failing over to fl",
         lambda d: len(d.status.recent_failovers) == 2),
    # --- paused ---
    Case("paused-observes-only",
         inp(serving(archs={A: arch(bad=2)}), {A: SERVED}, probes=bad(),
             spec=replace(SPEC, paused=True)), (), "Paused", "paused: observing only",
         lambda d: d.status.arch(A).consecutive_failures == 3
         and d.status.arch(A).health == "Unhealthy"),
    # --- pin ---
    Case("pin-switches-make-before-break", inp(serving(), {A: SERVED}, spec=replace(SPEC, pin=C)),
         (Deploy(C),), "Switching", "pinned to edge: switching from fl",
         lambda d: d.status.transition is not None and d.status.transition.kind == "switch"),
    Case("pin-unknown-invalid", inp(serving(), {A: SERVED}, spec=replace(SPEC, pin="nope")),
         (), "Invalid", "pin 'nope' is not a candidate",
         lambda d: cond(d, "Valid") == ("False", "UnknownPinTarget")),
    Case("pinned-no-failback",
         inp(serving(B, main_ready_since=NOW - 600), {B: SERVED}, spec=replace(SPEC, pin=B)),
         (), "Serving", "no action: replacement gossip serving",
         lambda d: d.status.transition is None),
    Case("pinned-unhealthy-holds",
         inp(serving(B, archs={B: arch(bad=3)}), {B: SERVED}, spec=replace(SPEC, pin=B)),
         (), "Degraded", "it is pinned: not failing over",
         lambda d: cond(d, "Degraded") == ("True", "PinnedUnhealthy")),
    Case("switch-completes-no-counter",
         inp(in_transition(tr("switch", A, C, reason="Pinned"), {C: arch()}),
             {C: SERVED}, spec=replace(SPEC, pin=C)), (), "Serving", "switch complete",
         lambda d: no_events(d) and d.status.history[-1].kind == "switch"),
    Case("failed-pin-not-retried-until-generation-changes",
         inp(StrategyStatus.from_json({**serving().to_json(), "failedPin": {
             "architecture": C, "generation": 1}}), {A: SERVED}, spec=replace(SPEC, pin=C)),
         (), "Serving", "no action"),
    Case("failed-pin-retried-on-new-generation",
         inp(StrategyStatus.from_json({**serving().to_json(), "failedPin": {
             "architecture": C, "generation": 1}}), {A: SERVED}, spec=replace(SPEC, pin=C),
             generation=2), (Deploy(C),), "Switching", "pinned to edge"),
    # --- deletion ---
    Case("delete-undeploys-everything", inp(serving(), {A: SERVED, B: RUNNING},
                                            deletion_requested=True),
         (Undeploy(A), Undeploy(B)), "Terminating", "deleting: undeploying fl, gossip"),
    Case("delete-paused-still-deletes", inp(serving(), {A: SERVED}, deletion_requested=True,
                                            spec=replace(SPEC, paused=True)),
         (Undeploy(A),), "Terminating", "deleting"),
    Case("delete-done-deletes-status", inp(serving(), {}, deletion_requested=True),
         (DeleteStatus(),), "Terminating", "nothing left in the fog"),
    # --- restart / adoption ---
    Case("restart-mid-failover-no-second-deploy",
         inp(in_transition(tr("failover", A, B, attempted=(A,)), {B: arch("deployed", ok=0)}),
             {B: RUNNING}), (), "FailingOver", "waiting for health 0/2"),
    Case("restart-two-exist-no-transition-undeploys-stray",
         inp(serving(), {A: SERVED, B: SERVED}), (Undeploy(B),), "Serving", "no action"),
    Case("restart-mid-failback-both-exist-continues",
         inp(in_transition(MBB_FAILBACK, {A: arch("deployed", ok=1), B: arch()}, active=B),
             {A: RUNNING, B: SERVED}), (), "FailingBack", "waiting for health"),
    Case("restart-interrupted-failover-draining-undeploys-old",
         inp(in_transition(tr("failover", A, B, "draining", attempted=(A,))), {A: SERVED}),
         (Undeploy(A), Deploy(B)), "FailingOver", "undeploying fl, then deploying"),
    Case("orphan-undeployed", inp(serving(), {A: SERVED, "old-arch": RUNNING}),
         (Undeploy("old-arch"),), "Serving", "no action",
         lambda d: "old-arch" in d.status.architectures),
    Case("adopt-unknown-instances", inp(StrategyStatus(), {A: SERVED}), (Adopt(A),), "Serving",
         "adopting main fl found in the fog",
         lambda d: d.status.active_architecture == A and d.status.history[-1].kind == "adopt"),
    Case("adopt-prefers-served", inp(StrategyStatus(), {A: RUNNING, B: SERVED}),
         (Adopt(B), Undeploy(A)), "Serving", "undeploying fl"),
    # --- spec changes ---
    Case("rollout-on-config-change",
         inp(serving(archs={A: arch(fingerprint="old")}), {A: SERVED}, generation=2,
             fingerprints={A: "new"}), (Undeploy(A),), "Deploying",
         "main fl spec changed: redeploying it",
         lambda d: d.status.observed_generation == 2 and d.status.transition is not None
         and d.status.transition.kind == "rollout"),
    Case("rollout-redeploys-same-arch",
         inp(in_transition(tr("rollout", A, A, "draining", reason="ConfigChanged")),
             fingerprints={A: "new"}), (Deploy(A),), "Deploying", "rolling out to fl",
         lambda d: d.status.arch(A).fingerprint == "new"),
    Case("generation-only-change-no-rollout",
         inp(serving(archs={A: arch(fingerprint="same")}), {A: SERVED}, generation=5,
             fingerprints={A: "same"}), (), "Serving", "no action",
         lambda d: d.status.observed_generation == 5),
    Case("duplicate-candidate-invalid",
         inp(serving(), {A: SERVED}, strategy=replace(STRATEGY, replacements=(
             ArchitectureRef(A),))), (), "Invalid", "appears more than once"),
    # --- unreachable fog / action errors ---
    Case("fog-unreachable-does-nothing-destructive",
         inp(serving(archs={A: arch(bad=3)}), {}, fog_reachable=False, fog_message="timeout"),
         (), "Serving", "fog unreachable (timeout): holding, nothing undeployed",
         lambda d: d.status.last_error is not None and d.requeue_after == 5.0
         and d.status.arch(A).state == "served"),
    Case("fog-unreachable-backoff-grows",
         inp(serving(last_error=StrategyStatus.from_json({"lastError": {
             "reason": "FogUnreachable", "count": 3}}).last_error), {}, fog_reachable=False),
         (), "Serving", "fog unreachable", lambda d: d.requeue_after == 40.0),
    Case("fog-unreachable-before-anything-deployed-is-degraded",
         inp(StrategyStatus(), {}, fog_reachable=False, fog_message="timeout"),
         (), "Degraded", "fog unreachable (timeout)",
         lambda d: d.status.condition("Degraded") is not None
         and d.status.condition("Degraded").reason == "FogUnreachable"),  # type: ignore[union-attr]
    Case("fog-unreachable-while-deleting",
         inp(serving(), {}, fog_reachable=False, deletion_requested=True), (), "Terminating",
         "holding"),
    # --- on the last valid documents: acts as usual, says so in Valid ---
    Case("last-valid-still-fails-over",
         inp(serving(archs={A: arch(bad=2)}), {A: SERVED}, probes=bad(),
             using_last_valid="Architecture 'gossip' not found"),
         (Undeploy(A), Deploy(B)), "FailingOver", "",
         lambda d: cond(d, "Valid") == ("False", "UsingLastValid")
         and "gossip" in d.status.condition("Valid").message),  # type: ignore[union-attr]
    Case("last-valid-steady-is-serving",
         inp(serving(), {A: SERVED}, using_last_valid="Strategy 'prediction' is invalid"),
         (), "Serving", "",
         lambda d: cond(d, "Valid") == ("False", "UsingLastValid")
         and cond(d, "Ready")[0] == "True" and cond(d, "Serving")[0] == "True"),
    Case("undeploy-error-backs-off",
         inp(in_transition(tr("failover", A, B, "draining", attempted=(A,))),
             {A: ob(True, error="fog05: 500")}), (Undeploy(A), Deploy(B)), "FailingOver",
         "last action failed: fl: fog05: 500",
         lambda d: d.status.last_error is not None and d.requeue_after == 5.0),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide_table(case: Case) -> None:
    d = decide(case.input)
    mutating = tuple(a for a in d.actions if not isinstance(a, Probe))
    expected = tuple(a for a in case.actions if not isinstance(a, Probe))
    assert mutating == expected, d.message
    if any(isinstance(a, Probe) for a in case.actions):
        assert [a for a in d.actions if a in case.actions] == list(case.actions)  # in order
    assert d.status.phase == case.phase, d.message
    assert case.message in d.message
    assert d.message.startswith("default/prediction: ")
    assert case.check(d), d.status
    assert StrategyStatus.from_json(json.loads(json.dumps(d.status.to_json()))) == d.status


def test_idle_decide_is_a_fixed_point() -> None:
    """An idle controller writes nothing: deciding again on its own output changes nothing."""
    first = decide(inp(serving(), {A: SERVED}))
    second = decide(inp(first.status, {A: SERVED}, now=NOW + 1.5))
    assert second.status == first.status and second.actions == ()


def test_decide_does_not_mutate_input() -> None:
    i = inp(serving(archs={A: arch(bad=2)}), {A: SERVED}, probes=bad())
    before = i.status.to_json()
    decide(i)
    assert i.status.to_json() == before


# --- a tiny world ------------------------------------------------------------------------


@dataclass
class World:
    """Architectures A, B, C on a fog with ``capacity`` slots (one per architecture)."""

    capacity: int = 2
    up: set[str] = field(default_factory=lambda: {A, B, C})
    healthy: dict[str, bool] = field(default_factory=lambda: {A: True, B: True, C: True})
    deploy_fails: set[str] = field(default_factory=set)
    reachable: bool = True
    deployed: dict[str, bool] = field(default_factory=dict)  # name -> served
    errors: dict[str, str] = field(default_factory=dict)
    probes: dict[str, ProbeOutcome] = field(default_factory=dict)

    def observe(self) -> dict[str, Observed]:
        out = {}
        for n in (A, B, C):
            others = len([m for m in self.deployed if m != n])
            out[n] = Observed(
                exists=n in self.deployed, complete=n in self.deployed and n in self.up,
                served=self.deployed.get(n, False),
                vanished=n in self.deployed and n not in self.up,
                placeable=n in self.up, placeable_alongside=n in self.up and others < self.capacity,
                placement_message="" if n in self.up else "nodes down",
                error=self.errors.get(n))
        return out

    def apply(self, action: Action) -> bool:
        assert self.reachable or isinstance(action, Probe), action
        if isinstance(action, Probe):  # gates the rest of its batch
            ok = self.healthy[action.arch] and action.arch in self.up
            self.probes[action.arch] = ProbeOutcome("Healthy" if ok else "Unhealthy")
            return ok
        self.errors.pop(getattr(action, "arch", ""), None)
        if isinstance(action, Deploy):
            if (action.arch in self.deploy_fails or action.arch not in self.up
                    or len(self.deployed) >= self.capacity):
                self.errors[action.arch] = "deploy failed"
                return False
            self.deployed.setdefault(action.arch, False)
        elif isinstance(action, Serve):  # Run.step checks who may serve alongside whom
            self.deployed[action.arch] = True
        elif isinstance(action, Undeploy):
            self.deployed.pop(action.arch, None)
        return True


class Crash(Exception):
    """The controller process dies (a test starts another from what etcd holds)."""


@dataclass
class Run:
    world: World
    status: StrategyStatus = field(default_factory=StrategyStatus)
    now: float = T0
    events: list[TransitionEvent] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    strategy: StrategySpec = STRATEGY
    spec: ActiveStrategySpec = SPEC
    health: Mapping[str, HealthSpec] = field(default_factory=lambda: HEALTH)
    stored: StrategyStatus = field(default_factory=StrategyStatus)
    """What etcd holds: stored before action ``write_before`` (not at all when every
    action may run first: the next step writes)."""
    lives: int | None = None
    """Actions this controller carries out before it dies (None: it does not)."""

    def step(self) -> Decision:
        w = self.world
        probes, w.probes = dict(w.probes), {}
        d = decide(DecisionInput(
            spec=self.spec, generation=1, strategy=self.strategy, status=self.status,
            observed=w.observe() if w.reachable else {}, now=self.now, health=self.health,
            probes=probes or None, fog_reachable=w.reachable, key="default/prediction"))
        if not w.reachable:
            assert not any(isinstance(a, Undeploy | Deploy | Serve) for a in d.actions)
        # the shell: run the actions, the status stored (round-tripped through JSON as etcd
        # would) before action write_before; a write in flight when an earlier one failed
        # still lands
        self.status = d.status
        pending = d.write_before < len(d.actions) or not d.actions
        for i, action in enumerate(d.actions):
            if self.lives is not None:
                if self.lives == 0:
                    raise Crash  # before this action, and before a write it waits for
                self.lives -= 1
            if i == d.write_before:
                self._store(d)
                pending = False
            if isinstance(action, Undeploy) and any(
                    served for name, served in w.deployed.items() if name != action.arch):
                # something else serves: consumers were sent there before this one goes
                assert serving_architecture(self.stored) != action.arch, (action, self.stored)
            if not w.apply(action):
                break
        if pending:
            self._store(d)
        self.events += d.events
        self.messages.append(d.message)
        self.now += max(0.5, min(d.requeue_after, 30.0))
        served = {n for n, s in w.deployed.items() if s}
        t = self.status.transition
        if t is not None and t.make_before_break and len(served) == 2:
            assert served == {t.from_, t.to}, served  # the hand-over's one step
        else:
            assert len(served) <= 1, served
        stored_t = self.stored.transition
        if stored_t is not None and stored_t.make_before_break and w.deployed:
            # never an endpoint to nothing (or to what is gone) during a make-before-break
            assert serving_architecture(self.stored) in w.deployed, (self.stored, w.deployed)
        kinds = [e.kind for e in self.events]
        assert self.status.failover_count == kinds.count("failover")
        assert self.status.failback_count == kinds.count("failback")
        if len(self.status.history) < HISTORY_LIMIT:
            assert self.status.failover_count == len(
                [h for h in self.status.history if h.kind == "failover"])
        return d

    def _store(self, d: Decision) -> None:
        self.stored = StrategyStatus.from_json(json.loads(json.dumps(d.status.to_json())))
        assert self.stored == d.status

    def until(self, pred: Callable[[Run], bool], limit: int = 200) -> None:
        for _ in range(limit):
            if pred(self):
                return
            self.step()
        raise AssertionError(f"did not converge: {self.status.phase} {self.messages[-5:]}")


def serving_arch(name: str) -> Callable[[Run], bool]:
    return lambda r: (r.status.phase == "Serving" and r.status.active_architecture == name
                      and r.world.deployed == {name: True})


@pytest.mark.parametrize("health", [HEALTH, ONE_CYCLE], ids=["two-cycles", "one-cycle"])
def test_story_start_failover_failback(health: Mapping[str, HealthSpec]) -> None:
    r = Run(World(), health=health)
    r.until(serving_arch(A))
    assert r.status.failover_count == 0
    r.world.healthy[A] = False
    r.until(serving_arch(B))
    assert r.status.failover_count == 1
    assert any("main fl unhealthy 3/3 cycles, failing over to gossip" in m for m in r.messages)
    assert r.events[-1].kind == "failover" and r.events[-1].reason == "Unhealthy"
    # main placeable again (nodes fine) but it is still broken: failback aborts, no count
    r.until(lambda r: r.status.main_ready_since is not None)
    r.until(lambda r: r.status.history[-1].kind == "aborted")
    r.until(serving_arch(B))
    assert r.status.failback_count == 0
    r.world.healthy[A] = True
    r.until(lambda r: r.status.failback_count == 1)
    r.until(serving_arch(A))
    last = r.events[-1]
    assert (last.kind, last.reason) == ("failback", "MainReady")
    assert [h.kind for h in r.status.history] == ["start", "failover", "aborted", "failback"]


def test_story_failback_waits_full_window() -> None:
    r = Run(World())
    r.until(serving_arch(A))
    r.world.up.discard(A)  # main's nodes vanish
    r.until(serving_arch(B))
    assert r.events[-1].reason == "Vanished"
    r.world.up.add(A)
    r.until(lambda r: r.status.main_ready_since is not None)
    since = r.status.main_ready_since
    assert since is not None
    r.until(lambda r: r.status.phase == "FailingBack")
    assert r.now - since >= 60.0
    r.until(serving_arch(A))
    assert r.status.failback_count == 1


def test_story_break_before_make_failback_when_no_room() -> None:
    r = Run(World(capacity=1))
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(serving_arch(B))
    r.world.healthy[A] = True
    r.until(serving_arch(A))
    assert any("break-before-make" in m for m in r.messages)
    assert r.status.failback_count == 1


def test_story_deploy_failure_of_first_replacement_tries_second() -> None:
    r = Run(World(deploy_fails={B}))
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(serving_arch(C))
    assert r.status.failover_count == 1
    assert r.events[-1] == TransitionEvent("failover", A, C, "Unhealthy", r.events[-1].duration)
    assert any("trying edge" in m for m in r.messages)


def test_story_flapping_hits_guard() -> None:
    strategy = replace(STRATEGY, policy=replace(POLICY, max_failovers_per_hour=2,
                                                failback=FailbackPolicy(stabilization_window=5)))
    r = Run(World(), strategy=strategy)
    r.until(serving_arch(A))
    for _ in range(400):  # whatever serves breaks, the others are fine
        if r.status.phase == "Degraded":
            break
        if r.status.phase == "Serving":
            active = r.status.active_architecture
            r.world.healthy = {n: n != active for n in (A, B, C)}
        r.step()
    flap = r.status.condition("Degraded")
    assert r.status.phase == "Degraded" and flap is not None and flap.reason == "FlapGuard"
    assert r.status.failover_count == 2
    assert "flap guard holds: 2 failovers in the last hour (max 2)" in r.messages[-1]
    held = r.status.active_architecture
    for _ in range(20):
        r.step()
        assert r.status.failover_count == 2 and r.status.active_architecture == held


def test_story_pin_and_unpin() -> None:
    r = Run(World())
    r.until(serving_arch(A))
    r.spec = replace(SPEC, pin=C)
    r.until(serving_arch(C))
    assert r.status.history[-1].kind == "switch" and r.status.failover_count == 0
    for _ in range(10):  # pinned: main is ready but no failback
        r.step()
    assert r.status.active_architecture == C
    r.spec = SPEC
    r.until(serving_arch(A))
    assert r.status.failback_count == 1


def test_story_delete() -> None:
    r = Run(World())
    r.until(serving_arch(A))
    d = decide(DecisionInput(spec=SPEC, generation=1, strategy=STRATEGY, status=r.status,
                             observed=r.world.observe(), now=r.now, health=HEALTH,
                             deletion_requested=True))
    assert d.actions == (Undeploy(A),) and d.status.phase == "Terminating"
    r.world.apply(Undeploy(A))
    d = decide(DecisionInput(spec=SPEC, generation=1, strategy=STRATEGY, status=d.status,
                             observed=r.world.observe(), now=r.now + 2, health=HEALTH,
                             deletion_requested=True))
    assert d.actions == (DeleteStatus(),)


def test_story_one_cycle_failover_serves_the_replacement_in_its_deploy_batch() -> None:
    r = Run(World(), health=ONE_CYCLE)
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    batch = r.step()
    while Deploy(B) not in batch.actions:
        batch = r.step()
    assert batch.actions == (Undeploy(A), Deploy(B), Probe(B), Serve(B))
    assert r.step().status.phase == "Serving" and serving_arch(B)(r)
    # a replacement unhealthy on its first cycle is not served: the probe stops the batch
    r = Run(World(), health=ONE_CYCLE)
    r.until(serving_arch(A))
    r.world.healthy[A] = r.world.healthy[B] = False
    r.until(lambda r: B in r.world.deployed)
    assert r.world.deployed == {B: False}


def test_story_restart_mid_failover_never_deploys_twice() -> None:
    r = Run(World())
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(lambda r: B in r.world.deployed)
    # a new controller starts from the persisted status only: no second Deploy(B)
    restarted = Run(r.world, status=StrategyStatus.from_json(r.status.to_json()), now=r.now)
    d = restarted.step()
    assert Deploy(B) not in d.actions
    restarted.until(serving_arch(B))
    assert restarted.status.failover_count == 1


def test_story_restart_after_candidates_ran_out_still_counts_the_failover() -> None:
    """The failover's every candidate fails and the status rests Degraded/NoCandidate; a new
    controller, from the stored status alone, goes on with it when a candidate works again:
    one failover from the main, not a fresh start."""
    r = Run(World(deploy_fails={B, C}))
    r.until(serving_arch(A))
    r.world.up.discard(A)
    # ran out twice: the failover that goes on after the backoff runs out again
    r.until(lambda r: sum("no other candidate" in m for m in r.messages) == 2)
    assert r.status.failover_count == 0 and r.world.deployed == {}
    assert r.stored.last_error is not None and r.stored.last_error.left_behind == A
    r.world.deploy_fails.clear()
    r.world.errors.clear()  # the failed deploys were undeployed: nothing of them is left
    restarted = Run(r.world, status=r.stored, now=r.now, stored=r.stored)
    restarted.until(serving_arch(B))
    assert restarted.status.failover_count == 1
    assert [(e.kind, e.from_, e.to) for e in restarted.events] == [("failover", A, B)]
    assert restarted.status.last_error is None


@pytest.mark.parametrize("health", [HEALTH, ONE_CYCLE], ids=["two-cycles", "one-cycle"])
@pytest.mark.parametrize("lives", range(8))
def test_story_crash_anywhere_in_a_failover_converges_once(
        lives: int, health: Mapping[str, HealthSpec]) -> None:
    """A controller dies before any action of a failover (its status stored only up to
    where ``write_before`` put the write); the next one starts from what etcd holds: one
    failover, B serving, never two served (asserted in every step)."""
    r = Run(World(), health=health)
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.lives = lives
    try:
        r.until(serving_arch(B))
    except Crash:
        pass
    else:  # fewer actions than lives: it finished
        assert health is ONE_CYCLE and lives > 4 and r.status.failover_count == 1
        return
    restarted = Run(r.world, status=r.stored, now=r.now, stored=r.stored, health=health)
    restarted.until(serving_arch(B))
    assert restarted.status.failover_count == 1


@pytest.mark.parametrize("lives", range(6))
def test_story_crash_anywhere_in_a_make_before_break_failback_converges_once(
        lives: int) -> None:
    """A controller dies before any action of a make-before-break failback (the hand-over
    included: after serving the main, before undeploying the replacement); the next one
    finishes it from what etcd holds: one failback, the endpoint never on what is gone
    (asserted in every step)."""
    strategy = replace(STRATEGY, policy=replace(POLICY, failback=FailbackPolicy(
        stabilization_window=5.0)))
    r = Run(World(), strategy=strategy)
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(serving_arch(B))
    r.world.healthy[A] = True
    r.until(lambda r: r.status.phase == "FailingBack")
    r.lives = lives
    try:
        r.until(serving_arch(A))
    except Crash:
        restarted = Run(r.world, status=r.stored, now=r.now, stored=r.stored,
                        strategy=strategy, events=list(r.events))
        restarted.until(serving_arch(A))
        r = restarted
    assert r.status.failback_count == 1 and r.status.history[-1].kind == "failback"


def test_make_before_break_hand_over_moves_the_endpoint_before_the_old_goes() -> None:
    """Serve the main alongside the replacement; the next step's status names the main
    (stored before its undeploy runs); then the transition completes."""
    r = Run(World(), strategy=replace(STRATEGY, policy=replace(POLICY, failback=FailbackPolicy(
        stabilization_window=5.0))))
    r.until(serving_arch(A))
    r.world.healthy[A] = False
    r.until(serving_arch(B))
    r.world.healthy[A] = True
    r.until(lambda r: Serve(A) in r.step().actions)
    assert r.world.deployed == {A: True, B: True}
    assert serving_architecture(r.stored) == B  # A is not yet recorded served
    hand_over = r.step()
    assert hand_over.actions == (Undeploy(B),) and hand_over.write_before == 0
    assert serving_architecture(r.stored) == A and r.world.deployed == {A: True}
    assert r.step().status.phase == "Serving" and serving_arch(A)(r)


def test_what_the_stored_status_names_needs_no_write_ahead() -> None:
    deployed_b = {A: ob(placeable=False), B: ob(True, complete=True)}
    t = tr("failover", A, B, stage="deploying")
    d = decide(inp(in_transition(t, {B: arch("deployed")}), deployed_b))
    assert d.actions == (Serve(B),) and d.write_before == 1  # all: the next step writes
    start = decide(inp(serving(archs={A: arch(bad=3)}), {A: SERVED}))
    assert start.actions[:2] == (Undeploy(A), Deploy(B))
    assert start.write_before == 1  # undeploying the recorded A may overlap the write
    assert decide(inp(serving(), {A: SERVED})).write_before == 0  # nothing to do: write now


EVENTS = st.lists(st.tuples(st.sampled_from(["health", "node", "fog", "wait"]),
                            st.sampled_from([A, B, C])), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS, capacity=st.integers(1, 3), health=st.sampled_from([HEALTH, ONE_CYCLE]))
def test_property_invariants_hold(events: list[tuple[str, str]], capacity: int,
                                  health: Mapping[str, HealthSpec]) -> None:
    """Random probe outcomes, node availability and fog outages: at most one architecture
    served, counters equal completed transitions, nothing (un)deployed while the fog is
    unreachable (all asserted inside Run.step / World.apply)."""
    strategy = replace(STRATEGY, policy=replace(POLICY, max_failovers_per_hour=3,
                                                deploy_timeout=60.0))
    r = Run(World(capacity=capacity), strategy=strategy, health=health)
    for kind, name in events:
        if kind == "health":
            r.world.healthy[name] = not r.world.healthy[name]
        elif kind == "node":
            r.world.up ^= {name}
        elif kind == "fog":
            r.world.reachable = not r.world.reachable
        for _ in range(3):
            r.step()
    r.world.reachable = True
    for _ in range(5):
        r.step()


def test_story_long_outage_does_not_flood_history() -> None:
    """Retries that fail the same way again keep one history entry, so a long outage cannot
    push earlier transitions out of the bounded history."""
    r = Run(World())
    r.until(serving_arch(A))
    start = r.status.history[-1]
    r.world.up.discard(A)
    r.world.deploy_fails.update({B, C})
    for _ in range(120):
        r.step()
    degraded = [h for h in r.status.history if h.kind == "degraded"]
    assert degraded, r.messages[-5:]
    assert r.status.history[0] == start
    pairs = zip(r.status.history, r.status.history[1:], strict=False)
    assert not any(a.kind == b.kind == "degraded" and a.reason == b.reason
                   and (a.from_, a.to) == (b.from_, b.to) for a, b in pairs)
    assert len(r.status.history) < 6, [(h.kind, h.reason) for h in r.status.history]


# --- resting: probe cycles without a step ------------------------------------------------


HEALTHY = ProbeOutcome("Healthy", "svc: RUN")


@pytest.mark.parametrize("status,observed,spec,rests", [
    (serving(), {A: SERVED}, SPEC, True),
    (serving(C), {C: SERVED}, replace(SPEC, pin=C), True),  # pinned: no main to watch for
    (serving(B), {B: SERVED}, SPEC, False),  # on a replacement: main readiness each cycle
    (serving(archs={A: arch(bad=1)}), {A: SERVED}, SPEC, True),
    (serving(archs={A: arch(bad=3)}), {A: SERVED}, SPEC, False),  # fails over
    (serving(), {A: RUNNING}, SPEC, False),  # serves it
    (serving(), {A: ob(True, True, error="boom")}, SPEC, False),
    (serving(), {A: SERVED, B: SERVED}, SPEC, False),  # an orphan to undeploy
    (serving(), {A: SERVED}, replace(SPEC, paused=True), False),
    (in_transition(tr("failover", A, B)), {B: RUNNING}, SPEC, False),
], ids=["main", "pinned", "replacement", "one-failure", "threshold", "unserved", "error",
        "orphan", "paused", "transition"])
def test_steady_until_only_when_resting(status: StrategyStatus, observed: dict[str, Observed],
                                        spec: ActiveStrategySpec, rests: bool) -> None:
    d = decide(inp(status, observed, spec=spec))
    assert (d.steady_until is not None) == rests, d.message
    if rests:
        assert d.actions == () and d.steady_until == NOW + RESYNC


def test_steady_until_ends_when_a_recent_failover_leaves_the_flap_window() -> None:
    failed_over = NOW - RECENT_FAILOVER_WINDOW + 100
    d = decide(inp(serving(recent_failovers=(failed_over,)), {A: SERVED}))
    assert d.steady_until == failed_over + RECENT_FAILOVER_WINDOW == NOW + 100


@pytest.mark.parametrize("before,outcome,news", [
    (arch(), HEALTHY, False),
    (arch(), ProbeOutcome("Healthy", "svc: RUN", {"accuracy": 0.93}), False),  # values volatile
    (arch(), ProbeOutcome("Healthy", "other message"), True),
    (arch(), ProbeOutcome("Unhealthy", "svc: ERROR"), True),
    (arch(), ProbeOutcome("Unknown", "timeout"), True),
    (arch(bad=1), HEALTHY, True),  # the failure streak ends
    (arch(health="Unknown", ok=1), HEALTHY, False),  # 2 of 3 successes: still Unknown
    (arch(health="Unknown", ok=2), HEALTHY, True),  # becomes Healthy
], ids=["healthy", "values", "message", "unhealthy", "unknown", "recovers", "streak",
        "becomes-healthy"])
def test_quiet_probe_is_news_when_anything_written_changes(
        before: ArchitectureStatus, outcome: ProbeOutcome, news: bool) -> None:
    status = serving(archs={A: replace(before, last_probe_message="svc: RUN",
                                       last_probe_result="Healthy")})
    health = replace(HEALTH[A], success_threshold=3)
    folded = quiet_probe(status, A, outcome, now=NOW, strategy=STRATEGY, health=health)
    assert (folded is None) == news
    if folded is not None:
        assert folded.arch(A).last_probe_time == NOW
        assert folded.arch(A).consecutive_successes == before.consecutive_successes + 1


OUTCOMES = st.lists(st.sampled_from([
    HEALTHY, ProbeOutcome("Healthy", "svc: RUN", {"q": 0.9}),
    ProbeOutcome("Unhealthy", "svc: ERROR", reason="Unhealthy"),
    ProbeOutcome("Unknown", "timeout")]), max_size=30)


@settings(max_examples=150, deadline=None)
@given(outcomes=OUTCOMES)
def test_resting_shell_keeps_the_same_status_as_deciding_every_cycle(
        outcomes: list[ProbeOutcome]) -> None:
    """A shell that folds quiet cycles without a step ends every cycle with the status a
    shell deciding on every cycle has, and takes a step exactly when that one acts or
    writes."""
    first = decide(inp(serving(), {A: SERVED}))
    full = quiet = first.status
    resting = first.steady_until
    now = NOW
    for outcome in outcomes:
        now += HEALTH[A].interval
        d = decide(inp(full, {A: SERVED}, probes={A: outcome}, now=now))
        folded = None
        if resting is not None and now < resting:
            folded = quiet_probe(quiet, A, outcome, now=now, strategy=STRATEGY,
                                 health=HEALTH[A])
        if folded is not None:
            assert d.actions == () and d.status.same_but_volatile(full), d.message
            quiet = folded
        else:
            q = decide(inp(quiet, {A: SERVED}, probes={A: outcome}, now=now))
            quiet, resting = q.status, q.steady_until
        assert quiet == d.status
        full = d.status
        if d.actions:
            break  # a failover starts: out of the steady state this test is about


def test_probes_due_by_status_alone_is_what_the_decision_schedules() -> None:
    """What a restarted shell runs before its first step is what a decision would ask."""
    steady = serving()
    assert probes_due(steady, HEALTH) == decide(inp(steady, {A: SERVED})).probes_due \
        == {A: T0 + HEALTH[A].interval}
    moving = in_transition(tr("failover", A, B), {B: ArchitectureStatus(state="deployed")})
    assert probes_due(moving, HEALTH) == {B: float("-inf")}
    d = decide(inp(moving, {B: RUNNING}))
    assert Probe(B) in d.actions and d.probes_due == {B: NOW}

