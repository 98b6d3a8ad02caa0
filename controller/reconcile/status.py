"""ActiveStrategy status: an immutable value with the JSON shape of design §3.

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
from controller.reconcile.times import opt_rfc3339, parse_time, rfc3339

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

Health = Literal["Healthy", "Unhealthy", "Unknown"]
LifecycleState = Literal["configured", "associated", "deployed", "served", "undeployed"]
Role = Literal["main", "replacement"]
TransitionKind = Literal["start", "failover", "failback", "switch", "rollout"]
HistoryKind = Literal["start", "failover", "failback", "switch", "rollout", "adopt", "aborted",
                      "degraded"]
Stage = Literal["draining", "deploying"]
ConditionStatus = Literal["True", "False", "Unknown"]

PHASES: tuple[str, ...] = get_args(Phase)
HISTORY_LIMIT = 20
RECENT_FAILOVER_WINDOW = 3600.0

EMPTY: Mapping[str, Any] = MappingProxyType({})


def empty() -> Mapping[str, Any]:
    """Default factory of mapping fields (the shared read-only empty mapping)."""
    return EMPTY


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts become read-only mappings, lists become tuples."""
    if type(value) is MappingProxyType:  # only freeze makes these: frozen all the way down
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": rfc3339(self.last_transition_time),
        }

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Condition:
        status = d.get("status")
        return Condition(
            type=str(d.get("type", "")),
            status=cast(ConditionStatus, status if status in ("True", "False") else "Unknown"),
            reason=str(d.get("reason", "")),
            message=str(d.get("message", "")),
            last_transition_time=_time(d.get("lastTransitionTime"), 0.0),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the bounded transition history. ``kind`` says which counter it fed:
    only ``failover``/``failback`` entries are counted (one per completed transition)."""

    time: float
    kind: HistoryKind
    from_: str | None
    to: str | None
    reason: str
    message: str = ""
    duration: float | None = None
    """Seconds from detection to completion, for a completed transition."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"time": rfc3339(self.time), "kind": self.kind, "from": self.from_,
                               "to": self.to, "reason": self.reason, "message": self.message}
        if self.duration is not None:
            out["durationSeconds"] = self.duration
        return out

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> HistoryEntry:
        kind = d.get("kind")
        return HistoryEntry(
            time=_time(d.get("time"), 0.0),
            kind=cast(HistoryKind, kind if kind in get_args(HistoryKind) else "failover"),
            from_=_opt_str(d.get("from")),
            to=_opt_str(d.get("to")),
            reason=str(d.get("reason", "")),
            message=str(d.get("message", "")),
            duration=_opt_float(d.get("durationSeconds")),
        )


@dataclass(frozen=True)
class Transition:
    """An in-progress change of the active architecture (write-ahead: persisted before the
    actions run, so a restarted controller finishes or rolls it back).

    ``stage``: ``draining`` = undeploy everything of this strategy that exists, then deploy
    ``to``; ``deploying`` = ``to`` is being deployed and waited on (and, when
    ``make_before_break``, ``from_`` keeps serving until ``to`` is healthy).
    ``started_at`` is the detection time (metric duration = completion - started_at);
    ``stage_since`` starts the ``deployTimeout`` of the current target.
    """

    kind: TransitionKind
    from_: str | None
    to: str
    reason: str
    started_at: float
    stage: Stage = "deploying"
    stage_since: float = 0.0
    attempted: tuple[str, ...] = ()
    make_before_break: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "from": self.from_,
            "to": self.to,
            "reason": self.reason,
            "startedAt": rfc3339(self.started_at),
            "stage": self.stage,
            "stageSince": rfc3339(self.stage_since),
            "attempted": list(self.attempted),
            "makeBeforeBreak": self.make_before_break,
        }

    @staticmethod
    def from_json(d: Any) -> Transition | None:
        if not isinstance(d, Mapping) or not isinstance(d.get("to"), str):
            return None
        kind = d.get("kind")
        stage = d.get("stage")
        started = _time(d.get("startedAt"), 0.0)
        attempted = d.get("attempted")
        return Transition(
            kind=cast(TransitionKind, kind if kind in get_args(TransitionKind) else "failover"),
            from_=_opt_str(d.get("from")),
            to=str(d["to"]),
            reason=str(d.get("reason", "")),
            started_at=started,
            stage=cast(Stage, stage if stage in get_args(Stage) else "draining"),
            stage_since=_time(d.get("stageSince"), started),
            attempted=tuple(str(a) for a in attempted) if isinstance(attempted, list) else (),
            make_before_break=bool(d.get("makeBeforeBreak", False)),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """The last error and its backoff: ``count`` consecutive errors, retry at ``retry_at``."""

    time: float
    reason: str
    message: str
    count: int = 1
    retry_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"time": rfc3339(self.time), "reason": self.reason, "message": self.message,
                "count": self.count, "retryAt": rfc3339(self.retry_at)}

    @staticmethod
    def from_json(d: Any) -> ErrorInfo | None:
        if not isinstance(d, Mapping):
            return None
        return ErrorInfo(
            time=_time(d.get("time"), 0.0),
            reason=str(d.get("reason", "")),
            message=str(d.get("message", "")),
            count=_int(d.get("count"), 1),
            retry_at=_time(d.get("retryAt"), 0.0),
        )


@dataclass(frozen=True)
class FailedPin:
    """A pinned switch whose target failed: not retried until the spec generation changes."""

    architecture: str
    generation: int

    def to_json(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "generation": self.generation}

    @staticmethod
    def from_json(d: Any) -> FailedPin | None:
        if not isinstance(d, Mapping) or not isinstance(d.get("architecture"), str):
            return None
        return FailedPin(str(d["architecture"]), _int(d.get("generation"), 0))


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

    state: LifecycleState | None = None
    health: Health = "Unknown"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    consecutive_unknowns: int = 0
    last_probe_time: float | None = None
    last_probe_result: Health | None = None
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
        return self is other or all(getattr(self, f) == getattr(other, f)
                                    for f in _ARCH_FIELDS)

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
    def from_json(d: Any) -> ArchitectureStatus:
        if not isinstance(d, Mapping):
            return ArchitectureStatus()
        state = d.get("state")
        health = d.get("health")
        result = d.get("lastProbeResult")
        values = d.get("lastProbeValues")
        placement = d.get("placement")
        instances = d.get("instances")
        lpt = d.get("lastProbeTime")
        return ArchitectureStatus(
            state=cast(LifecycleState | None,
                       state if state in get_args(LifecycleState) else None),
            health=cast(Health, health if health in get_args(Health) else "Unknown"),
            consecutive_failures=_int(d.get("consecutiveFailures"), 0),
            consecutive_successes=_int(d.get("consecutiveSuccesses"), 0),
            consecutive_unknowns=_int(d.get("consecutiveUnknowns"), 0),
            last_probe_time=parse_time(lpt),
            last_probe_result=cast(Health | None,
                                   result if result in get_args(Health) else None),
            last_probe_reason=str(d.get("lastProbeReason", "")),
            last_probe_message=str(d.get("lastProbeMessage", "")),
            last_probe_values={str(k): float(v) for k, v in values.items()
                               if isinstance(v, int | float)}
            if isinstance(values, Mapping) else EMPTY,
            placement={str(k): tuple(str(n) for n in v) for k, v in placement.items()
                       if isinstance(v, list | tuple)}
            if isinstance(placement, Mapping) else EMPTY,
            instances=instances if isinstance(instances, Mapping) else EMPTY,
            fingerprint=str(d.get("fingerprint", "")),
            message=str(d.get("message", "")),
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
        archs = dict(self.architectures)
        archs[name] = value
        return evolve(self, architectures=archs)

    def condition(self, type_: str) -> Condition | None:
        for c in self.conditions:
            if c.type == type_:
                return c
        return None

    def set_condition(self, type_: str, status: ConditionStatus, reason: str, message: str,
                      now: float) -> StrategyStatus:
        """Set a condition; its ``lastTransitionTime`` changes only when ``status`` flips."""
        old = self.condition(type_)
        ltt = old.last_transition_time if old is not None and old.status == status else now
        new = Condition(type_, status, reason, message, ltt)
        if old == new:
            return self
        others = tuple(c for c in self.conditions if c.type != type_)
        return evolve(self, conditions=tuple(sorted((*others, new), key=_cond_order)))

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
        if any(getattr(self, f) != getattr(other, f) for f in _STRATEGY_FIELDS):
            return False
        mine, theirs = self.architectures, other.architectures
        if mine.keys() != theirs.keys():
            return False
        return all(a.same_but_volatile(theirs[n]) for n, a in mine.items())

    # --- JSON ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "observedGeneration": self.observed_generation,
            "phase": self.phase,
            "activeArchitecture": self.active_architecture,
            "activeRole": self.active_role,
            "architectures": {k: v.to_json() for k, v in sorted(self.architectures.items())},
            "failoverCount": self.failover_count,
            "failbackCount": self.failback_count,
            "lastTransitionTime": opt_rfc3339(self.last_transition_time),
            "conditions": [c.to_json() for c in self.conditions],
            "history": [h.to_json() for h in self.history],
            "transition": self.transition.to_json() if self.transition else None,
            "mainReadySince": opt_rfc3339(self.main_ready_since),
            "recentFailovers": [rfc3339(t) for t in self.recent_failovers],
            "lastError": self.last_error.to_json() if self.last_error else None,
            "failedPin": self.failed_pin.to_json() if self.failed_pin else None,
            "message": self.message,
        }

    @staticmethod
    def from_json(d: Any) -> StrategyStatus:
        if not isinstance(d, Mapping):
            return StrategyStatus()
        phase = d.get("phase")
        role = d.get("activeRole")
        archs = d.get("architectures")
        conds = d.get("conditions")
        hist = d.get("history")
        recent = d.get("recentFailovers")
        ltt = d.get("lastTransitionTime")
        mrs = d.get("mainReadySince")
        return StrategyStatus(
            observed_generation=_int(d.get("observedGeneration"), 0),
            phase=cast(Phase, phase if phase in PHASES else "Pending"),
            active_architecture=_opt_str(d.get("activeArchitecture")),
            active_role=cast(Role | None, role if role in ("main", "replacement") else None),
            architectures={str(k): ArchitectureStatus.from_json(v) for k, v in archs.items()}
            if isinstance(archs, Mapping) else {},
            failover_count=_int(d.get("failoverCount"), 0),
            failback_count=_int(d.get("failbackCount"), 0),
            last_transition_time=parse_time(ltt),
            conditions=tuple(Condition.from_json(c) for c in conds if isinstance(c, Mapping))
            if isinstance(conds, list) else (),
            history=tuple(HistoryEntry.from_json(h) for h in hist if isinstance(h, Mapping))
            if isinstance(hist, list) else (),
            transition=Transition.from_json(d.get("transition")),
            main_ready_since=parse_time(mrs),
            recent_failovers=tuple(t for t in map(parse_time, recent) if t is not None)
            if isinstance(recent, list) else (),
            last_error=ErrorInfo.from_json(d.get("lastError")),
            failed_pin=FailedPin.from_json(d.get("failedPin")),
            message=str(d.get("message", "")),
        )


_COND_ORDER = {"Valid": 0, "Ready": 1, "Serving": 2, "Degraded": 3, "MainReady": 4}


def _cond_order(c: Condition) -> tuple[int, str]:
    return (_COND_ORDER.get(c.type, 99), c.type)


def _time(v: Any, default: float) -> float:
    t = parse_time(v)
    return default if t is None else t


def _float(v: Any, default: float) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any, default: int) -> int:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


VOLATILE_ARCH_FIELDS = {"last_probe_time": "lastProbeTime",
                        "last_probe_values": "lastProbeValues",
                        "consecutive_successes": "consecutiveSuccesses"}
"""Architecture fields (attribute: JSON name) that change on every probe cycle of a healthy
architecture. A status that differs only in them is not written: with 10,000 strategies
probed every 10 s that would be 1,000 writes a second of nothing new. They are written
along with the next real change."""
_ARCH_FIELDS = tuple(f.name for f in fields(ArchitectureStatus)
                     if f.name not in VOLATILE_ARCH_FIELDS)
_STRATEGY_FIELDS = tuple(f.name for f in fields(StrategyStatus) if f.name != "architectures")
