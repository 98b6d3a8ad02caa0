"""The small records nested in a ``StrategyStatus``: conditions, history entries, the
transition in progress, the last error and a failed pin. Each field's metadata says how
it is stored (``json_fields``; the shape of docs/design.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from controller.reconcile.json_fields import (
    FLAG,
    INT,
    NAME,
    NAMES,
    OPT_NUMBER,
    TEXT,
    TIME,
    choice,
    stored_as,
)

TransitionKind = Literal["start", "failover", "failback", "switch", "rollout"]
HistoryKind = Literal["start", "failover", "failback", "switch", "rollout", "adopt", "aborted",
                      "degraded"]
Stage = Literal["draining", "deploying"]
ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    type: str = field(metadata=stored_as(TEXT))
    status: ConditionStatus = field(
        metadata=stored_as(choice(get_args(ConditionStatus)), fallback="Unknown"))
    reason: str = field(metadata=stored_as(TEXT))
    message: str = field(default="", metadata=stored_as(TEXT))
    last_transition_time: float = field(default=0.0, metadata=stored_as(TIME))


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the bounded transition history. ``kind`` says which counter it fed:
    only ``failover``/``failback`` entries are counted (one per completed transition)."""

    time: float = field(metadata=stored_as(TIME))
    kind: HistoryKind = field(metadata=stored_as(choice(get_args(HistoryKind)),
                                              fallback="failover"))
    from_: str | None = field(metadata=stored_as(NAME))
    to: str | None = field(metadata=stored_as(NAME))
    reason: str = field(metadata=stored_as(TEXT))
    message: str = field(default="", metadata=stored_as(TEXT))
    duration: float | None = field(default=None, metadata=stored_as(
        OPT_NUMBER, key="durationSeconds", omit_none=True))
    """Seconds from detection to completion, for a completed transition."""


@dataclass(frozen=True)
class Transition:
    """An in-progress change of the active architecture (write-ahead: persisted before the
    actions run, so a restarted controller finishes or rolls it back).

    ``stage``: ``draining`` = undeploy everything of this strategy that exists, then deploy
    ``to``; ``deploying`` = ``to`` is being deployed and waited on (and, when
    ``make_before_break``, ``from_`` keeps serving until ``to`` is healthy).
    ``started_at`` is the detection time (metric duration = completion - started_at);
    ``stage_since`` starts the ``deployTimeout`` of the current target.
    A stored transition without a target reads as none; an unreadable stage as
    ``draining``, which undeploys whatever exists before deploying again.
    """

    kind: TransitionKind = field(metadata=stored_as(choice(get_args(TransitionKind)),
                                                 fallback="failover"))
    from_: str | None = field(metadata=stored_as(NAME))
    to: str = field(metadata=stored_as(NAME, required=True))
    reason: str = field(metadata=stored_as(TEXT))
    started_at: float = field(metadata=stored_as(TIME))
    stage: Stage = field(default="deploying",
                         metadata=stored_as(choice(get_args(Stage)), fallback="draining"))
    stage_since: float = field(default=0.0, metadata=stored_as(TIME, fallback_from="started_at"))
    attempted: tuple[str, ...] = field(default=(), metadata=stored_as(NAMES))
    make_before_break: bool = field(default=False, metadata=stored_as(FLAG))


@dataclass(frozen=True)
class ErrorInfo:
    """The last error and its backoff: ``count`` consecutive errors, retry at ``retry_at``.

    ``left_behind``: of a ``NoCandidate`` error, the architecture the transition that ran
    out of candidates moved away from; bringing up another one after the backoff goes on
    with that failover (or failback). Absent in statuses stored before it was kept.
    """

    time: float = field(metadata=stored_as(TIME))
    reason: str = field(metadata=stored_as(TEXT))
    message: str = field(metadata=stored_as(TEXT))
    count: int = field(default=1, metadata=stored_as(INT))
    retry_at: float = field(default=0.0, metadata=stored_as(TIME))
    left_behind: str | None = field(default=None, metadata=stored_as(NAME, omit_none=True))


@dataclass(frozen=True)
class FailedPin:
    """A pinned switch whose target failed: not retried until the spec generation changes."""

    architecture: str = field(metadata=stored_as(NAME, required=True))
    generation: int = field(metadata=stored_as(INT))


_CONDITION_ORDER = {"Valid": 0, "Ready": 1, "Serving": 2, "Degraded": 3, "MainReady": 4}


def condition_order(condition: Condition) -> tuple[int, str]:
    """Sort key of conditions: the known ones in a fixed order, then the others by type."""
    return (_CONDITION_ORDER.get(condition.type, 99), condition.type)
