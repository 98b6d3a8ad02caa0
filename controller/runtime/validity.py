"""Status for Environments, Architectures, ArchitectureData and Strategies.

These kinds run nothing themselves; their status tells the user whether the document is
usable: ``Valid`` is False with every problem (schema, semantics, unknown or invalid
references, unknown plugin) and True otherwise. Nothing here can crash on bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from controller.api import kinds
from controller.api.limits import summarize
from controller.api.models import ArchitectureSpec, StrategySpec
from controller.arch.params import strategy_config_problems
from controller.reconcile.times import rfc3339
from controller.runtime.documents import Documents, Parsed
from controller.runtime.informer import ObjectKey
from controller.runtime.references import invalid, missing
from controller.runtime.status_writer import StatusWriter

PLUGIN_GROUP = "fogstrat.architectures"


def with_stored_condition(conditions: list[dict[str, Any]], ctype: str, status: str,
                          reason: str, message: str, now: float) -> list[dict[str, Any]]:
    """Stored ``conditions`` (JSON) with the one of type ``ctype`` set. Kubernetes
    semantics: ``lastTransitionTime`` moves only when ``status`` flips."""
    out = [dict(c) for c in conditions if c.get("type") != ctype]
    previous = next((c for c in conditions if c.get("type") == ctype), None)
    since = previous.get("lastTransitionTime", rfc3339(now)) if previous and \
        previous.get("status") == status else rfc3339(now)
    out.append({"type": ctype, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": since})
    return sorted(out, key=lambda c: str(c["type"]))


def problems_of(docs: Documents, parsed: Parsed) -> tuple[str, list[str]]:
    """(reason, problems) — empty problems when the document is usable."""
    if not parsed.valid:
        return parsed.reason, list(parsed.problems)
    absent = missing(docs, parsed)
    if absent:
        return "UnknownReference", [f"{k.kind.kind} {k.name!r} does not exist in namespace "
                                    f"{k.namespace!r}" for k in absent]
    broken = invalid(docs, parsed)
    if broken:
        return "InvalidReference", [f"{p.key.kind.kind} {p.key.name!r} is invalid: "
                                    + _excerpt("; ".join(p.problems)) for p in broken]
    doc = parsed.document
    if doc is not None and isinstance(doc.spec, ArchitectureSpec) and doc.spec.plugin:
        names = {ep.name for ep in entry_points(group=PLUGIN_GROUP)}
        if doc.spec.plugin not in names:
            return "UnknownPlugin", [f"spec.plugin: no architecture plugin {doc.spec.plugin!r} "
                                     f"is installed (entry point group {PLUGIN_GROUP})"]
    if doc is not None and isinstance(doc.spec, StrategySpec):
        archs = {}
        for ref in doc.spec.candidates:
            found = docs.find(kinds.ARCHITECTURE, doc.namespace, ref.architecture)
            if found is not None and found.document is not None:
                assert isinstance(found.document.spec, ArchitectureSpec)
                archs[ref.architecture] = found.document.spec
        config = strategy_config_problems(doc.spec, archs)
        if config:
            return config[0].reason, [p.message for p in config]
    return "Valid", []


def _excerpt(text: str, limit: int = 200) -> str:
    """A referent's own status has its problems in full; a referrer names the first."""
    return text if len(text) <= limit else text[:limit] + "..."


class ValidityReconciler:
    """Reconciles the passive kinds: writes their ``Valid`` condition."""

    def __init__(self, docs: Documents, status: StatusWriter, clock: Callable[[], float]) -> None:
        self._docs = docs
        self._status = status
        self._clock = clock

    def reconcile(self, key: ObjectKey) -> float | None:
        parsed = self._docs.get(key)
        current, _ = self._status.current(key)
        if parsed is None:
            if current is not None:
                self._status.delete(key)
            return None
        self._status.write(key, validity_status(self._docs, parsed, current, self._clock()))
        return None


def validity_status(docs: Documents, parsed: Parsed, current: Mapping[str, Any] | None,
                    now: float) -> dict[str, Any]:
    """The status of a passive kind: ``current`` with its ``Valid`` condition set."""
    reason, problems = problems_of(docs, parsed)
    conditions = with_stored_condition(list((current or {}).get("conditions") or []), "Valid",
                               "False" if problems else "True", reason,
                               summarize(problems) if problems else "document is valid", now)
    return {
        "observedGeneration": parsed.generation,
        "createdAt": (current or {}).get("createdAt", rfc3339(now)),
        "conditions": conditions,
    }
