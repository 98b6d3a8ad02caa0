"""ActiveStrategy status: an immutable value with the JSON shape of docs/design.md §3.

Everything the decision needs to survive a controller restart lives here (the in-progress
``transition``, ``mainReadySince`` for the failback stabilization window,
``recentFailovers`` for the flap guard, ``lastError`` with its backoff), so a new leader
continues exactly where the old one stopped.

Values compare by content: the shell writes status only when ``new != old``. Nothing in
here changes unless something happened (a probe cycle, an observation, a step): there is no
"last reconcile time", so an idle controller writes nothing.

Each field's metadata says how it is stored (``json_fields``). ``from_json`` is tolerant:
missing or malformed fields take their defaults, so an empty or older status document
reads fine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, get_args

from controller.reconcile.evolve import evolve
from controller.reconcile.json_fields import (
    INT,
    JSON_MAP,
    NAME,
    NAMES_MAP,
    NUMBER_MAP,
    OPT_COUNT,
    OPT_TIME,
    TEXT,
    TIMES,
    choice,
    read_record,
    record,
    record_map,
    records,
    stored_as,
    write_record,
)
from controller.reconcile.json_values import EMPTY, empty, freeze, thaw
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

__all__ = [
    "EMPTY",
    "HISTORY_LIMIT",
    "PHASES",
    "RECENT_FAILOVER_WINDOW",
    "STARTUP_VOLATILE_ARCH_FIELDS",
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
    ``first_pass_time``: when it first passed a probe cycle since it was last deployed
    (None: not yet, ``started`` is false); until then a transition's target is in its
    start-up (``reconcile.probing.in_startup``).
    """

    state: LifecycleStateName | None = field(
        default=None, metadata=stored_as(choice(get_args(LifecycleStateName))))
    health: HealthName = field(default="Unknown", metadata=stored_as(choice(get_args(HealthName))))
    consecutive_failures: int = field(default=0, metadata=stored_as(INT))
    consecutive_successes: int = field(default=0, metadata=stored_as(INT))
    consecutive_unknowns: int = field(default=0, metadata=stored_as(INT))
    last_probe_time: float | None = field(default=None, metadata=stored_as(OPT_TIME))
    last_probe_result: HealthName | None = field(
        default=None, metadata=stored_as(choice(get_args(HealthName))))
    last_probe_reason: str = field(default="", metadata=stored_as(TEXT))
    last_probe_message: str = field(default="", metadata=stored_as(TEXT))
    last_probe_values: Mapping[str, float] = field(default_factory=empty,
                                                   metadata=stored_as(NUMBER_MAP))
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=empty,
                                                     metadata=stored_as(NAMES_MAP))
    instances: Mapping[str, Any] = field(default_factory=empty, metadata=stored_as(JSON_MAP))
    fingerprint: str = field(default="", metadata=stored_as(TEXT))
    first_pass_time: float | None = field(default=None,
                                         metadata=stored_as(OPT_TIME, omit_none=True))
    message: str = field(default="", metadata=stored_as(TEXT))

    def __post_init__(self) -> None:
        for name in ("last_probe_values", "placement", "instances"):
            object.__setattr__(self, name, freeze(getattr(self, name)))

    def same_but_volatile(self, other: ArchitectureStatus) -> bool:
        """Equal but for :data:`VOLATILE_ARCH_FIELDS` (a healthy cycle's changes)."""
        return self is other or all(getattr(self, name) == getattr(other, name)
                                    for name in _ARCH_FIELDS)

    def same_but_startup_volatile(self, other: ArchitectureStatus) -> bool:
        """Equal but for :data:`VOLATILE_ARCH_FIELDS` and
        :data:`STARTUP_VOLATILE_ARCH_FIELDS` (a start-up cycle's changes)."""
        return self is other or all(getattr(self, name) == getattr(other, name)
                                    for name in _STARTUP_ARCH_FIELDS)

    @property
    def started(self) -> bool:
        """Passed a probe cycle since it was last deployed (Kubernetes' ``started``)."""
        return self.first_pass_time is not None

    def reset_health(self) -> ArchitectureStatus:
        """Counters of a fresh deployment: nothing measured yet."""
        return evolve(self, health="Unknown", consecutive_failures=0, consecutive_successes=0,
                       consecutive_unknowns=0, first_pass_time=None)


@dataclass(frozen=True)
class StrategyStatus:
    observed_generation: int = field(default=0, metadata=stored_as(INT))
    phase: Phase = field(default="Pending", metadata=stored_as(choice(PHASES)))
    active_architecture: str | None = field(default=None, metadata=stored_as(NAME))
    active_role: Role | None = field(default=None, metadata=stored_as(choice(get_args(Role))))
    architectures: Mapping[str, ArchitectureStatus] = field(
        default_factory=empty, metadata=stored_as(record_map(ArchitectureStatus)))
    failover_count: int = field(default=0, metadata=stored_as(INT))
    failback_count: int = field(default=0, metadata=stored_as(INT))
    last_transition_time: float | None = field(default=None, metadata=stored_as(OPT_TIME))
    """When ``phase`` last changed."""
    conditions: tuple[Condition, ...] = field(default=(), metadata=stored_as(records(Condition)))
    history: tuple[HistoryEntry, ...] = field(default=(),
                                              metadata=stored_as(records(HistoryEntry)))
    unreported: int | None = field(default=None, metadata=stored_as(
        OPT_COUNT, key="unreportedHistory", omit_none=True))
    """How many of the newest ``history`` entries are stored but not yet reported (their
    Event, counters and log line): a controller that dies before reporting them leaves
    them to its successor. Written by the shell, never by the decision."""
    transition: Transition | None = field(default=None, metadata=stored_as(record(Transition)))
    main_ready_since: float | None = field(default=None, metadata=stored_as(OPT_TIME))
    recent_failovers: tuple[float, ...] = field(default=(), metadata=stored_as(TIMES))
    last_error: ErrorInfo | None = field(default=None, metadata=stored_as(record(ErrorInfo)))
    failed_pin: FailedPin | None = field(default=None, metadata=stored_as(record(FailedPin)))
    message: str = field(default="", metadata=stored_as(TEXT))

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

    def unreported_entries(self) -> tuple[HistoryEntry, ...]:
        """The newest ``unreported`` entries of ``history`` (a stored count larger than the
        history means all of it)."""
        n = min(self.unreported or 0, len(self.history))
        return self.history[len(self.history) - n:] if n else ()

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
        starting = self.transition.to if self.transition is not None else None
        for name, arch in mine.items():
            their = theirs[name]
            if name == starting and not arch.started and not their.started:
                if not arch.same_but_startup_volatile(their):
                    return False
            elif not arch.same_but_volatile(their):
                return False
        return True

    # --- JSON ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return write_record(self)

    @staticmethod
    def from_json(data: Any) -> StrategyStatus:
        """The status stored as ``data``; the defaults for what is not usable in it."""
        status = read_record(StrategyStatus, data)
        return StrategyStatus() if status is None else status


VOLATILE_ARCH_FIELDS = {"last_probe_time": "lastProbeTime",
                        "last_probe_values": "lastProbeValues",
                        "consecutive_successes": "consecutiveSuccesses"}
"""Architecture fields (attribute: JSON name) that change on every probe cycle of a healthy
architecture. A status that differs only in them is not written: with 10,000 strategies
probed every 10 s that would be 1,000 writes a second of nothing new. They are written
along with the next real change."""
STARTUP_VOLATILE_ARCH_FIELDS = {"consecutive_failures": "consecutiveFailures",
                                "consecutive_unknowns": "consecutiveUnknowns",
                                "last_probe_result": "lastProbeResult",
                                "last_probe_reason": "lastProbeReason",
                                "last_probe_message": "lastProbeMessage"}
"""Further fields that a transition's target in its start-up (no cycle passed since its
deploy) changes on every cycle it fails. It is probed a few times a second and failed by
time, not by count, so such a cycle is not news: writing each one would be several writes
a second per starting architecture, thousands in a fleet-wide failover. They are written
with the next real change (its first pass, its health turning, its failure)."""
_ARCH_FIELDS = tuple(each.name for each in fields(ArchitectureStatus)
                     if each.name not in VOLATILE_ARCH_FIELDS)
_STARTUP_ARCH_FIELDS = tuple(name for name in _ARCH_FIELDS
                             if name not in STARTUP_VOLATILE_ARCH_FIELDS)
_STRATEGY_FIELDS = tuple(each.name for each in fields(StrategyStatus)
                         if each.name != "architectures")
