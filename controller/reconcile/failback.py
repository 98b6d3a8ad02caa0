"""A replacement serves: watch the main, and fail back to it once it has been placeable
for the stabilization window (unless failback is Manual)."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.deploying import begin_transition
from controller.reconcile.status import Transition


def watch_main(step: Step, active: str) -> bool:
    """Replacement serving: track main-ready and fail back after the window. True if acted."""
    main, main_seen = step.main, step.observed(step.main)
    if not main_seen.placeable:
        step.update(main_ready_since=None)
        return False
    since = step.status.main_ready_since
    if since is None:
        since = step.now
        step.update(main_ready_since=since)
    policy = step.inputs.strategy.policy.failback
    if policy.mode == "Manual":
        return False
    remaining = since + policy.stabilization_window - step.now
    if remaining > 0:
        step.wait(remaining)
        return False
    make_before_break = policy.make_before_break and main_seen.placeable_alongside
    begin_transition(step, Transition(
        kind="failback", from_=active, to=main, reason="MainReady", started_at=step.now,
        stage="deploying" if make_before_break else "draining", stage_since=step.now,
        make_before_break=make_before_break))
    how = "make-before-break" if make_before_break else "break-before-make"
    step.say(f"main {main} placeable for {policy.stabilization_window:g}s, failing back from "
             f"{active} ({how})", "FailingBack")
    return True
