"""Probe cycles folded into an architecture's health, and when the next ones are due.

Pure functions of one architecture's status: the step folds this cycle's outcomes with
them, and a shell folds a quiet cycle of a resting strategy without a step at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from controller.api.models import HealthSpec, StrategySpec
from controller.reconcile.contract import ProbeOutcome
from controller.reconcile.evolve import evolve
from controller.reconcile.status import ArchitectureStatus, StrategyStatus


def failure_threshold(strategy: StrategySpec, health: HealthSpec) -> int:
    """Failed cycles in a row that make an architecture Unhealthy (the policy may override
    the architecture's own)."""
    override = strategy.policy.failure_threshold
    return max(1, override if override is not None else health.failure_threshold)


def success_threshold(health: HealthSpec) -> int:
    return max(1, health.success_threshold)


STARTUP_INTERVAL = 0.25
"""The longest default start-up cadence (``startup_interval``). A target's first cycle
runs right after its deploy, so a service that needs a moment to become ready (peers
training, a cache warming) is seen ready at most this long after it is, for a few probe
cycles a second during one architecture's start-up; the steady state is untouched."""


def startup_interval(health: HealthSpec) -> float:
    """Seconds between probe cycles of a transition's target in its start-up: the
    architecture's ``health.startupInterval``, else the shorter of ``interval`` and
    :data:`STARTUP_INTERVAL` (as Kubernetes' startupProbe, a cadence of its own that
    ends with the first success)."""
    if health.startup_interval is not None:
        return health.startup_interval
    return min(health.interval, STARTUP_INTERVAL)


def startup_budget(strategy: StrategySpec, health: HealthSpec) -> float:
    """Seconds from a target's deploy within which it must pass a first probe cycle: the
    wall-clock time ``failureThreshold`` cycles at ``interval`` would have taken."""
    return failure_threshold(strategy, health) * health.interval


def in_startup(status: StrategyStatus, name: str) -> bool:
    """``name`` is the target of the transition in progress and has not yet passed a probe
    cycle since it was deployed: its failed cycles are judged by time, not counted."""
    transition = status.transition
    return (transition is not None and transition.to == name
            and not status.arch(name).started)


def fold_probe(arch: ArchitectureStatus, outcome: ProbeOutcome, now: float,
               failure_limit: int, success_limit: int) -> ArchitectureStatus:
    """``arch`` after one probe cycle, with the failure and success thresholds given."""
    arch = evolve(arch, last_probe_time=now, last_probe_result=outcome.result,
                  last_probe_message=outcome.message, last_probe_values=outcome.values)
    if outcome.result == "Healthy":
        successes = arch.consecutive_successes + 1
        return evolve(arch, consecutive_successes=successes, consecutive_failures=0,
                      consecutive_unknowns=0, last_probe_reason="",
                      first_pass_time=now if arch.first_pass_time is None else arch.first_pass_time,
                      health="Healthy" if successes >= success_limit else arch.health)
    if outcome.result == "Unhealthy":
        failures = arch.consecutive_failures + 1
        return evolve(arch, consecutive_failures=failures, consecutive_successes=0,
                      consecutive_unknowns=0, last_probe_reason=outcome.reason or "Unhealthy",
                      health="Unhealthy" if failures >= failure_limit else arch.health)
    unknowns = arch.consecutive_unknowns + 1  # unknown: not a failure, counters kept
    return evolve(arch, consecutive_unknowns=unknowns,
                  health="Unknown" if unknowns >= failure_limit else arch.health)


def quiet_probe(status: StrategyStatus, name: str, outcome: ProbeOutcome, *, now: float,
                strategy: StrategySpec, health: HealthSpec) -> StrategyStatus | None:
    """``status`` after a probe cycle of ``name`` that needs no step, or None if it is
    news: anything but the volatile fields changes (see ``Decision.steady_until``)."""
    before = status.arch(name)
    after = fold_probe(before, outcome, now, failure_threshold(strategy, health),
                       success_threshold(health))
    if not after.same_but_volatile(before):
        return None
    return status.with_arch(name, after)


def probes_due(status: StrategyStatus, health: Mapping[str, HealthSpec]) -> dict[str, float]:
    """When the next probe cycle of each probed architecture (the active one, a
    transition's target) is due by ``status`` alone (-inf: never probed): a target in its
    start-up (``in_startup``) at its ``startup_interval``, else every ``interval``. A
    shell with no decision to go by yet (after a restart) may run the due ones before its
    first step, as ``Decision.probes_due`` lets it later."""
    transition = status.transition
    due: dict[str, float] = {}
    for name in (status.active_architecture, transition.to if transition else None):
        if name is not None and name not in due:
            last = status.arch(name).last_probe_time
            spec = health.get(name, HealthSpec())
            interval = startup_interval(spec) if in_startup(status, name) else spec.interval
            due[name] = -math.inf if last is None else last + interval
    return due
