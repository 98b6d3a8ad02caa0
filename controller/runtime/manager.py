"""The controller's main loop: informer → work queue → workers → reconcilers.

Level-triggered, after controller-runtime: an item on the queue is only an object key; the
reconciler reads the world afresh. A reconciler returns "check again in N s" (or None) and
raises to ask for a retry with per-key exponential backoff. Only the leader reconciles;
when leadership is gained every object is queued, and a periodic resync queues everything
again so no lost event can leave an object behind.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from controller.api import kinds
from controller.health_server import Liveness
from controller.metrics import Metrics
from controller.runtime.denials import Denials
from controller.runtime.documents import Documents
from controller.runtime.informer import Change, Informer, ObjectKey
from controller.runtime.leader import LeaderElector
from controller.runtime.references import ReferenceIndex
from controller.runtime.workqueue import WorkQueue
from controller.store import Conflict, NotLeader, PermissionDenied, StoreUnavailable

_log = logging.getLogger(__name__)

MAX_QUEUED_CHANGES = 100_000
"""Ready keys beyond which a change waits for the workers before it is queued: the etcd
watch files changes on its own thread, so waiting there stops reading etcd (which keeps
the events), and no stream of fresh keys grows the queue without bound."""


class Reconciler(Protocol):
    def reconcile(self, key: ObjectKey) -> float | None:
        """Bring ``key`` one step closer to its desired state; seconds until the next check."""


class Manager:
    def __init__(
        self,
        *,
        informer: Informer,
        documents: Documents,
        elector: LeaderElector,
        metrics: Metrics,
        reconcilers: dict[str, Reconciler],
        workers: int = 4,
        resync: float = 300.0,
        liveness: Liveness | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        self.informer = informer
        self.documents = documents
        self.elector = elector
        self.metrics = metrics
        self.reconcilers = reconcilers
        self.queue: WorkQueue[ObjectKey] = WorkQueue(max_delay=max_backoff)
        self.references = ReferenceIndex()
        self.liveness = liveness or Liveness()
        self._workers = workers
        self._resync = resync
        self.max_queued_changes = MAX_QUEUED_CHANGES
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.denials = Denials(_log)

    # --- events ------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Informer callback: queue what changed and whatever depends on it."""
        if self.queue.ready >= self.max_queued_changes:
            self.queue.wait_for_room(self.max_queued_changes)
        if change.family == "status":
            # Our own writes come back here; only a status without its spec needs work
            # (an ActiveStrategy deleted while its architectures still run).
            if self.informer.spec(change.key) is None and change.value is not None:
                self.queue.add(change.key)
            return
        self.queue.add(change.key)
        for key in self.references.update(change.key, self._raw(change)):
            self.queue.add(key)
        self.metrics.set_workqueue_depth(len(self.queue))

    def _raw(self, change: Change) -> object | None:
        """The changed document as written, if it is a valid one (an invalid document
        names nothing until it is fixed, and its fix is a change of its own)."""
        if change.value is None:
            return None
        try:
            parsed = self.documents.get(change.key)
        except Exception:  # its own reconcile reports it; its referents still get theirs
            _log.debug("%s: unreadable, it names nothing", change.key, exc_info=True)
            return None
        return parsed.document.raw if parsed is not None and parsed.document else None

    def on_leadership(self, leading: bool) -> None:
        self.metrics.set_leader(leading)
        if leading:
            self.enqueue_all()

    def enqueue_all(self) -> None:
        keys = set(self.informer.keys()) | set(self.informer.keys(kinds.ACTIVE_STRATEGY,
                                                                   "status"))
        for key in keys:
            self.queue.add(key)
        self.metrics.set_workqueue_depth(len(self.queue))

    # --- readiness ---------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        if not self.informer.synced:
            reason = self.informer.last_error or "initial list not complete"
            return False, f"etcd watch not synced: {reason}"
        return True, "ok: etcd reachable and watches synced" + (
            "" if self.elector.is_leader else " (standby)")

    # --- running -----------------------------------------------------------------------

    def start(self) -> None:
        self.informer.start()
        self.elector.start()
        for i in range(self._workers):
            t = threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._resync_loop, name="resync", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, *, resign: bool = True) -> None:
        self._stop.set()
        self.queue.shutdown()
        for t in self._threads:
            t.join(timeout=30)
        self.elector.stop(resign=resign)
        self.informer.stop()

    def _resync_loop(self) -> None:
        while not self._stop.wait(self._resync):
            if self.elector.is_leader:
                self.enqueue_all()

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=1.0)
            self.liveness.beat()
            if key is None:
                continue
            try:
                self._process(key)
            finally:
                self.queue.done(key)
                self.metrics.set_workqueue_depth(len(self.queue))
                self.liveness.beat()

    def _process(self, key: ObjectKey) -> None:
        if not self.elector.is_leader:
            return  # the new leader re-queues everything; a standby acts on nothing
        reconciler = self.reconcilers.get(key.kind.kind) or self.reconcilers["*"]
        kind = key.kind.kind
        started = time.monotonic()
        try:
            again = reconciler.reconcile(key)
        except Conflict as exc:
            # Someone wrote since we read: not an error, just read again soon.
            _log.debug("%s: %s; retrying", key, exc)
            self.metrics.record_reconcile(kind, "requeue", time.monotonic() - started)
            self.queue.add_after(key, 0.05)
            return
        except NotLeader as exc:
            _log.warning("%s: %s; standing down", key, exc)
            self.metrics.record_reconcile(kind, "error", time.monotonic() - started)
            return
        except PermissionDenied as exc:
            delay = self.queue.add_rate_limited(key)
            self.metrics.inc_workqueue_retries()
            self.metrics.record_reconcile(kind, "error", time.monotonic() - started)
            self.denials.report(exc, f"{key}: retrying in {delay:.1f}s")
            return
        except StoreUnavailable as exc:
            delay = self.queue.add_rate_limited(key)
            self.metrics.inc_workqueue_retries()
            self.metrics.record_reconcile(kind, "error", time.monotonic() - started)
            _log.warning("%s: %s; retrying in %.1fs", key, exc, delay)
            return
        except Exception as exc:  # a reconciler bug must not kill the worker
            delay = self.queue.add_rate_limited(key)
            self.metrics.inc_workqueue_retries()
            self.metrics.record_reconcile(kind, "error", time.monotonic() - started)
            _log.exception("%s: reconcile failed (%s); retrying in %.1fs", key, exc, delay)
            return
        self.queue.forget(key)
        if again is not None:
            self.queue.add_after(key, again)
            self.metrics.record_reconcile(kind, "requeue", time.monotonic() - started)
        else:
            self.metrics.record_reconcile(kind, "success", time.monotonic() - started)
