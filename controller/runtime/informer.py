"""A list-then-watch cache of every document and status under the prefix.

One watch on ``<prefix>/`` feeds an in-memory cache (specs and status, with their mod
revisions), so reconciles read from memory instead of etcd. The watch resumes by itself
after a disconnect; when the history it needs was compacted, or etcd was unreachable for
long enough that the watch gave up, the informer re-lists and reports every difference as
an event, so consumers never miss a change. ``synced`` is False until the first list
completes and whenever etcd is unreachable.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from controller.api.kinds import KINDS, Kind, by_plural
from controller.api.limits import excerpt, limits
from controller.runtime.denials import Denials
from controller.store import Compacted, PermissionDenied, Store, StoreError, WatchEvent
from controller.store.keys import key_problem, parse_key

_log = logging.getLogger(__name__)

KeyFamily = Literal["spec", "status"]


@dataclass(frozen=True)
class ObjectKey:
    """Which object an event or a work item is about."""

    kind: Kind
    namespace: str
    name: str

    def __post_init__(self) -> None:
        # Keys are hashed on every cache read and queue operation; the generated hash
        # would rehash the nested Kind each time, so the hash is computed once here.
        object.__setattr__(self, "_hash", hash((self.kind.kind, self.namespace, self.name)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[no-any-return,attr-defined]

    def __str__(self) -> str:
        return f"{self.kind.singular}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Refusal:
    """Why a stored spec is not a usable document: all that is kept of a refused value."""

    reason: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class CachedValue:
    value: bytes
    mod_revision: int
    version: int = 0
    """etcd's per-key version: a spec's generation."""
    dropped_bytes: int = 0
    """The size of a value too large to be a document, which is not kept (``value`` is
    empty): holding it would let a few oversized keys pin the controller's memory."""
    refusal: Refusal | None = None
    """Set (and ``value`` empty) once the value was parsed and refused: nothing reads a
    refused value again, and a churn of large invalid documents must cost a bounded
    record each, not their bytes."""


def cached_value(value: bytes, mod_revision: int, version: int = 0) -> CachedValue:
    """What the cache keeps of a stored value: the value, or only the size of one above
    the document size limit."""
    if len(value) > limits().max_document_bytes:
        return CachedValue(b"", mod_revision, version, len(value))
    return CachedValue(value, mod_revision, version)


@dataclass(frozen=True)
class Change:
    """A spec or status appeared, changed or disappeared (``value`` None)."""

    family: KeyFamily
    key: ObjectKey
    value: CachedValue | None


def parse(prefix: str, key: str) -> tuple[KeyFamily, ObjectKey] | None:
    """Map an etcd key to (family, object); None for keys that are not documents."""
    parsed = parse_key(prefix, key)
    if parsed is None:
        return None
    is_status, plural, namespace, name = parsed
    try:
        kind = by_plural(plural)
    except ValueError:
        return None
    return ("status" if is_status else "spec"), ObjectKey(kind, namespace, name)


def malformed(prefix: str, key: str) -> str | None:
    """Why a key under ``prefix`` is neither a document, a status nor the leader key."""
    problem = key_problem(prefix, key)
    if problem is not None:
        return problem
    parsed = parse_key(prefix, key)
    if parsed is not None and parse(prefix, key) is None:
        known = ", ".join(k.plural for k in KINDS)
        return f"unknown kind {excerpt(parsed[1], 80)} (known: {known})"
    return None


class MalformedKeys:
    """Warns once per malformed key and revision, however often the key is seen again
    (re-lists after a compaction or a reconnect); forgets deleted keys, and keeps at
    most ``size`` keys, by hash, so no key churn can grow it."""

    def __init__(self, prefix: str, size: int = 10_000) -> None:
        self._prefix = prefix
        self._size = size
        self._warned: OrderedDict[int, int] = OrderedDict()

    def seen(self, key: str, revision: int) -> None:
        problem = malformed(self._prefix, key)
        if problem is None:
            return
        digest = hash(key)
        if self._warned.get(digest) != revision:
            _log.warning("ignoring key %s (revision %d): %s", excerpt(key, 200), revision,
                         problem)
        self._warned[digest] = revision
        self._warned.move_to_end(digest)
        while len(self._warned) > self._size:
            self._warned.popitem(last=False)

    def deleted(self, key: str) -> None:
        self._warned.pop(hash(key), None)

    def relisted(self, present: list[tuple[str, int]]) -> None:
        """After a list: warn about the malformed keys among ``present`` not yet warned
        about at their revision, forget the others."""
        before, self._warned = self._warned, OrderedDict()
        for key, revision in present:
            if before.get(hash(key)) == revision:
                self._warned[hash(key)] = revision
        for key, revision in present:
            self.seen(key, revision)


class Informer:
    def __init__(self, store: Store, prefix: str, on_change: Callable[[Change], None], *,
                 retry_cap: float = 10.0,
                 on_contact: Callable[[], None] | None = None) -> None:
        self._store = store
        self._prefix = prefix
        self._watch_prefix = prefix.rstrip("/") + "/"
        self._on_change = on_change
        self._on_contact = on_contact or (lambda: None)
        self._retry_cap = retry_cap
        self._lock = threading.Lock()
        self._specs: dict[ObjectKey, CachedValue] = {}
        self._status: dict[ObjectKey, CachedValue] = {}
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.revision = 0
        self.spec_version = 0
        """Bumped on every change to a spec document: whatever was resolved from specs at
        an unchanged version is still current."""
        self.last_error: str | None = None
        self._malformed = MalformedKeys(prefix)
        self._denials = Denials(_log)

    # --- reading the cache -------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def spec(self, key: ObjectKey) -> CachedValue | None:
        with self._lock:
            return self._specs.get(key)

    def status(self, key: ObjectKey) -> CachedValue | None:
        with self._lock:
            return self._status.get(key)

    def keys(self, kind: Kind | None = None, family: KeyFamily = "spec") -> list[ObjectKey]:
        with self._lock:
            source = self._specs if family == "spec" else self._status
            return [k for k in source if kind is None or k.kind == kind]

    def refuse(self, key: ObjectKey, mod_revision: int, refusal: Refusal) -> bool:
        """Keep only ``refusal`` of the spec at ``mod_revision`` (a later one is left as
        it is); whether it was dropped."""
        with self._lock:
            current = self._specs.get(key)
            if current is None or current.mod_revision != mod_revision:
                return False
            self._specs[key] = CachedValue(b"", mod_revision, current.version,
                                           current.dropped_bytes, refusal)
            return True

    def held_bytes(self) -> int:
        """The bytes of stored values the cache holds (a figure for tests and the bench)."""
        with self._lock:
            return sum(len(v.value) for table in (self._specs, self._status)
                       for v in table.values())

    def note_status_written(self, key: ObjectKey, value: bytes | None, revision: int) -> None:
        """Record our own status write at once, so the next reconcile's CAS is not stale."""
        with self._lock:
            current = self._status.get(key)
            if current is not None and current.mod_revision > revision:
                return
            if value is None:
                self._status.pop(key, None)
            else:
                self._status[key] = CachedValue(value, revision)

    # --- running -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="informer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                revision = self._relist()
                delay = 0.1
                self._watch_from(revision + 1)
            except StoreError as exc:
                self._synced.clear()
                self.last_error = str(exc)
                if isinstance(exc, PermissionDenied):
                    self._denials.report(exc, f"listing; retrying in {delay:.1f}s")
                else:
                    _log.warning("etcd watch interrupted, retrying in %.1fs: %s", delay, exc)
                self._stop.wait(delay)
                delay = min(self._retry_cap, delay * 2)

    def _relist(self) -> int:
        records, revision = self._store.list(self._watch_prefix)
        specs: dict[ObjectKey, CachedValue] = {}
        status: dict[ObjectKey, CachedValue] = {}
        skipped: list[tuple[str, int]] = []
        for rec in records:
            parsed = parse(self._prefix, rec.key)
            if parsed is None:
                skipped.append((rec.key, rec.mod_revision))
                continue
            family, key = parsed
            (specs if family == "spec" else status)[key] = cached_value(
                rec.value, rec.mod_revision, rec.version)
        self._malformed.relisted(skipped)
        changes: list[Change] = []
        with self._lock:
            for key, old_spec in self._specs.items():
                if old_spec.refusal is not None and key in specs and \
                        specs[key].mod_revision == old_spec.mod_revision:
                    specs[key] = old_spec  # the same value, already refused
            families: tuple[tuple[KeyFamily, dict[ObjectKey, CachedValue],
                                  dict[ObjectKey, CachedValue]], ...] = (
                ("spec", self._specs, specs), ("status", self._status, status))
            for family, old, new in families:
                for key in old.keys() | new.keys():
                    if old.get(key) != new.get(key):
                        changes.append(Change(family, key, new.get(key)))
            self._specs, self._status = specs, status
            self.revision = revision
            if any(c.family == "spec" for c in changes):
                self.spec_version += 1
        self.last_error = None
        self._synced.set()
        self._on_contact()
        for change in changes:
            self._emit(change)
        return revision

    def _watch_from(self, start: int) -> None:
        # Events are applied on the watch's own thread as they arrive: handed over to this
        # one, each change would wait for it to be scheduled before its key is queued.
        # This thread keeps the watch's health (synced, contact) and re-lists when it ends.
        watch = self._store.watch(self._watch_prefix, start, deliver=self._delivered)
        try:
            while not self._stop.is_set():
                try:
                    event = watch.get(timeout=0.5)
                except Compacted as exc:
                    _log.info("watch history compacted (%s); re-listing", exc)
                    return
                if event is not None:  # a store that does not deliver
                    self._delivered(event)
                elif watch.closed:
                    return
                elif watch.connected:
                    # gRPC keepalive pings an idle watch, so connected means reachable.
                    self._synced.set()
                    self.last_error = None
                    self._on_contact()
                else:
                    self._synced.clear()
                    self.last_error = "watch disconnected from etcd, reconnecting"
        finally:
            watch.close()

    def _delivered(self, event: WatchEvent) -> None:
        self._synced.set()
        self._on_contact()
        self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        parsed = parse(self._prefix, event.key)
        with self._lock:
            self.revision = max(self.revision, event.mod_revision)
        if parsed is None:
            if event.type == "DELETE":
                self._malformed.deleted(event.key)
            else:
                self._malformed.seen(event.key, event.mod_revision)
            return
        family, key = parsed
        value = None if event.type == "DELETE" else cached_value(
            event.value, event.mod_revision, event.version)
        with self._lock:
            table = self._specs if family == "spec" else self._status
            current = table.get(key)
            if (current is not None and value is not None
                    and current.mod_revision >= value.mod_revision):
                return  # already known (our own write, noted early)
            if value is None:
                if current is not None and current.mod_revision > event.mod_revision:
                    return
                table.pop(key, None)
            else:
                table[key] = value
            if family == "spec":
                self.spec_version += 1
        self._emit(Change(family, key, value))

    def _emit(self, change: Change) -> None:
        try:
            self._on_change(change)
        except Exception:  # a broken handler must not stop the watch
            _log.exception("change handler failed for %s", change.key)
