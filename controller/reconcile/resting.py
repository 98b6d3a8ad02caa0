"""The steady state: one active architecture, no transition in progress.

Each step checks, in order, whether the active architecture needs replacing, serving or
unserving, a switch to the pin, a roll-out of a changed config or, for a replacement, a
failback to the main; when none applies the strategy rests."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import Serve, Undeploy, Unserve
from controller.reconcile.failback import watch_main
from controller.reconcile.failover import definite_failure, fail_over, failure_words
from controller.reconcile.status import Phase
from controller.reconcile.switching import start_rollout, start_switch


def rest(step: Step, active: str) -> None:
    for name in step.existing():
        if name != active:
            step.act(Undeploy(name))
    seen, arch = step.observed(active), step.status.arch(active)
    if _in_trouble(step, active):
        return
    if step.inputs.spec.serve and not seen.served:
        step.act(Serve(active))
        step.say(f"{step.who(active)} deployed and healthy, serving it", "Serving")
        return
    if not step.inputs.spec.serve and seen.served:
        step.act(Unserve(active))
        step.say(f"{step.who(active)}: serve disabled, stopping its serve step", "Deployed")
        return
    pin = step.pin()
    if pin is not None and pin != active:
        start_switch(step, active, pin)
        return
    recorded = arch.fingerprint
    if recorded and recorded != step.fingerprint(active):
        start_rollout(step, active)
        return
    if step.role(active) == "replacement" and step.inputs.spec.pin is None:
        if watch_main(step, active):
            return
    else:
        step.update(main_ready_since=None)
        step.resting = True  # unlike a replacement, no main to watch for on every cycle
    _report_steady(step, active)


def _in_trouble(step: Step, active: str) -> bool:
    """Fail over a failing active architecture: at once on a definite failure (unless
    ``policy.failFast`` is off), after ``failureThreshold`` failed cycles otherwise. True
    if the step is taken (failing over, or held until the threshold)."""
    arch = step.status.arch(active)
    definite = definite_failure(step.observed(active))
    limit = step.failure_threshold(active)
    over = arch.consecutive_failures >= limit
    if definite is not None and (over or step.inputs.strategy.policy.fail_fast):
        fail_over(step, active, definite)
    elif over:
        fail_over(step, active, arch.last_probe_reason or "Unhealthy")
    elif definite is not None:
        # nothing to serve or roll out on a broken architecture: hold until the threshold
        step.hold_degraded(definite, f"{step.who(active)} {failure_words(step, active, definite)}"
                                     f"; failFast is off: failing over after {limit} failed "
                                     f"cycles ({arch.consecutive_failures} so far)")
    else:
        return False
    return True


def _report_steady(step: Step, active: str) -> None:
    seen, arch = step.observed(active), step.status.arch(active)
    phase: Phase = "Serving" if seen.served else "Deployed"
    doing = "serving" if seen.served else "deployed (serve disabled)"
    health = arch.health.lower()
    if arch.consecutive_failures:
        health += (f", {arch.consecutive_failures}/{step.failure_threshold(active)} "
                   "failed cycles")
    if arch.health == "Unknown" and arch.consecutive_unknowns:
        health += f", {arch.consecutive_unknowns} cycles could not measure"
    extra = ""
    if step.status.main_ready_since is not None:
        mode = step.inputs.strategy.policy.failback.mode
        extra = (f"; main {step.main} ready, failback is Manual (fogstrat switch)"
                 if mode == "Manual" else f"; main {step.main} placeable, stabilizing")
    step.say(f"no action: {step.who(active)} {doing}, {health}{extra}", phase)
