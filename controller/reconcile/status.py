"""ActiveStrategy status: an immutable value with the JSON shape of docs/design.md §3.

Everything the decision needs to survive a controller restart lives here (the in-progress
``transition``, ``mainReadySince`` for the failback stabilization window,
``recentFailovers`` for the flap guard, ``lastError`` with its backoff), so a new leader
continues exactly where the old one stopped.

Values compare by content: the shell writes status only when ``new != old``. Nothing in
here changes unless something happened (a probe cycle, an observation, a step): there is no
"last reconcile time", so an idle controller writes nothing.

``from_json`` is tolerant: missing or malformed fields take their defaults, so an empty or
older status document reads fine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from controller.reconcile.evolve import evolve
from controller.reconcile.json_values import (
    EMPTY,
    empty,
    freeze,
    read_int,
    read_opt_str,
    thaw,
)
from controller.reconcile.status_parts import (
    Condition,
    ConditionStatus,
    ErrorInfo,
    FailedPin,
    HistoryEntry,
    HistoryKind,
    Stage,
    Transition,
    TransitionKind,
    condition_order,
)
from controller.reconcile.times import opt_rfc3339, parse_time, rfc3339

__all__ = [
    "EMPTY",
    "HISTORY_LIMIT",
    "PHASES",
    "RECENT_FAILOVER_WINDOW",
    "VOLATILE_ARCH_FIELDS",
    "ArchitectureStatus",
    "Condition",
    "ConditionStatus",
    "ErrorInfo",
    "FailedPin",
    "HealthName",
    "HistoryEntry",
    "HistoryKind",
    "LifecycleStateName",
    "Phase",
    "Role",
    "Stage",
    "StrategyStatus",
    "Transition",
    "TransitionKind",
    "empty",
    "freeze",
    "thaw",
]

Phase = Literal[
    "Pending",
    "Deploying",
    "Serving",
    "Deployed",
    "FailingOver",
    "FailingBack",
    "Switching",
    "Degraded",
    "Paused",
    "Invalid",
    "Terminating",
]
"""``Deployed`` is the steady phase when ``spec.serve`` is false (deployed, healthy, not
served); ``Serving`` is used only when the active architecture is served. ``Switching``:
a switch to the pinned architecture (``spec.pin``, ``fogstrat switch``) is under way."""

HealthName = Literal["Healthy", "Unhealthy", "Unknown"]
"""An architecture's health as status stores it: the values of ``arch.probes.Health``,
spelled out because ``reconcile`` sits beside ``arch`` and does not import it."""
LifecycleStateName = Literal["configured", "associated", "deployed", "served", "undeployed"]
"""An architecture's lifecycle state as status stores it: the values of
``arch.lifecycle.LifecycleState`` (``new`` is never stored)."""
Role = Literal["main", "replacement"]

PHASES: tuple[str, ...] = get_args(Phase)
HISTORY_LIMIT = 20
RECENT_FAILOVER_WINDOW = 3600.0


@dataclass(frozen=True)
class ArchitectureStatus:
    """What the controller knows about one architecture of the strategy.

    ``health`` has hysteresis (as Kubernetes readiness): it becomes ``Healthy`` after
    ``successThreshold`` consecutive healthy cycles, ``Unhealthy`` after ``failureThreshold``
    consecutive unhealthy ones, ``Unknown`` after ``failureThreshold`` consecutive cycles that
    could not measure; otherwise it keeps its value. Unknown cycles neither count as failures
    nor reset the failure/success counters.
    ``fingerprint`` is what the architecture was deployed from (empty = unknown/adopted).
    """

    state: LifecycleStateName | None = None
    health: HealthName = "Unknown"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    consecutive_unknowns: int = 0
    last_probe_time: float | None = None
    last_probe_result: HealthName | None = None
    last_probe_reason: str = ""
    last_probe_message: str = ""
    last_probe_values: Mapping[str, float] = field(default_factory=empty)
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=empty)
    instances: Mapping[str, Any] = field(default_factory=empty)
    fingerprint: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        for name in ("last_probe_values", "placement", "instances"):
            object.__setattr__(self, name, freeze(getattr(self, name)))

    def same_but_volatile(self, other: ArchitectureStatus) -> bool:
        """Equal but for :data:`VOLATILE_ARCH_FIELDS` (a healthy cycle's changes)."""
        return self is other or all(getattr(self, name) == getattr(other, name)
                                    for name in _ARCH_FIELDS)

    def reset_health(self) -> ArchitectureStatus:
        """Counters of a fresh deployment: nothing measured yet."""
        return evolve(self, health="Unknown", consecutive_failures=0, consecutive_successes=0,
                       consecutive_unknowns=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "health": self.health,
            "consecutiveFailures": self.consecutive_failures,
            "consecutiveSuccesses": self.consecutive_successes,
            "consecutiveUnknowns": self.consecutive_unknowns,
            "lastProbeTime": opt_rfc3339(self.last_probe_time),
            "lastProbeResult": self.last_probe_result,
            "lastProbeReason": self.last_probe_reason,
            "lastProbeMessage": self.last_probe_message,
            "lastProbeValues": thaw(self.last_probe_values),
            "placement": thaw(self.placement),
            "instances": thaw(self.instances),
            "fingerprint": self.fingerprint,
            "message": self.message,
        }

    @staticmethod
    def from_json(data: Any) -> ArchitectureStatus:
        if not isinstance(data, Mapping):
            return ArchitectureStatus()
        state = data.get("state")
        health = data.get("health")
        result = data.get("lastProbeResult")
        values = data.get("lastProbeValues")
        placement = data.get("placement")
        instances = data.get("instances")
        probe_time = data.get("lastProbeTime")
        return ArchitectureStatus(
            state=cast(LifecycleStateName | None,
                       state if state in get_args(LifecycleStateName) else None),
            health=cast(HealthName, health if health in get_args(HealthName) else "Unknown"),
            consecutive_failures=read_int(data.get("consecutiveFailures"), 0),
            consecutive_successes=read_int(data.get("consecutiveSuccesses"), 0),
            consecutive_unknowns=read_int(data.get("consecutiveUnknowns"), 0),
            last_probe_time=parse_time(probe_time),
            last_probe_result=cast(HealthName | None,
                                   result if result in get_args(HealthName) else None),
            last_probe_reason=str(data.get("lastProbeReason", "")),
            last_probe_message=str(data.get("lastProbeMessage", "")),
            last_probe_values={str(key): float(value) for key, value in values.items()
                               if isinstance(value, int | float)}
            if isinstance(values, Mapping) else EMPTY,
            placement={str(entity): tuple(str(node) for node in nodes)
                       for entity, nodes in placement.items() if isinstance(nodes, list | tuple)}
            if isinstance(placement, Mapping) else EMPTY,
            instances=instances if isinstance(instances, Mapping) else EMPTY,
            fingerprint=str(data.get("fingerprint", "")),
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class StrategyStatus:
    observed_generation: int = 0
    phase: Phase = "Pending"
    active_architecture: str | None = None
    active_role: Role | None = None
    architectures: Mapping[str, ArchitectureStatus] = field(default_factory=empty)
    failover_count: int = 0
    failback_count: int = 0
    last_transition_time: float | None = None
    """When ``phase`` last changed."""
    conditions: tuple[Condition, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    transition: Transition | None = None
    main_ready_since: float | None = None
    recent_failovers: tuple[float, ...] = ()
    last_error: ErrorInfo | None = None
    failed_pin: FailedPin | None = None
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "architectures", MappingProxyType(dict(self.architectures)))

    # --- helpers ---------------------------------------------------------------------

    def arch(self, name: str) -> ArchitectureStatus:
        return self.architectures.get(name, ArchitectureStatus())

    def with_arch(self, name: str, value: ArchitectureStatus) -> StrategyStatus:
        architectures = dict(self.architectures)
        architectures[name] = value
        return evolve(self, architectures=architectures)

    def condition(self, type_: str) -> Condition | None:
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None

    def set_condition(self, type_: str, status: ConditionStatus, reason: str, message: str,
                      now: float) -> StrategyStatus:
        """Set a condition; its ``lastTransitionTime`` changes only when ``status`` flips."""
        old = self.condition(type_)
        transition_time = (old.last_transition_time
                           if old is not None and old.status == status else now)
        new = Condition(type_, status, reason, message, transition_time)
        if old == new:
            return self
        others = tuple(other for other in self.conditions if other.type != type_)
        return evolve(self, conditions=tuple(sorted((*others, new), key=condition_order)))

    def append_history(self, entry: HistoryEntry, limit: int = HISTORY_LIMIT) -> StrategyStatus:
        return evolve(self, history=(*self.history, entry)[-limit:])

    def with_phase(self, phase: Phase, now: float) -> StrategyStatus:
        if phase == self.phase:
            return self
        return evolve(self, phase=phase, last_transition_time=now)

    def same_but_volatile(self, other: StrategyStatus) -> bool:
        """Equal but for :data:`VOLATILE_ARCH_FIELDS`: no write is needed between them.
        Compared field by field, without copies: it runs on every probe cycle."""
        if self is other:
            return True
        if any(getattr(self, name) != getattr(other, name) for name in _STRATEGY_FIELDS):
            return False
        mine, theirs = self.architectures, other.architectures
        if mine.keys() != theirs.keys():
            return False
        return all(arch.same_but_volatile(theirs[name]) for name, arch in mine.items())

    # --- JSON ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "observedGeneration": self.observed_generation,
            "phase": self.phase,
            "activeArchitecture": self.active_architecture,
            "activeRole": self.active_role,
            "architectures": {name: arch.to_json()
                              for name, arch in sorted(self.architectures.items())},
            "failoverCount": self.failover_count,
            "failbackCount": self.failback_count,
            "lastTransitionTime": opt_rfc3339(self.last_transition_time),
            "conditions": [condition.to_json() for condition in self.conditions],
            "history": [entry.to_json() for entry in self.history],
            "transition": self.transition.to_json() if self.transition else None,
            "mainReadySince": opt_rfc3339(self.main_ready_since),
            "recentFailovers": [rfc3339(when) for when in self.recent_failovers],
            "lastError": self.last_error.to_json() if self.last_error else None,
            "failedPin": self.failed_pin.to_json() if self.failed_pin else None,
            "message": self.message,
        }

    @staticmethod
    def from_json(data: Any) -> StrategyStatus:
        if not isinstance(data, Mapping):
            return StrategyStatus()
        phase = data.get("phase")
        role = data.get("activeRole")
        architectures = data.get("architectures")
        conditions = data.get("conditions")
        history = data.get("history")
        recent = data.get("recentFailovers")
        transition_time = data.get("lastTransitionTime")
        main_ready = data.get("mainReadySince")
        return StrategyStatus(
            observed_generation=read_int(data.get("observedGeneration"), 0),
            phase=cast(Phase, phase if phase in PHASES else "Pending"),
            active_architecture=read_opt_str(data.get("activeArchitecture")),
            active_role=cast(Role | None, role if role in ("main", "replacement") else None),
            architectures={str(name): ArchitectureStatus.from_json(arch)
                           for name, arch in architectures.items()}
            if isinstance(architectures, Mapping) else {},
            failover_count=read_int(data.get("failoverCount"), 0),
            failback_count=read_int(data.get("failbackCount"), 0),
            last_transition_time=parse_time(transition_time),
            conditions=tuple(Condition.from_json(item) for item in conditions
                             if isinstance(item, Mapping))
            if isinstance(conditions, list) else (),
            history=tuple(HistoryEntry.from_json(item) for item in history
                          if isinstance(item, Mapping))
            if isinstance(history, list) else (),
            transition=Transition.from_json(data.get("transition")),
            main_ready_since=parse_time(main_ready),
            recent_failovers=tuple(when for when in map(parse_time, recent) if when is not None)
            if isinstance(recent, list) else (),
            last_error=ErrorInfo.from_json(data.get("lastError")),
            failed_pin=FailedPin.from_json(data.get("failedPin")),
            message=str(data.get("message", "")),
        )


VOLATILE_ARCH_FIELDS = {"last_probe_time": "lastProbeTime",
                        "last_probe_values": "lastProbeValues",
                        "consecutive_successes": "consecutiveSuccesses"}
"""Architecture fields (attribute: JSON name) that change on every probe cycle of a healthy
architecture. A status that differs only in them is not written: with 10,000 strategies
probed every 10 s that would be 1,000 writes a second of nothing new. They are written
along with the next real change."""
_ARCH_FIELDS = tuple(each.name for each in fields(ArchitectureStatus)
                     if each.name not in VOLATILE_ARCH_FIELDS)
_STRATEGY_FIELDS = tuple(each.name for each in fields(StrategyStatus)
                         if each.name != "architectures")
