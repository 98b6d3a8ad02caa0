"""A transition in progress: bring its target up, hand over to it, and record the outcome.

Every change of the active architecture (start, failover, failback, switch, roll-out) is a
``Transition`` in the status, taken one stage per step: ``draining`` undeploys what is in
the way (break-before-make), ``deploying`` deploys the target, waits for it to become
healthy, serves it and completes. Make-before-break serves the target while the old
architecture still runs and undeploys the old one only once the status (and so the
endpoint) names the target. A target that fails is undeployed and the next candidate is
tried, or, make-before-break, the old architecture keeps serving.
"""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import (
    POLL,
    Deploy,
    Observed,
    Probe,
    Serve,
    TransitionEvent,
    Undeploy,
)
from controller.reconcile.evolve import evolve
from controller.reconcile.probing import in_startup, startup_budget
from controller.reconcile.status import (
    ArchitectureStatus,
    FailedPin,
    HistoryKind,
    Phase,
    Transition,
    TransitionKind,
)

_VERB: dict[TransitionKind, str] = {
    "start": "starting", "failover": "failing over", "failback": "failing back",
    "switch": "switching", "rollout": "rolling out",
}
_PHASE: dict[TransitionKind, Phase] = {
    "start": "Deploying", "failover": "FailingOver", "failback": "FailingBack",
    "switch": "Switching", "rollout": "Deploying",
}


def step_transition(step: Step, transition: Transition) -> None:
    if transition.stage == "draining":
        drain(step, transition)
    else:
        deploy_target(step, transition)


def begin_transition(step: Step, transition: Transition) -> None:
    """Record a new transition (write-ahead) and take its first stage in this step."""
    step.update(transition=transition, main_ready_since=None, last_error=None)
    if transition.stage == "deploying":
        prepare_target(step, transition.to)
        deploy_target(step, transition)
    else:
        step.update(active_architecture=None, active_role=None)
        drain(step, transition)


def drain(step: Step, transition: Transition) -> None:
    """Break-before-make: undeploy everything that exists, then deploy the target.

    One batch does both (undeploys first; the shell stops at the first failure, so the
    target is never deployed while another still runs), except when the target itself
    must come down first (a roll-out redeploys in place)."""
    existing = step.existing()
    if transition.to in existing:
        for name in existing:
            step.act(Undeploy(name))
        step.wait(POLL)
        step.say(f"{_VERB[transition.kind]} to {transition.to}: undeploying "
                 f"{', '.join(existing)} first", _PHASE[transition.kind])
        return
    transition = evolve(transition, stage="deploying", stage_since=step.now)
    step.update(transition=transition)
    prepare_target(step, transition.to)
    deploy_target(step, transition)


def prepare_target(step: Step, name: str) -> None:
    """A fresh deployment: nothing measured yet, deployed from the current fingerprint."""
    arch = step.status.arch(name).reset_health()
    step.status = step.status.with_arch(name, evolve(arch, fingerprint=step.fingerprint(name)))


def deploy_target(step: Step, transition: Transition) -> None:
    """The ``deploying`` stage: undeploy what is not kept, then wait for the target to be
    complete and healthy, then hand over to it."""
    target = transition.to
    keep = {target} | ({transition.from_}
                   if transition.make_before_break and transition.from_ else set())
    draining = [name for name in step.existing() if name not in keep]
    for name in draining:
        step.act(Undeploy(name))
    seen, arch = step.observed(target), step.status.arch(target)
    if _target_in_trouble(step, transition, seen, arch):
        return
    if not (seen.exists and seen.complete
            and arch.consecutive_successes >= step.success_threshold(target)):
        _await_target(step, transition, draining, seen, arch)
        return
    _hand_over(step, transition, seen)


def _target_in_trouble(step: Step, transition: Transition, seen: Observed,
                       arch: ArchitectureStatus) -> bool:
    """Fail the target if its deploy failed, it vanished, is in ERROR or its probe cycles
    failed it (``_probes_failed``). True if so."""
    target = transition.to
    if seen.error:
        target_failed(step, transition, "DeployFailed", seen.error)
    elif seen.exists and seen.vanished:
        target_failed(step, transition, "Vanished", f"{target} instances vanished")
    elif seen.exists and seen.instance_error and step.inputs.strategy.policy.fail_fast:
        target_failed(step, transition, "InstanceError",
                      f"{target} in ERROR ({seen.instance_error})")
    else:
        return _probes_failed(step, transition, arch)
    return True


def _probes_failed(step: Step, transition: Transition, arch: ArchitectureStatus) -> bool:
    """Fail the target on its probe cycles. In its start-up (no cycle passed since its
    deploy, probed at the start-up cadence) by time: its last cycle failed and the
    start-up budget since the deploy is spent -- counting those quick cycles against
    ``failureThreshold`` would fail a target that is merely still starting. After its
    first pass, by count: ``failureThreshold`` failed cycles in a row. True if failed."""
    target = transition.to
    why = f" ({arch.last_probe_message})" if arch.last_probe_message else ""
    reason = arch.last_probe_reason or "Unhealthy"
    if in_startup(step.status, target):
        budget = startup_budget(step.inputs.strategy, step.health_spec(target))
        if arch.consecutive_failures == 0 or step.now - transition.stage_since < budget:
            return False
        target_failed(step, transition, reason,
                      f"{target} did not pass a probe cycle within {budget:g}s of its deploy "
                      f"({arch.consecutive_failures} failed start-up cycles{why})")
        return True
    limit = step.failure_threshold(target)
    if arch.consecutive_failures < limit:
        return False
    target_failed(step, transition, reason,
                  f"{target} unhealthy {arch.consecutive_failures}/{limit} cycles{why}")
    return True


def _await_target(step: Step, transition: Transition, draining: list[str], seen: Observed,
                  arch: ArchitectureStatus) -> None:
    """The target is not ready yet: (re)deploy and probe it, within the deploy timeout."""
    target = transition.to
    success_limit = step.success_threshold(target)
    timeout = step.inputs.strategy.policy.deploy_timeout
    if step.now - transition.stage_since >= timeout:
        target_failed(step, transition, "DeployTimeout",
                      f"{target} not healthy within {timeout:g}s")
        return
    if not seen.exists or not seen.complete:
        # Deploy is synchronous and idempotent: an incomplete target here is one whose
        # deploy was interrupted (a controller crash between onboarding and starting)
        # or lost a replica; deploying again adopts what runs and places the rest.
        # Its first probe cycle follows in the same batch (it would be due at once),
        # and, when one healthy cycle makes it ready, serving it: the probe gates it.
        step.act(Deploy(target))
        step.act(Probe(target))
        serving = (transition.from_
                   if transition.make_before_break and transition.from_ != target else None)
        if (step.inputs.spec.serve and arch.consecutive_successes + 1 >= success_limit
                and (serving is None or not step.observed(serving).exists)):
            step.act(Serve(target))
    step.wait(min(POLL, transition.stage_since + timeout - step.now))
    progress = (f"undeploying {', '.join(draining)}, then deploying" if draining else
                "deploying" if not seen.exists else
                "waiting for all replicas to run" if not seen.complete else
                "starting up: waiting for its first healthy cycle"
                if in_startup(step.status, target) else
                f"waiting for health {arch.consecutive_successes}/{success_limit} cycles")
    step.say(f"{_VERB[transition.kind]} to {target}: {progress}", _PHASE[transition.kind])


def _hand_over(step: Step, transition: Transition, seen: Observed) -> None:
    """The target is healthy: serve it, then complete.

    Make-before-break takes two steps while the old architecture still runs: serve the
    target alongside it, then -- once the status records the target served, which moves
    the endpoint to it (see ``endpoint.serving_architecture``) in the write ahead of the
    step's actions -- undeploy the old one. Consumers are pointed at the target before
    the old one stops, so they never follow the endpoint to an architecture that is gone.
    A restart between the steps finds both running and the target served: it goes on.
    """
    target, kind = transition.to, transition.kind
    old = (transition.from_ if transition.make_before_break and transition.from_
           and transition.from_ != target else None)
    if step.inputs.spec.serve and not seen.served:
        step.act(Serve(target))
        step.wait(POLL)
        alongside = f" alongside {old}" if old is not None and step.observed(old).exists else ""
        step.say(f"{_VERB[kind]} to {target}: {target} healthy, serving it{alongside}",
                 _PHASE[kind])
        return
    if old is not None and step.observed(old).exists:
        step.act(Undeploy(old))
        step.wait(POLL)
        now = f"{target} serving" if seen.served else f"{target} healthy"
        step.say(f"{_VERB[kind]} to {target}: {now}, undeploying {old}", _PHASE[kind])
        return
    complete(step, transition)


def target_failed(step: Step, transition: Transition, reason: str, detail: str) -> None:
    """Undeploy the failed target; go back to the old one (make-before-break) or on to
    the next candidate not yet tried, or hold Degraded when none is left."""
    target, old = transition.to, transition.from_
    step.error_handled = True
    if step.observed(target).exists:
        step.act(Undeploy(target))
    step.update_arch(target, message=detail)
    if transition.kind == "switch":
        step.update(failed_pin=FailedPin(target, step.inputs.generation))
    if (transition.make_before_break and old is not None and old != target
            and step.observed(old).exists):
        _abort(step, transition, old, reason, detail)
        return
    attempted = (transition.attempted if target in transition.attempted
                 else (*transition.attempted, target))
    next_target = step.next_candidate(attempted)
    if next_target is None:
        step.update(transition=None, active_architecture=None, active_role=None)
        step.record_history("degraded", old, None, "NoCandidate", detail)
        step.record_error("NoCandidate", f"{detail}; no other candidate can be placed",
                          left_behind=old)
        step.hold_degraded("NoCandidate", f"{_VERB[transition.kind]} to {target} failed "
                                          f"({detail}); no other candidate can be placed")
        return
    step.update(transition=evolve(transition, to=next_target, attempted=attempted,
                                  stage="draining", stage_since=step.now,
                                  make_before_break=False))
    step.wait(POLL)
    step.say(f"{_VERB[transition.kind]}: {detail} ({reason}), trying {next_target}",
             _PHASE[transition.kind])


def _abort(step: Step, transition: Transition, old: str, reason: str, detail: str) -> None:
    """A make-before-break target failed: the old architecture keeps serving."""
    target, kind = transition.to, transition.kind
    step.update(transition=None, active_architecture=old, active_role=step.role(old),
                main_ready_since=None)
    step.record_history("aborted", old, target, reason, f"{kind} to {target} aborted: {detail}")
    step.wait(POLL)
    step.say(f"{kind} to {target} aborted ({detail}): undeploying {target}, {old} keeps serving",
             "Serving" if step.observed(old).served else "Deployed")


def complete(step: Step, transition: Transition) -> None:
    """The target serves (or is deployed, serve off): count the event and record it."""
    target, from_ = transition.to, transition.from_
    duration = max(0.0, step.now - transition.started_at)
    kind: HistoryKind = transition.kind
    reason = transition.reason
    if transition.kind == "rollout" and target != from_:
        kind, reason = "failover", "RolloutFailed"
    if transition.kind == "failback" and target != step.main:
        kind, reason = "aborted", "FailbackFailed"
    if kind == "failover":
        step.update(failover_count=step.status.failover_count + 1,
                    recent_failovers=(*step.status.recent_failovers, step.now))
        step.events.append(TransitionEvent("failover", from_, target, reason, duration))
    elif kind == "failback":
        step.update(failback_count=step.status.failback_count + 1)
        step.events.append(TransitionEvent("failback", from_, target, reason, duration))
    served = step.observed(target).served
    message = (f"{transition.kind} complete: {step.who(target)} "
               f"{'serving' if served else 'deployed'}"
               f" ({from_ or 'nothing'} -> {target}, {reason}, {duration:.0f}s)")
    step.record_history(kind, from_, target, reason, message, duration)
    step.update(transition=None, active_architecture=target, active_role=step.role(target),
                main_ready_since=None, last_error=None)
    step.say(message, "Serving" if served else "Deployed")
