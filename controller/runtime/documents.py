"""The informer's cache as typed documents, parsed once per revision.

Reconciles run often and documents change rarely, so validation (schema plus semantic
checks) happens once per (object, mod revision), not once per reconcile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from controller.api.documents import decode_value
from controller.api.kinds import Kind
from controller.api.models import Document
from controller.api.parse import parse_document
from controller.api.validation import InvalidDocument
from controller.runtime.informer import Informer, ObjectKey


@dataclass(frozen=True)
class Parsed:
    """A stored document: typed when valid, otherwise the problems a user must fix."""

    key: ObjectKey
    generation: int
    document: Document | None
    problems: tuple[str, ...] = ()
    revision: int = 0
    """The spec key's mod revision this was parsed at."""

    @property
    def valid(self) -> bool:
        return self.document is not None


def parse_value(key: ObjectKey, value: bytes, generation: int, revision: int = 0) -> Parsed:
    parsed = _parse(key, value, generation)
    return replace(parsed, revision=revision) if revision else parsed


def _parse(key: ObjectKey, value: bytes, generation: int) -> Parsed:
    try:
        raw = decode_value(value)
    except Exception as exc:  # any decoding failure is the user's document, not our crash
        return Parsed(key, generation, None, (f"cannot decode document: {exc}",))
    problems: list[str] = []
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    if isinstance(raw, dict) and raw.get("kind") != key.kind.kind:
        problems.append(f"kind: stored under {key.kind.plural} but says {raw.get('kind')!r}")
    if isinstance(meta, dict) and meta.get("name") not in (None, key.name):
        problems.append(f"metadata.name: {meta.get('name')!r} differs from its key {key.name!r}")
    if isinstance(meta, dict) and meta.get("namespace") not in (None, key.namespace):
        problems.append(f"metadata.namespace: {meta.get('namespace')!r} differs from its key "
                        f"{key.namespace!r}")
    if problems:
        return Parsed(key, generation, None, tuple(problems))
    if isinstance(meta, dict) and "namespace" not in meta:
        raw = {**raw, "metadata": {**meta, "namespace": key.namespace}}
    try:
        return Parsed(key, generation, parse_document(raw))
    except InvalidDocument as exc:
        return Parsed(key, generation, None, tuple(str(p) for p in exc.problems))


class Documents:
    def __init__(self, informer: Informer) -> None:
        self._informer = informer
        self._lock = threading.Lock()
        self._parsed: dict[ObjectKey, Parsed] = {}

    @property
    def version(self) -> int:
        """Changes whenever any spec document changes."""
        return self._informer.spec_version

    def get(self, key: ObjectKey) -> Parsed | None:
        cached = self._informer.spec(key)
        if cached is None:
            with self._lock:
                self._parsed.pop(key, None)
            return None
        with self._lock:
            hit = self._parsed.get(key)
        if hit is not None and hit.revision == cached.mod_revision:
            return hit
        parsed = parse_value(key, cached.value, cached.version, cached.mod_revision)
        with self._lock:
            self._parsed[key] = parsed
        return parsed

    def find(self, kind: Kind, namespace: str, name: str) -> Parsed | None:
        return self.get(ObjectKey(kind, namespace, name))

    def all(self, kind: Kind, namespace: str | None = None) -> list[Parsed]:
        out = []
        for key in self._informer.keys(kind):
            if namespace is None or key.namespace == namespace:
                parsed = self.get(key)
                if parsed is not None:
                    out.append(parsed)
        return out
