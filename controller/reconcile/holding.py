"""Situations where the step holds still: the fog is unreachable, the object is invalid or
paused. Nothing destructive happens in any of them; probes still update health."""

from __future__ import annotations

from dataclasses import dataclass

from controller.reconcile.context import DegradedReason, Step
from controller.reconcile.contract import DecisionInput
from controller.reconcile.status import Phase


@dataclass(frozen=True)
class Invalid:
    """Why the desired state cannot be acted on: the Valid condition's reason and message."""

    reason: str
    message: str


def why_invalid(inputs: DecisionInput) -> Invalid | None:
    """What makes the inputs impossible to act on (None: nothing), beyond what the document
    validation sees alone: it needs the strategy and the spec together."""
    names = [candidate.architecture for candidate in inputs.strategy.candidates]
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        return Invalid("DuplicateArchitecture",
                       f"architecture {', '.join(dupes)} appears more than once in the "
                       "strategy")
    pin = inputs.spec.pin
    if pin is not None and pin not in names:
        return Invalid("UnknownPinTarget",
                       f"pin {pin!r} is not a candidate of strategy {inputs.spec.strategy} "
                       f"({', '.join(names)})")
    return None


def hold_unreachable(step: Step) -> None:
    what = f" ({step.inputs.fog_message})" if step.inputs.fog_message else ""
    step.error_handled = True
    step.record_error("FogUnreachable", f"fog unreachable{what}")
    step.degraded = DegradedReason("FogUnreachable", f"fog unreachable{what}")
    phase: Phase = "Terminating" if step.inputs.deletion_requested else step.status.phase
    if phase == "Pending":  # nothing deployed yet: the unreachable fog is what holds it
        phase = "Degraded"
    step.say(f"fog unreachable{what}: holding, nothing undeployed", phase)


def hold_invalid(step: Step, invalid: Invalid) -> None:
    step.status = step.status.set_condition("Valid", "False", invalid.reason, invalid.message,
                                            step.now)
    step.say(f"invalid: {invalid.message}; no action", "Invalid")


def hold_paused(step: Step) -> None:
    active = step.status.active_architecture
    health = step.status.arch(active).health.lower() if active else ""
    detail = f"{step.who(active)} {health}" if active else "no active architecture"
    step.say(f"paused: observing only ({detail})", "Paused")
