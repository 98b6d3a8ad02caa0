"""The scratch state of one ``decide`` call, shared by the situation modules.

Each situation (resting, deploying, failing over, ...) reads the inputs and the status
through a ``Step`` and records what it decides on it: actions, timers, the message and
phase, the errors it handled. ``Step`` is local to one call, so ``decide`` stays pure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from controller.api.models import HealthSpec
from controller.reconcile.contract import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    Action,
    DecisionInput,
    Observed,
    TransitionEvent,
)
from controller.reconcile.evolve import evolve
from controller.reconcile.probing import failure_threshold, success_threshold
from controller.reconcile.status import (
    ErrorInfo,
    HistoryEntry,
    HistoryKind,
    Phase,
    Role,
    StrategyStatus,
)


@dataclass(frozen=True)
class DegradedReason:
    """Why the strategy is held Degraded: the condition's reason and message."""

    reason: str
    message: str


@dataclass
class Step:
    """Scratch state of one ``decide`` call (local, so ``decide`` stays pure)."""

    inputs: DecisionInput
    status: StrategyStatus
    actions: list[Action] = field(default_factory=list)
    events: list[TransitionEvent] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    message: str = ""
    phase: Phase | None = None
    degraded: DegradedReason | None = None
    backoff: float | None = None
    error_handled: bool = False
    probes_due: dict[str, float] = field(default_factory=dict)
    resting: bool = False
    """Set by a steady step whose next step depends on nothing but probe cycles."""

    @property
    def now(self) -> float:
        return self.inputs.now

    def observed(self, name: str | None) -> Observed:
        return self.inputs.observed.get(name, Observed()) if name else Observed()

    def act(self, action: Action) -> None:
        if action not in self.actions:
            self.actions.append(action)

    def wait(self, seconds: float) -> None:
        self.waits.append(max(0.0, seconds))

    def say(self, message: str, phase: Phase | None = None) -> None:
        self.message = message
        if phase is not None:
            self.phase = phase

    def hold_degraded(self, reason: str, message: str) -> None:
        self.degraded = DegradedReason(reason, message)
        self.say(message, "Degraded")

    def update(self, **changes: Any) -> None:
        self.status = evolve(self.status, **changes)

    def update_arch(self, name: str, **changes: Any) -> None:
        self.status = self.status.with_arch(name, evolve(self.status.arch(name), **changes))

    # candidates and policy

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(candidate.architecture for candidate in self.inputs.strategy.candidates)

    @property
    def main(self) -> str:
        return self.inputs.strategy.main.architecture

    def role(self, name: str | None) -> Role | None:
        if name is None:
            return None
        return "main" if name == self.main else "replacement"

    def health_spec(self, name: str) -> HealthSpec:
        return self.inputs.health.get(name, HealthSpec())

    def failure_threshold(self, name: str) -> int:
        return failure_threshold(self.inputs.strategy, self.health_spec(name))

    def success_threshold(self, name: str) -> int:
        return success_threshold(self.health_spec(name))

    def fingerprint(self, name: str) -> str:
        if name in self.inputs.fingerprints:
            return self.inputs.fingerprints[name]
        for candidate in self.inputs.strategy.candidates:
            if candidate.architecture == name:
                raw = json.dumps(candidate.config, sort_keys=True, default=str)
                return hashlib.sha256(raw.encode()).hexdigest()[:16]
        return ""

    def existing(self) -> list[str]:
        """Architectures of this strategy with instances in the fog, candidates first."""
        others = sorted(name for name in self.inputs.observed if name not in self.names)
        return [name for name in (*self.names, *others) if self.observed(name).exists]

    def pin(self) -> str | None:
        """The pin in force (None when unpinned or when this pin already failed)."""
        pin = self.inputs.spec.pin
        failed = self.status.failed_pin
        if pin is None or (failed is not None and failed.architecture == pin
                           and failed.generation >= self.inputs.generation):
            return None
        return pin

    def who(self, name: str | None) -> str:
        return f"{self.role(name)} {name}" if name else "nothing"

    def next_candidate(self, skip: tuple[str, ...]) -> str | None:
        """The first candidate, in strategy order, that is not in ``skip`` and fits."""
        for name in self.names:
            if name not in skip and self.observed(name).placeable:
                return name
        return None

    def why_unplaceable(self, skip: tuple[str, ...] = ()) -> str:
        parts = [f"{name}: {self.observed(name).placement_message or 'no room'}"
                 for name in self.names if name not in skip]
        return "; ".join(parts) or "no candidates"

    # status records

    def record_history(self, kind: HistoryKind, from_: str | None, target: str | None,
                       reason: str, message: str, duration: float | None = None) -> None:
        entry = HistoryEntry(self.now, kind, from_, target, reason, message, duration)
        last = self.status.history[-1] if self.status.history else None
        if (kind == "degraded" and last is not None
                and (last.kind, last.from_, last.to, last.reason) == (kind, from_, target, reason)):
            # A retry that failed the same way again: one entry, not one per retry, so a
            # long outage cannot push the transitions that matter out of the bounded history.
            self.update(history=(*self.status.history[:-1], entry))
            return
        self.status = self.status.append_history(entry)

    def record_error(self, reason: str, message: str, left_behind: str | None = None) -> None:
        """Remember the error and back off: exponentially while it recurs."""
        previous = self.status.last_error
        count = previous.count + 1 if previous is not None and previous.reason == reason else 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (count - 1))
        self.update(last_error=ErrorInfo(self.now, reason, message, count, self.now + delay,
                                         left_behind))
        self.backoff = delay
