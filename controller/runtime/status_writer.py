"""Status writes: only when something changed, compare-and-swap, fenced on the leader key.

An idle controller writes nothing: the new status is compared with the cached one first.
The CAS is on the status key's mod revision as the informer last saw it (or as we last
wrote it), so two writers can never silently overwrite each other.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from controller.api.documents import DocumentSyntaxError, decode_json
from controller.reconcile.status import STARTUP_VOLATILE_ARCH_FIELDS, VOLATILE_ARCH_FIELDS
from controller.resources import Resources
from controller.runtime.informer import CachedValue, Informer, ObjectKey
from controller.store import Fence

_VOLATILE_JSON = frozenset(VOLATILE_ARCH_FIELDS.values())
_STARTUP_VOLATILE_JSON = _VOLATILE_JSON | frozenset(STARTUP_VOLATILE_ARCH_FIELDS.values())


def _canonical(status: Mapping[str, Any]) -> bytes:
    return json.dumps(status, sort_keys=True, separators=(",", ":")).encode()


def significant(status: Mapping[str, Any]) -> bytes:
    """The canonical form of ``status`` without its volatile probe fields (as
    ``StrategyStatus.same_but_volatile`` compares: a transition's target not yet started
    has more of them)."""
    archs = status.get("architectures")
    if isinstance(archs, Mapping):
        transition = status.get("transition")
        starting = transition.get("to") if isinstance(transition, Mapping) else None
        status = {**status, "architectures": {
            name: _without_volatile(a, name == starting) if isinstance(a, Mapping) else a
            for name, a in archs.items()}}
    return _canonical(status)


def _without_volatile(arch: Mapping[str, Any], starting: bool) -> dict[str, Any]:
    volatile = (_STARTUP_VOLATILE_JSON if starting and arch.get("firstPassTime") is None
                else _VOLATILE_JSON)
    return {k: v for k, v in arch.items() if k not in volatile}


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class StatusWriter:
    def __init__(self, resources: Resources, informer: Informer,
                 fence: Callable[[], Fence | None],
                 on_written: Callable[[ObjectKey, Mapping[str, Any] | None], None] | None = None
                 ) -> None:
        self._resources = resources
        self._informer = informer
        self._fence = fence
        self._on_written = on_written
        """Told of each status written (None: deleted): the informer does not report our
        own writes back, and the fog informers' owner index is built from them."""
        self.writes = 0
        self._lock = threading.Lock()
        self._written: dict[ObjectKey, tuple[int, bytes]] = {}
        """Per key, the mod revision and a digest of the ``significant`` form of the status
        we last wrote: whether the next one differs then needs no decoding of the stored
        value, which (checked against hostile input) cost more than the rest of a spec
        change's reconcile."""

    def current(self, key: ObjectKey) -> tuple[dict[str, Any] | None, int]:
        cached = self._informer.status(key)
        if cached is None:
            return None, 0
        try:
            value = decode_json(cached.value)
        except DocumentSyntaxError:  # not written by us: ours replaces it
            return None, cached.mod_revision
        return (value if isinstance(value, dict) else None), cached.mod_revision

    def revision(self, key: ObjectKey) -> int:
        """Mod revision of the stored (or just written) status; 0 when there is none."""
        cached = self._informer.status(key)
        return cached.mod_revision if cached is not None else 0

    def write(self, key: ObjectKey, status: Mapping[str, Any], *, changed: bool = False
              ) -> bool:
        """Write ``status`` unless it equals the stored one but for volatile fields.

        ``changed``: the caller knows it differs from the stored one beyond them, so the
        comparison is skipped and the digest the next write compares with is taken after
        the put, not before it (a spec change waits for this write)."""
        cached = self._informer.status(key)
        data = _canonical(status)
        if cached is not None and cached.value == data:
            return False
        new = None if changed else _digest(significant(status))
        if new is not None and cached is not None and self._stored_significant(
                key, cached) == new:
            return False
        revision = self._resources.put_status(
            key.kind, key.namespace, key.name, status,
            expect_revision=cached.mod_revision if cached else 0, fence=self._fence(),
            encoded=data)
        self._informer.note_status_written(key, data, revision)
        if new is None:
            new = _digest(significant(status))
        with self._lock:
            self._written[key] = (revision, new)
        self.writes += 1
        if self._on_written is not None:
            self._on_written(key, status)
        return True

    def _stored_significant(self, key: ObjectKey, cached: CachedValue) -> bytes | None:
        """The digest of the stored status's ``significant`` form: remembered if it is our
        own last write, else decoded (None: not a status document)."""
        with self._lock:
            mine = self._written.get(key)
        if mine is not None and mine[0] == cached.mod_revision:
            return mine[1]
        try:
            stored = decode_json(cached.value)
            return _digest(significant(stored)) if isinstance(stored, Mapping) else None
        except (DocumentSyntaxError, AttributeError):  # not a status written by us
            return None

    def delete(self, key: ObjectKey) -> None:
        self._resources.delete_status(key.kind, key.namespace, key.name, fence=self._fence())
        self._informer.note_status_written(key, None, self._informer.revision)
        with self._lock:
            self._written.pop(key, None)
        if self._on_written is not None:
            self._on_written(key, None)
