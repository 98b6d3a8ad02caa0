"""Kubernetes-style Events, written best effort by a small background writer.

A reconcile hands an event to :meth:`EventRecorder.record`, which never blocks and never
raises: the event goes into a bounded queue, or, when the queue is full, is dropped and
counted (``fogstrat_events_dropped_total``). One thread writes them to
``<prefix>/events/<namespace>/<name>.<id>`` as JSON with Kubernetes' Event fields, each
bound to an etcd lease so that it expires (``ttl`` after it was last written, up to a
tenth more: one lease serves every event written within a tenth of the ttl).

Like Kubernetes' event correlator, an event equal to one written before (same object,
type, reason and message) is not written again as a new object: the earlier one gets
``count`` + 1 and a new ``lastTimestamp``. So a restarted
controller counts on from the stored Event rather than starting a new one. What was
written before is read from etcd once per namespace and process (the first time an event
of that namespace is written); the writer remembers a bounded number of events for that,
the most recently written.

An event that reports one occurrence of something stored elsewhere (a history entry) names
it (``occurrence``); the stored Event keeps the last occurrence it counted, so writing the
same occurrence again -- a successor reporting what its predecessor died before marking as
reported -- changes nothing. Those events are written at once (:meth:`write_now`), so the
caller knows when the report is stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.api import kinds
from controller.api.documents import DocumentSyntaxError, decode_json
from controller.metrics import Metrics
from controller.reconcile.times import parse_time, rfc3339
from controller.runtime.informer import ObjectKey
from controller.store import Store, StoreError
from controller.store.keys import event_key, event_prefix

_log = logging.getLogger("fogstrat.events")

EventType = Literal["Normal", "Warning"]
COMPONENT = "fogstrat-controller"
DEFAULT_TTL = 3600
QUEUE_SIZE = 1000
REMEMBERED = 4096
"""Events the correlator remembers to count repeats of."""
OCCURRENCE = "fogstrat.io/occurrence"
"""The annotation of an Event that names the last occurrence it counted."""


@dataclass(frozen=True)
class Event:
    key: ObjectKey
    type: EventType
    reason: str
    message: str
    time: float
    occurrence: str = ""
    """What the event reports one occurrence of (empty: nothing identified)."""


Correlation = tuple[str, ...]


@dataclass
class _Written:
    """An event as last written: its object name, first time, count and last occurrence."""

    name: str
    first: float
    count: int = 1
    lease: int = 0
    occurrence: str = ""


@dataclass
class _Lease:
    id: int = 0
    granted: float = float("-inf")


@dataclass
class EventRecorder:
    store: Store
    prefix: str
    metrics: Metrics
    clock: Callable[[], float]
    ttl: int = DEFAULT_TTL
    instance: str = ""
    queue_size: int = QUEUE_SIZE
    _queue: queue.Queue[Event | None] = field(init=False)
    _seen: OrderedDict[Correlation, _Written] = field(init=False, default_factory=OrderedDict)
    _read: set[str] = field(init=False, default_factory=set)
    """Namespaces whose stored events were read into ``_seen``."""
    _writing: threading.Lock = field(init=False, default_factory=threading.Lock)
    _lease: _Lease = field(init=False, default_factory=_Lease)
    _thread: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(self.queue_size)

    def start(self) -> EventRecorder:
        self._thread = threading.Thread(target=self._run, name="fogstrat-events", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then stop."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def record(self, key: ObjectKey, type_: EventType, reason: str, message: str) -> None:
        """Queue an event; never blocks, never raises (a full queue drops and counts it)."""
        try:
            self._queue.put_nowait(Event(key, type_, reason, message, self.clock()))
        except queue.Full:
            self.metrics.record_event_dropped()

    def write_now(self, key: ObjectKey, type_: EventType, reason: str, message: str,
                  occurrence: str) -> bool:
        """Write the event reporting ``occurrence`` now; False when etcd refused it (counted
        as dropped: the caller tries again later). Writing it again changes nothing."""
        event = Event(key, type_, reason, message, self.clock(), occurrence)
        try:
            self._write(event)
        except StoreError as exc:
            self.metrics.record_event_dropped()
            _log.debug("event %s/%s %s not written: %s", key.namespace, key.name, reason, exc)
            return False
        return True

    # --- the writer ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._write(event)
            except StoreError as exc:  # best effort: an event is never worth a retry loop
                self.metrics.record_event_dropped()
                _log.debug("event %s/%s %s dropped: %s", event.key.namespace, event.key.name,
                           event.reason, exc)

    def _write(self, ev: Event) -> None:
        with self._writing:
            k = ev.key
            self._read_stored(k.namespace)
            corr = correlation(k.kind.kind, k.namespace, k.name, ev.type, ev.reason,
                               ev.message)
            known = self._seen.get(corr)
            if known is not None and ev.occurrence and known.occurrence == ev.occurrence:
                return  # this very occurrence is already stored
            lease = self._current_lease(ev.time)
            written = (_Written(f"{k.name}.{int(ev.time * 1e9):x}", ev.time)
                       if known is None else
                       _Written(known.name, known.first, known.count + 1, known.lease,
                                known.occurrence))
            written.occurrence = ev.occurrence or written.occurrence
            doc = to_json(ev, written, self.instance)
            self.store.put_leased(event_key(self.prefix, k.namespace, written.name),
                                  json.dumps(doc, separators=(",", ":")).encode(), lease)
            written.lease = lease
            self._remember(corr, written)

    def _remember(self, corr: Correlation, written: _Written) -> None:
        self._seen[corr] = written
        self._seen.move_to_end(corr)
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)

    def _read_stored(self, namespace: str) -> None:
        """Once per namespace: the events etcd holds, the newest ``REMEMBERED`` of them, so
        a repeat counts on from the stored Event, whoever wrote it."""
        if namespace in self._read:
            return
        records, _ = self.store.list(event_prefix(self.prefix, namespace))
        found = sorted((w for w in (stored_written(r.value) for r in records) if w is not None),
                       key=lambda w: w.last)
        for w in reversed(found):  # newest first, each before the ones after it
            if len(self._seen) >= REMEMBERED:
                break
            if w.corr not in self._seen:  # what this process wrote itself is newer
                self._seen[w.corr] = w.written
                self._seen.move_to_end(w.corr, last=False)
        if len(self._read) >= REMEMBERED:
            self._read.clear()  # reading one again only re-learns what etcd holds
        self._read.add(namespace)

    def _current_lease(self, now: float) -> int:
        if now - self._lease.granted >= self.ttl / 10:
            self._lease = _Lease(self.store.grant_lease(self.ttl), now)
        return self._lease.id


def correlation(kind: str, namespace: str, name: str, type_: str, reason: str,
                message: str) -> Correlation:
    """What makes two events the same event (counted as one)."""
    return (kind, namespace, name, type_, reason, message)


@dataclass(frozen=True)
class _Stored:
    corr: Correlation
    written: _Written
    last: float


def stored_written(value: bytes) -> _Stored | None:
    """A stored Event as the correlator remembers it; None when the value is not an Event
    this writer could have written (anything odd is simply not counted on)."""
    try:
        doc = decode_json(value)
    except DocumentSyntaxError:
        return None
    if not isinstance(doc, Mapping):
        return None
    obj, meta = doc.get("involvedObject"), doc.get("metadata")
    if not isinstance(obj, Mapping) or not isinstance(meta, Mapping):
        return None
    texts = (obj.get("kind"), obj.get("namespace"), obj.get("name"), doc.get("type"),
             doc.get("reason"), doc.get("message"), meta.get("name"))
    count, first = doc.get("count"), parse_time(doc.get("firstTimestamp"))
    last = parse_time(doc.get("lastTimestamp"))
    if not all(isinstance(t, str) for t in texts) or first is None or last is None or not (
            isinstance(count, int) and not isinstance(count, bool) and count > 0):
        return None
    annotations = meta.get("annotations")
    occurrence = annotations.get(OCCURRENCE) if isinstance(annotations, Mapping) else None
    kind, ns, name, type_, reason, message, event_name = (str(t) for t in texts)
    return _Stored(correlation(kind, ns, name, type_, reason, message),
                   _Written(event_name, first, count,
                            occurrence=occurrence if isinstance(occurrence, str) else ""),
                   last)


def to_json(ev: Event, written: _Written, instance: str) -> dict[str, Any]:
    """The stored Event: Kubernetes' (core/v1) Event fields."""
    k = ev.key
    metadata: dict[str, Any] = {"name": written.name, "namespace": k.namespace}
    if written.occurrence:
        metadata["annotations"] = {OCCURRENCE: written.occurrence}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": {"apiVersion": kinds.API_VERSION,
                           "kind": k.kind.kind, "namespace": k.namespace, "name": k.name},
        "type": ev.type,
        "reason": ev.reason,
        "message": ev.message,
        "count": written.count,
        "firstTimestamp": rfc3339(written.first),
        "lastTimestamp": rfc3339(ev.time),
        "source": {"component": COMPONENT, "host": instance},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
    }
