"""The inputs: the documents one ActiveStrategy decides from, and what of them status keeps.

Resolving (``runtime.resolve``) reads the Strategy, Architectures, Environment and data
bindings a strategy names; here it is done again only when a document changed, and what
a strategy that cannot be resolved is held with is worked out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from controller.reconcile.status import StrategyStatus
from controller.reconcile.times import rfc3339
from controller.runtime.documents import Documents, Parsed
from controller.runtime.informer import ObjectKey
from controller.runtime.remembered import stored_revisions
from controller.runtime.resolve import StrategyInputs, Unresolved, resolve


@dataclass(frozen=True, slots=True)
class Resolved:
    """Per ActiveStrategy: the last resolved inputs and the signature they were resolved at."""

    signature: tuple[Any, ...]
    inputs: StrategyInputs


@dataclass(frozen=True)
class Held:
    """A strategy held on input it cannot run on: the status to store, and what to say."""

    document: dict[str, Any]
    phase: str
    sentence: str


class InputResolver:
    def __init__(self, docs: Documents, workdir: Path) -> None:
        self._docs = docs
        self._workdir = workdir

    def resolved(self, key: ObjectKey, parsed: Parsed | None, raw: Mapping[str, Any],
                 last: Resolved | None) -> Resolved:
        """The documents ``key`` needs (``last`` itself while no spec changed, nor the
        architectures its status records: a steady probe cycle reuses them); raises
        ``Unresolved`` when there is nothing to run on."""
        recorded = tuple((raw.get("architectures") or {}).keys())
        signature = (self._docs.version, parsed is None, recorded)
        if last is not None and last.signature == signature:
            return last
        return Resolved(signature, resolve(self._docs, key, parsed, raw, self._workdir))


def held(parsed: Parsed | None, raw: Mapping[str, Any] | None, status: StrategyStatus,
         exc: Unresolved, now: float) -> Held:
    """Invalid input: the status that says so, touching nothing else."""
    new = status.set_condition("Valid", "False", exc.reason, str(exc), now)
    new = replace(new, message=f"invalid: {exc}; no action")
    if parsed is not None:
        new = replace(new, observed_generation=parsed.generation)
        new = new.with_phase("Invalid", now)
    doc = {**dict(raw or {}), **new.to_json()}
    doc.setdefault("createdAt", rfc3339(now))
    return Held(doc, new.phase, f"invalid: {exc}; no action")


def remembered(inputs: StrategyInputs, previous: Mapping[str, Any]) -> Any:
    """The inputs to keep in status (None: none, or too large to keep): those already
    stored while they are the same versions (nothing to encode again)."""
    if inputs.remembered is None:
        return None
    stored = previous.get("inputs")
    if stored_revisions(stored) == inputs.remembered.revisions:
        return stored
    return inputs.remembered.stored


def remembered_unchanged(inputs: StrategyInputs, stored: Mapping[str, Any]) -> bool:
    """``stored`` (a status document) holds the inputs these were resolved from."""
    return (stored.get("strategy") == inputs.spec.strategy
            and stored.get("environment") == inputs.environment_name
            and stored_revisions(stored.get("inputs")) == (
                inputs.remembered.revisions if inputs.remembered else ()))
