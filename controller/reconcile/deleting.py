"""Deletion, even when paused or invalid: undeploy everything that exists, then delete
the status key."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import POLL, DeleteStatus, Undeploy


def terminate(step: Step) -> None:
    step.update(transition=None, main_ready_since=None)
    existing = step.existing()
    if existing:
        for name in existing:
            step.act(Undeploy(name))
        step.say(f"deleting: undeploying {', '.join(existing)}", "Terminating")
        step.wait(POLL)
    else:
        step.act(DeleteStatus())
        step.say("deleted: nothing left in the fog, removing status", "Terminating")
