"""Kubernetes-style Events, written best effort by a small background writer.

A reconcile hands an event to :meth:`EventRecorder.record`, which never blocks and never
raises: the event goes into a bounded queue, or, when the queue is full, is dropped and
counted (``fogstrat_events_dropped_total``). One thread writes them to
``<prefix>/events/<namespace>/<name>.<id>`` as JSON with Kubernetes' Event fields, each
bound to an etcd lease so that it expires (``ttl`` after it was last written, up to a
tenth more: one lease serves every event written within a tenth of the ttl).

Like Kubernetes' event correlator, an event equal to one written before (same object,
type, reason and message) is not written again as a new object: the earlier one gets
``count`` + 1 and a new ``lastTimestamp``. The writer remembers a bounded number of
events for that.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.api import kinds
from controller.metrics import Metrics
from controller.reconcile.times import rfc3339
from controller.runtime.informer import ObjectKey
from controller.store import Store, StoreError
from controller.store.keys import event_key

_log = logging.getLogger("fogstrat.events")

EventType = Literal["Normal", "Warning"]
COMPONENT = "fogstrat-controller"
DEFAULT_TTL = 3600
QUEUE_SIZE = 1000
REMEMBERED = 4096
"""Events the correlator remembers to count repeats of."""


@dataclass(frozen=True)
class Event:
    key: ObjectKey
    type: EventType
    reason: str
    message: str
    time: float


@dataclass
class _Written:
    """An event as last written: its object name, first time and count."""

    name: str
    first: float
    count: int = 1
    lease: int = 0


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
    _seen: OrderedDict[tuple[str, ...], _Written] = field(init=False,
                                                          default_factory=OrderedDict)
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
        k = ev.key
        corr = (k.kind.kind, k.namespace, k.name, ev.type, ev.reason, ev.message)
        lease = self._current_lease(ev.time)
        written = self._seen.get(corr)
        if written is None:
            written = _Written(f"{k.name}.{int(ev.time * 1e9):x}", ev.time)
        else:
            written.count += 1
        doc = to_json(ev, written, self.instance)
        self.store.put_leased(event_key(self.prefix, k.namespace, written.name),
                              json.dumps(doc, separators=(",", ":")).encode(), lease)
        written.lease = lease
        self._seen[corr] = written
        self._seen.move_to_end(corr)
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)

    def _current_lease(self, now: float) -> int:
        if now - self._lease.granted >= self.ttl / 10:
            self._lease = _Lease(self.store.grant_lease(self.ttl), now)
        return self._lease.id


def to_json(ev: Event, written: _Written, instance: str) -> dict[str, Any]:
    """The stored Event: Kubernetes' (core/v1) Event fields."""
    k = ev.key
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": written.name, "namespace": k.namespace},
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
