"""The active architecture vanished, is in ERROR or is unhealthy: fail over to the next candidate,
break-before-make, unless it is pinned, the flap guard holds or nothing else fits (then
it is kept: a half-working service beats none)."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import RECHECK, Observed
from controller.reconcile.deploying import drain
from controller.reconcile.status import RECENT_FAILOVER_WINDOW, Transition


def definite_failure(seen: Observed) -> str | None:
    """The reason of a failure the fog itself reports (no probe cycle needs to confirm it):
    ``Vanished`` (instances or their nodes gone), ``InstanceError`` (an instance in ERROR),
    or None."""
    if not seen.exists or seen.vanished:
        return "Vanished"
    if seen.instance_error:
        return "InstanceError"
    return None


def failure_words(step: Step, name: str, reason: str) -> str:
    """What is wrong with ``name``, for a message: ``vanished``, ``in ERROR (...)`` or
    ``unhealthy n/m cycles (...)``."""
    if reason == "Vanished":
        return "vanished"
    if reason == "InstanceError":
        return f"in ERROR ({step.observed(name).instance_error})"
    arch = step.status.arch(name)
    return (f"unhealthy {arch.consecutive_failures}/{step.failure_threshold(name)} cycles"
            + (f" ({arch.last_probe_message})" if arch.last_probe_message else ""))


def fail_over(step: Step, active: str, reason: str) -> None:
    what = failure_words(step, active, reason)
    if step.inputs.spec.pin == active:
        step.wait(RECHECK)
        step.hold_degraded("PinnedUnhealthy", f"{step.who(active)} {what}, but it is pinned: "
                                              "not failing over")
        return
    limit = step.inputs.strategy.policy.max_failovers_per_hour
    recent = step.status.recent_failovers
    if len(recent) >= limit:
        step.wait(min(recent) + RECENT_FAILOVER_WINDOW - step.now if recent else RECHECK)
        step.hold_degraded("FlapGuard", f"{step.who(active)} {what}, but flap guard holds: "
                                        f"{len(recent)} failovers in the last hour "
                                        f"(max {limit})")
        return
    target = step.next_candidate((active,))
    if target is None:
        step.wait(RECHECK)
        step.hold_degraded("NoPlaceableCandidate",
                           f"{step.who(active)} {what}, no other candidate can be placed "
                           f"({step.why_unplaceable((active,))}): keeping it")
        return
    transition = Transition(kind="failover", from_=active, to=target, reason=reason,
                            started_at=step.now, stage="draining", stage_since=step.now,
                            attempted=(active,))
    step.update(transition=transition, active_architecture=None, active_role=None,
                main_ready_since=None)
    drain(step, transition)
    step.say(f"{step.who(active)} {what}, failing over to {target}", "FailingOver")
