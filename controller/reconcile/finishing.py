"""The last part of every step: back off on errors, set the phase and conditions, schedule
the probe cycles, and work out when the next step is due and how much may run before the
status write."""

from __future__ import annotations

from controller.reconcile.context import Step
from controller.reconcile.contract import (
    MUTATING,
    POLL,
    RESYNC,
    Decision,
    Probe,
    Serve,
    Undeploy,
    Unserve,
)
from controller.reconcile.endpoint import serving_architecture
from controller.reconcile.evolve import evolve
from controller.reconcile.probing import probes_due
from controller.reconcile.status import (
    RECENT_FAILOVER_WINDOW,
    ArchitectureStatus,
    StrategyStatus,
)


def finish(step: Step) -> Decision:
    inputs = step.inputs
    _action_errors(step)
    if step.phase is None:
        step.phase = step.status.phase
    status = step.status.with_phase(step.phase, inputs.now)
    step.status = evolve(status, observed_generation=inputs.generation)
    _conditions(step)
    timers = list(step.waits)
    if step.phase != "Terminating":
        schedule_probes(step)
    message = f"{inputs.key}: {step.message}" if inputs.key else step.message
    step.update(message=step.message)
    if step.backoff is not None:
        requeue = step.backoff
    else:
        waits = list(step.waits)
        if any(isinstance(action, Probe) for action in step.actions):
            waits.append(0.0)
        if any(isinstance(action, MUTATING) for action in step.actions):
            waits.append(POLL)
        requeue = min([RESYNC, *waits])
    return Decision(tuple(step.actions), step.status, message, requeue, tuple(step.events),
                    step.probes_due, _write_before(step), _steady_until(step, timers))


def _write_before(step: Step) -> int:
    """How many leading actions need no write ahead of them. Removing an architecture the
    stored status records leaves it recorded (a restart finds what is left and goes on);
    serving the recorded transition target or active architecture creates only what a
    restart observes there anyway; probes change nothing. A deploy may create what no
    stored status names yet: the write must be stored before it. So must removing an
    architecture recorded served while the decided status sends consumers to another
    (the end of a make-before-break hand-over): the endpoint moves with that write. (The
    status decided from need not be the one stored: a step that only probes or serves
    may leave its write to the next.)"""
    stored = step.inputs.status
    transition = stored.transition
    active = {stored.active_architecture, transition.to if transition else None}
    recorded = {*active, transition.from_ if transition else None, *stored.architectures}
    serving = serving_architecture(step.status)
    left = {name for name, arch in stored.architectures.items()
            if arch.state == "served" and serving not in (None, name)}
    for i, action in enumerate(step.actions):
        if not (isinstance(action, Probe)
                or (isinstance(action, Serve | Unserve) and action.arch in active)
                or (isinstance(action, Undeploy) and action.arch in recorded
                    and action.arch not in left)):
            return i
    return len(step.actions)


def _steady_until(step: Step, timers: list[float]) -> float | None:
    """When a resting strategy's next step is due, probe cycles aside: its own timers, the
    oldest recent failover leaving the flap guard's window, and the resync."""
    if (not step.resting or step.actions or step.events or step.backoff is not None
            or any(seen.error for seen in step.inputs.observed.values())):
        return None
    expiry = [time + RECENT_FAILOVER_WINDOW - step.now
              for time in step.status.recent_failovers]
    return step.now + min([RESYNC, *timers, *expiry])


def _action_errors(step: Step) -> None:
    """Errors of actions not handled by the step (e.g. a failed Undeploy): back off."""
    if step.error_handled:
        return
    errors = [f"{name}: {seen.error}"
              for name, seen in sorted(step.inputs.observed.items()) if seen.error]
    if errors:
        step.record_error("ActionFailed", "; ".join(errors))
        step.message += f" (last action failed: {'; '.join(errors)})"
    elif step.status.last_error is not None and step.status.last_error.reason in (
            "ActionFailed", "FogUnreachable"):
        step.update(last_error=None)


def _conditions(step: Step) -> None:
    status, now = step.status, step.now
    active = status.active_architecture
    arch = status.arch(active) if active else ArchitectureStatus()
    status = _ready_condition(step, status, arch)
    if active is not None and arch.state == "served":
        status = status.set_condition("Serving", "True", "Served", f"{active} is serving", now)
    elif not step.inputs.spec.serve:
        status = status.set_condition("Serving", "False", "ServeDisabled",
                                      "spec.serve is false", now)
    else:
        status = status.set_condition("Serving", "False", "NotServed",
                                      "no architecture is serving", now)
    if step.degraded is not None:
        status = status.set_condition("Degraded", "True", step.degraded.reason,
                                      step.degraded.message, now)
    elif step.phase not in ("Paused", "Invalid"):
        status = status.set_condition("Degraded", "False", "AsExpected", "", now)
    if status.main_ready_since is not None:
        manual = step.inputs.strategy.policy.failback.mode == "Manual"
        status = status.set_condition("MainReady", "True", "MainPlaceable",
                                      f"main {step.main} can be placed again"
                                      + ("; failback is Manual" if manual else ""), now)
    else:
        status = status.set_condition("MainReady", "False", "NotApplicable", "", now)
    step.status = status


def _ready_condition(step: Step, status: StrategyStatus, arch: ArchitectureStatus
                     ) -> StrategyStatus:
    now, active = step.now, status.active_architecture
    if active is None:
        return status.set_condition("Ready", "False", "NoActiveArchitecture",
                                    "no architecture is active", now)
    if (arch.health == "Unknown"
            and arch.consecutive_unknowns >= step.failure_threshold(active)):
        return status.set_condition("Ready", "Unknown", "ProbesInconclusive",
                                    f"{active}: {arch.consecutive_unknowns} consecutive "
                                    "probe cycles could not measure", now)
    if arch.health == "Healthy" and (step.observed(active).complete
                                     or not step.inputs.fog_reachable):
        return status.set_condition("Ready", "True", "Healthy", f"{active} is healthy", now)
    return status.set_condition("Ready", "False", "NotHealthy",
                                f"{active} is {arch.health.lower()}", now)


def schedule_probes(step: Step) -> None:
    """Probe the active architecture and the transition's target when due; else wait."""
    for name, due in probes_due(step.status, step.inputs.health).items():
        if not step.observed(name).exists and step.inputs.fog_reachable:
            continue
        if step.now >= due:
            step.act(Probe(name))
            step.probes_due[name] = step.now
        else:
            step.wait(due - step.now)
            step.probes_due[name] = due
