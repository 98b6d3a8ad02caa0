"""The first part of every step: fold what the fog shows and this cycle's probe outcomes
into the status, so that every situation decides on the same up-to-date picture."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.evolve import evolve
from controller.reconcile.probing import fold_probe
from controller.reconcile.status import (
    EMPTY,
    RECENT_FAILOVER_WINDOW,
    ArchitectureStatus,
    LifecycleStateName,
    freeze,
)


def fold_observation(step: Step) -> None:
    """Fold the fog observation and this cycle's probe results into status."""
    inputs = step.inputs
    recent = tuple(time for time in step.status.recent_failovers
                   if step.now - time < RECENT_FAILOVER_WINDOW)
    if recent != step.status.recent_failovers:
        step.update(recent_failovers=recent)
    if inputs.fog_reachable:
        known = [*step.names, *(name for name in inputs.observed if name not in step.names)]
        for name in known:
            _observe_arch(step, name)
    for name, outcome in (inputs.probes or {}).items():
        if name in step.names:
            step.status = step.status.with_arch(name, fold_probe(
                step.status.arch(name), outcome, step.now, step.failure_threshold(name),
                step.success_threshold(name)))


def _observe_arch(step: Step, name: str) -> None:
    seen = step.observed(name)
    old = step.status.architectures.get(name)
    if old is None and not seen.exists and name not in step.names:
        return
    arch = old or ArchitectureStatus()
    state: LifecycleStateName | None
    if seen.exists:
        state = "served" if seen.served else "deployed"
    elif arch.state in ("deployed", "served"):
        state = "undeployed"
    else:
        state = arch.state
    placement = seen.placement if seen.exists else EMPTY
    instances = seen.instances if seen.exists else EMPTY
    message = seen.error or ("" if seen.placeable else seen.placement_message)
    if (old is not None and arch.state == state and arch.message == message
            and arch.placement == placement and arch.instances == instances):
        return  # the common case, a steady architecture: nothing to rebuild
    new = evolve(arch, state=state, placement=freeze(placement), instances=freeze(instances),
                 message=message)
    if new != arch or old is None:
        if not seen.exists and name not in step.names:
            kept = {other: other_arch for other, other_arch in step.status.architectures.items()
                    if other != name}
            step.update(architectures=kept)
        else:
            step.status = step.status.with_arch(name, new)
