"""The reconcile decision for one ActiveStrategy, as a pure function: ``decide``.

The contract (what ``decide`` is given, what it returns, the rules it keeps) is in
``contract.py``; read it, not the code, to drive ``decide``. Each step observes, then
takes the one situation that applies, then finishes; each situation has its own module:

- ``observation.py``: fold the fog observation and probe outcomes into the status;
- ``holding.py``: the fog is unreachable, the object invalid or paused;
- ``deleting.py``: deletion requested;
- ``deploying.py``: a transition in progress (start, failover, failback, switch, roll-out);
- ``starting.py``: nothing active: adopt what runs or start a candidate;
- ``resting.py``: one active architecture, which may need ``failover.py``,
  ``failback.py`` or ``switching.py``;
- ``finishing.py``: conditions, probe schedule, requeue and write-ahead bounds.
"""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import (
    MUTATING,
    POLL,
    RECHECK,
    RESYNC,
    Action,
    Adopt,
    Decision,
    DecisionInput,
    DeleteStatus,
    Deploy,
    EventKind,
    Observed,
    Probe,
    ProbeOutcome,
    Serve,
    TransitionEvent,
    Undeploy,
    Unserve,
)
from controller.reconcile.deleting import terminate
from controller.reconcile.deploying import step_transition
from controller.reconcile.finishing import finish
from controller.reconcile.holding import hold_invalid, hold_paused, hold_unreachable, why_invalid
from controller.reconcile.observation import fold_observation
from controller.reconcile.probing import (
    failure_threshold,
    fold_probe,
    probes_due,
    quiet_probe,
    success_threshold,
)
from controller.reconcile.resting import rest
from controller.reconcile.starting import start_or_adopt

__all__ = [
    "MUTATING",
    "POLL",
    "RECHECK",
    "RESYNC",
    "Action",
    "Adopt",
    "Decision",
    "DecisionInput",
    "DeleteStatus",
    "Deploy",
    "EventKind",
    "Observed",
    "Probe",
    "ProbeOutcome",
    "Serve",
    "TransitionEvent",
    "Undeploy",
    "Unserve",
    "decide",
    "failure_threshold",
    "fold_probe",
    "probes_due",
    "quiet_probe",
    "success_threshold",
]


def decide(inputs: DecisionInput) -> Decision:
    """One reconcile step for one ActiveStrategy (see ``contract.py``)."""
    step = Step(inputs, inputs.status)
    fold_observation(step)
    invalid = why_invalid(inputs)
    if not inputs.fog_reachable:
        hold_unreachable(step)
    elif inputs.deletion_requested:
        terminate(step)
    elif invalid is not None:
        hold_invalid(step, invalid)
    elif inputs.spec.paused:
        hold_paused(step)
    elif step.status.transition is not None:
        step_transition(step, step.status.transition)
    elif step.status.active_architecture is None:
        start_or_adopt(step)
    else:
        rest(step, step.status.active_architecture)
    if invalid is None and inputs.using_last_valid:
        step.status = step.status.set_condition("Valid", "False", "UsingLastValid",
                                                inputs.using_last_valid, inputs.now)
    elif invalid is None:
        step.status = step.status.set_condition("Valid", "True", "Valid", "", inputs.now)
    return finish(step)
