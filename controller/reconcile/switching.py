"""Changes of a healthy active architecture asked for by the spec: a switch to the pinned
architecture, and a roll-out when the active one's config changed."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import RECHECK
from controller.reconcile.deploying import begin_transition
from controller.reconcile.status import Transition


def start_switch(step: Step, active: str, pin: str) -> None:
    pin_seen = step.observed(pin)
    if not pin_seen.placeable:
        step.wait(RECHECK)
        step.hold_degraded("PinUnplaceable", f"pinned {pin} cannot be placed "
                                             f"({pin_seen.placement_message or 'no room'}): "
                                             f"keeping {active}")
        return
    make_before_break = (step.inputs.strategy.policy.failback.make_before_break
                         and pin_seen.placeable_alongside)
    begin_transition(step, Transition(
        kind="switch", from_=active, to=pin, reason="Pinned", started_at=step.now,
        stage="deploying" if make_before_break else "draining", stage_since=step.now,
        make_before_break=make_before_break))
    step.say(f"pinned to {pin}: switching from {active}", "Switching")


def start_rollout(step: Step, active: str) -> None:
    """Redeploy in place, break-before-make: the same fog05 ids cannot overlap."""
    begin_transition(step, Transition(
        kind="rollout", from_=active, to=active, reason="ConfigChanged", started_at=step.now,
        stage="draining", stage_since=step.now))
    step.say(f"{step.who(active)} spec changed: redeploying it (undeploy, then deploy)",
             "Deploying")
