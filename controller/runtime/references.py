"""Which documents a document names, and which reconciles a change must wake up.

A Strategy names its Architectures; an ArchitectureData names its Architecture; an
ActiveStrategy names its Strategy, its Environment and (through ``dataId``) the
ArchitectureData with that id. When a document appears, changes or goes, everything that
names it is reconciled again -- and what names those, transitively: an Architecture edit
reaches the Strategies that list it and the ActiveStrategies that run those
(see ``docs/documents.md``).

The :class:`ReferenceIndex` is kept from each document's own changes, so finding who
names a document is a lookup, not a scan of the namespace, and one unreadable document
cannot stop the others' references from being followed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.api import kinds
from controller.api.kinds import Kind
from controller.runtime.documents import Documents, Parsed
from controller.runtime.informer import ObjectKey


@dataclass(frozen=True)
class DataRef:
    """ArchitectureData as an ActiveStrategy names it: by ``dataId``, not by name."""

    namespace: str
    data_id: str


Ref = ObjectKey | DataRef


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _spec(raw: Any) -> Mapping[str, Any]:
    spec = raw.get("spec") if isinstance(raw, Mapping) else None
    return spec if isinstance(spec, Mapping) else {}


def _candidates(spec: Mapping[str, Any]) -> list[Any]:
    replacements = spec.get("replacements")
    refs = [spec.get("main"), *(replacements if isinstance(replacements, list) else [])]
    return [r.get("architecture") for r in refs if isinstance(r, Mapping)]


def refers_to(kind: Kind, namespace: str, raw: Any) -> frozenset[Ref]:
    """What a raw document names (in its own namespace); any shape reads without error,
    so the CLI can ask it of documents the controller would reject."""
    spec = _spec(raw)
    names: list[tuple[Kind, Any]] = []
    out: set[Ref] = set()
    if kind == kinds.STRATEGY:
        names = [(kinds.ARCHITECTURE, a) for a in _candidates(spec)]
    elif kind == kinds.ARCHITECTURE_DATA:
        names = [(kinds.ARCHITECTURE, spec.get("architecture"))]
    elif kind == kinds.ACTIVE_STRATEGY:
        names = [(kinds.STRATEGY, spec.get("strategy")),
                 (kinds.ENVIRONMENT, spec.get("environment"))]
        data_id = _name(spec.get("dataId"))
        if data_id is not None:
            out.add(DataRef(namespace, data_id))
    for target, value in names:
        name = _name(value)
        if name is not None:
            out.add(ObjectKey(target, namespace, name))
    return frozenset(out)


def known_as(key: ObjectKey, raw: Any) -> frozenset[Ref]:
    """The references that resolve to this document: its key, and an ArchitectureData's
    ``dataId``."""
    if key.kind == kinds.ARCHITECTURE_DATA:
        data_id = _name(_spec(raw).get("dataId"))
        if data_id is not None:
            return frozenset({key, DataRef(key.namespace, data_id)})
    return frozenset({key})


def needs(parsed: Parsed) -> list[ObjectKey]:
    """The documents a valid document names by name (not the ArchitectureData it selects
    by ``dataId``: having none is no error)."""
    doc = parsed.document
    if doc is None:
        return []
    found = refers_to(parsed.key.kind, parsed.key.namespace, doc.raw)
    return sorted((r for r in found if isinstance(r, ObjectKey)), key=str)


def missing(docs: Documents, parsed: Parsed) -> list[ObjectKey]:
    """Named documents that do not exist."""
    return [key for key in needs(parsed) if docs.get(key) is None]


def invalid(docs: Documents, parsed: Parsed) -> list[Parsed]:
    """Named documents that exist but are not valid."""
    found = (docs.get(key) for key in needs(parsed))
    return [p for p in found if p is not None and not p.valid]


class ReferenceIndex:
    """Who names what, kept up to date from each document's changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[ObjectKey, frozenset[Ref]] = {}
        self._known_as: dict[ObjectKey, frozenset[Ref]] = {}
        self._named_by: dict[Ref, set[ObjectKey]] = {}

    def __len__(self) -> int:
        """Documents that name something (what the index holds per key)."""
        with self._lock:
            return len(self._names)

    def update(self, key: ObjectKey, raw: Any | None) -> set[ObjectKey]:
        """Record ``key``'s document (``raw``; None once deleted, or when unreadable: it
        names nothing then); return every document to reconcile again because of it, not
        including ``key`` itself."""
        with self._lock:
            before = self._known_as.pop(key, frozenset({key}))
            after = frozenset({key}) if raw is None else known_as(key, raw)
            if after != frozenset({key}):
                self._known_as[key] = after
            self._set_names(key, frozenset() if raw is None else refers_to(
                key.kind, key.namespace, raw))
            return self._dependents(before | after) - {key}

    def _set_names(self, key: ObjectKey, names: frozenset[Ref]) -> None:
        old = self._names.pop(key, frozenset())
        for ref in old - names:
            holders = self._named_by.get(ref)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self._named_by[ref]
        for ref in names - old:
            self._named_by.setdefault(ref, set()).add(key)
        if names:
            self._names[key] = names

    def _dependents(self, refs: Iterable[Ref]) -> set[ObjectKey]:
        out: set[ObjectKey] = set()
        todo = list(refs)
        while todo:
            for holder in self._named_by.get(todo.pop(), ()):
                if holder not in out:
                    out.add(holder)
                    todo.extend(self._known_as.get(holder, (holder,)))
        return out
