"""No active architecture and no transition: adopt what already runs, or start one."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import RECHECK, Adopt, Undeploy
from controller.reconcile.deploying import drain
from controller.reconcile.status import Transition, TransitionKind


def start_or_adopt(step: Step) -> None:
    existing = [name for name in step.existing() if name in step.names]
    if existing:
        _adopt(step, existing)
        return
    error = step.status.last_error
    if error is not None and error.reason == "NoCandidate" and step.now < error.retry_at:
        step.error_handled = True
        step.wait(error.retry_at - step.now)
        step.hold_degraded("NoCandidate", "no architecture could be brought up "
                                          f"({error.message}); retrying after backoff")
        return
    pin = step.pin()
    target = (pin if pin is not None and step.observed(pin).placeable
              else step.next_candidate(()))
    if target is None:
        step.wait(RECHECK)
        step.hold_degraded("Unplaceable",
                           f"no candidate can be placed ({step.why_unplaceable()})")
        return
    reason = "Start" if target == step.main else ("Pinned" if target == pin else "Unplaceable")
    left = error.left_behind if error is not None else None
    if left is not None and left != target:
        # A failover (or failback) that ran out of candidates goes on here: to the user the
        # service moves from ``left`` to ``target``, and counters and history must say so.
        kind: TransitionKind = "failback" if target == step.main else "failover"
        reason = "MainReady" if kind == "failback" else reason
    else:
        kind, left = "start", None
    transition = Transition(kind=kind, from_=left, to=target, reason=reason,
                            started_at=step.now, stage="draining", stage_since=step.now)
    step.update(transition=transition, active_architecture=None, active_role=None,
                last_error=None)
    drain(step, transition)


def _adopt(step: Step, existing: list[str]) -> None:
    """Take over what runs, preferring a served architecture; undeploy the rest."""
    served = [name for name in existing if step.observed(name).served]
    pick = served[0] if served else existing[0]
    step.act(Adopt(pick))
    for name in step.existing():
        if name != pick:
            step.act(Undeploy(name))
    step.update(active_architecture=pick, active_role=step.role(pick))
    step.record_history("adopt", None, pick, "Adopted", f"adopted {pick} found in the fog")
    others = [name for name in step.existing() if name != pick]
    extra = f", undeploying {', '.join(others)}" if others else ""
    step.say(f"adopting {step.who(pick)} found in the fog{extra}",
             "Serving" if step.observed(pick).served else "Deploying")
