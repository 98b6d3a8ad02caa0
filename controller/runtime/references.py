"""Which documents a document needs, and which reconciles a change must wake up.

A Strategy needs its Architectures; an ActiveStrategy needs its Strategy, its Environment
and (through ``dataId``) ArchitectureData. When any of those changes, every ActiveStrategy
that uses it is requeued, so an edit anywhere rolls out (design §2, issue 5).
"""

from __future__ import annotations

from controller.api import kinds
from controller.api.models import ActiveStrategySpec, ArchitectureDataSpec, StrategySpec
from controller.runtime.documents import Documents, Parsed
from controller.runtime.informer import ObjectKey


def needs(parsed: Parsed) -> list[ObjectKey]:
    """The objects a valid document refers to by name (in its own namespace)."""
    doc = parsed.document
    if doc is None:
        return []
    ns = doc.namespace
    spec = doc.spec
    if isinstance(spec, StrategySpec):
        return [ObjectKey(kinds.ARCHITECTURE, ns, ref.architecture) for ref in spec.candidates]
    if isinstance(spec, ArchitectureDataSpec):
        return [ObjectKey(kinds.ARCHITECTURE, ns, spec.architecture)]
    if isinstance(spec, ActiveStrategySpec):
        return [ObjectKey(kinds.STRATEGY, ns, spec.strategy),
                ObjectKey(kinds.ENVIRONMENT, ns, spec.environment)]
    return []


def missing(docs: Documents, parsed: Parsed) -> list[ObjectKey]:
    """Referenced objects that do not exist."""
    return [key for key in needs(parsed) if docs.get(key) is None]


def _strategy_uses(parsed: Parsed, architecture: str) -> bool:
    spec = parsed.document.spec if parsed.document else None
    return isinstance(spec, StrategySpec) and any(
        ref.architecture == architecture for ref in spec.candidates)


def dependents(docs: Documents, key: ObjectKey) -> set[ObjectKey]:
    """Objects to reconcile again because ``key`` changed (not including ``key`` itself)."""
    ns = key.namespace
    out: set[ObjectKey] = set()
    if key.kind == kinds.ACTIVE_STRATEGY:
        return out
    actives = docs.all(kinds.ACTIVE_STRATEGY, ns)
    strategies: set[str] = set()
    if key.kind == kinds.STRATEGY:
        strategies.add(key.name)
    elif key.kind == kinds.ARCHITECTURE:
        for st in docs.all(kinds.STRATEGY, ns):
            if _strategy_uses(st, key.name):
                strategies.add(st.key.name)
                out.add(st.key)
        for ad in docs.all(kinds.ARCHITECTURE_DATA, ns):
            spec = ad.document.spec if ad.document else None
            if isinstance(spec, ArchitectureDataSpec) and spec.architecture == key.name:
                out.add(ad.key)
    for active in actives:
        spec = active.document.spec if active.document else None
        if not isinstance(spec, ActiveStrategySpec):
            continue
        if (spec.strategy in strategies
                or (key.kind == kinds.ENVIRONMENT and spec.environment == key.name)
                or key.kind == kinds.ARCHITECTURE_DATA):
            out.add(active.key)
    return out
