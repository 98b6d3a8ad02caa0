"""The small records nested in a ``StrategyStatus``: conditions, history entries, the
transition in progress, the last error and a failed pin, each with its JSON form (the
shape of docs/design.md §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from controller.reconcile.json_values import read_int, read_opt_float, read_opt_str, read_time
from controller.reconcile.times import rfc3339

TransitionKind = Literal["start", "failover", "failback", "switch", "rollout"]
HistoryKind = Literal["start", "failover", "failback", "switch", "rollout", "adopt", "aborted",
                      "degraded"]
Stage = Literal["draining", "deploying"]
ConditionStatus = Literal["True", "False", "Unknown"]


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
    def from_json(data: Mapping[str, Any]) -> Condition:
        status = data.get("status")
        return Condition(
            type=str(data.get("type", "")),
            status=cast(ConditionStatus, status if status in ("True", "False") else "Unknown"),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            last_transition_time=read_time(data.get("lastTransitionTime"), 0.0),
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
    def from_json(data: Mapping[str, Any]) -> HistoryEntry:
        kind = data.get("kind")
        return HistoryEntry(
            time=read_time(data.get("time"), 0.0),
            kind=cast(HistoryKind, kind if kind in get_args(HistoryKind) else "failover"),
            from_=read_opt_str(data.get("from")),
            to=read_opt_str(data.get("to")),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            duration=read_opt_float(data.get("durationSeconds")),
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
    def from_json(data: Any) -> Transition | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("to"), str):
            return None
        kind = data.get("kind")
        stage = data.get("stage")
        started = read_time(data.get("startedAt"), 0.0)
        attempted = data.get("attempted")
        return Transition(
            kind=cast(TransitionKind, kind if kind in get_args(TransitionKind) else "failover"),
            from_=read_opt_str(data.get("from")),
            to=str(data["to"]),
            reason=str(data.get("reason", "")),
            started_at=started,
            stage=cast(Stage, stage if stage in get_args(Stage) else "draining"),
            stage_since=read_time(data.get("stageSince"), started),
            attempted=tuple(str(name) for name in attempted) if isinstance(attempted, list) else (),
            make_before_break=bool(data.get("makeBeforeBreak", False)),
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
    def from_json(data: Any) -> ErrorInfo | None:
        if not isinstance(data, Mapping):
            return None
        return ErrorInfo(
            time=read_time(data.get("time"), 0.0),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            count=read_int(data.get("count"), 1),
            retry_at=read_time(data.get("retryAt"), 0.0),
        )


@dataclass(frozen=True)
class FailedPin:
    """A pinned switch whose target failed: not retried until the spec generation changes."""

    architecture: str
    generation: int

    def to_json(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "generation": self.generation}

    @staticmethod
    def from_json(data: Any) -> FailedPin | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("architecture"), str):
            return None
        return FailedPin(str(data["architecture"]), read_int(data.get("generation"), 0))



_CONDITION_ORDER = {"Valid": 0, "Ready": 1, "Serving": 2, "Degraded": 3, "MainReady": 4}


def condition_order(condition: Condition) -> tuple[int, str]:
    """Sort key of conditions: the known ones in a fixed order, then the others by type."""
    return (_CONDITION_ORDER.get(condition.type, 99), condition.type)
