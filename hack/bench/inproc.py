"""The controller wired up inside the benchmark process, with hooks instead of log parsing.

Wiring mirrors ``controller.runtime.main.run_controller`` (fog informers included; minus
signals and the HTTP server; with its garbage-collector settings, whose absence put
20-40 ms collections into failover trials). Two instance attributes are wrapped, no
controller code is changed:

* ``Manager._process`` records when each ActiveStrategy's reconcile starts and which spec
  revision it sees (for event latency);
* ``Metrics.record_failover`` records each failover's own duration (detection, i.e. the
  transition's ``startedAt``, to the replacement serving).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from controller.health_server import Liveness
from controller.metrics import Metrics
from controller.resources import Resources
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.documents import Documents
from controller.runtime.fog_informer import FogInformers, OwnerIndex
from controller.runtime.fog_wakes import Wakes
from controller.runtime.fogs import Fogs
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.leader import LeaderElector
from controller.runtime.main import GC_THRESHOLDS
from controller.runtime.manager import Manager
from controller.runtime.status_writer import StatusWriter
from controller.runtime.validity import ValidityReconciler
from controller.store import connect
from controller.store.keys import leader_key


@dataclass(frozen=True)
class ReconcileStart:
    at: float  # time.monotonic()
    name: str
    spec_revision: int


@dataclass(frozen=True)
class FailoverEvent:
    at: float  # time.monotonic() when recorded (just after the status write)
    name: str
    from_: str
    to: str
    reason: str
    duration: float  # the controller's own: transition startedAt -> replacement serving


@dataclass
class Hooks:
    starts: list[ReconcileStart] = field(default_factory=list)
    failovers: list[FailoverEvent] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)  # seconds per ActiveStrategy reconcile
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, pred: Callable[[], Any], timeout: float) -> Any:
        with self.cond:
            return self.cond.wait_for(pred, timeout)


class InProcessController:
    def __init__(self, endpoint: str, prefix: str, log_file: Path, *, workers: int = 4,
                 resync: float = 300.0) -> None:
        self.hooks = Hooks()
        self._log_handler = logging.FileHandler(log_file)
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(self._log_handler)
        root.setLevel(logging.INFO)
        self.store = connect(endpoint)
        self.metrics = Metrics()
        resources = Resources(self.store, prefix)
        ref: list[Manager] = []
        owners = OwnerIndex()
        wakes = Wakes(lambda key: ref[0].queue.add(key))
        self.fog_informers = FogInformers(owners, wakes.wake)

        self.informer = Informer(self.store, prefix, lambda change: ref[0].on_change(change))
        self.elector = LeaderElector(self.store, leader_key(prefix), "bench-inproc", 5,
                                     enabled=True,
                                     on_change=lambda leading: ref[0].on_leadership(leading))
        docs = Documents(self.informer)
        status = StatusWriter(resources, self.informer, lambda: self.elector.fence,
                              owners.on_status)
        self.active = ActiveStrategyReconciler(docs=docs, status=status,
                                               metrics=self.metrics,
                                               is_leader=lambda: self.elector.is_leader,
                                               clock=time.time, woken=wakes.take,
                                               on_stored=owners.on_status,
                                               fogs=Fogs(on_client=self.fog_informers.watch))
        self.manager = Manager(
            informer=self.informer, documents=docs, elector=self.elector,
            metrics=self.metrics,
            reconcilers={"ActiveStrategy": self.active,
                         "*": ValidityReconciler(docs, status, time.time)},
            workers=workers, resync=resync, liveness=Liveness(window=60.0))
        ref.append(self.manager)
        self._instrument()

    def _instrument(self) -> None:
        hooks, informer = self.hooks, self.informer
        process = self.manager._process

        def timed_process(key: ObjectKey) -> None:
            if key.kind.kind == "ActiveStrategy":
                cached = informer.spec(key)
                start = ReconcileStart(time.monotonic(), key.name,
                                       cached.mod_revision if cached else 0)
                with hooks.cond:
                    hooks.starts.append(start)
                    hooks.cond.notify_all()
                try:
                    process(key)
                finally:
                    hooks.durations.append(time.monotonic() - start.at)
            else:
                process(key)

        record_failover = self.metrics.record_failover

        def failover(ns: str, strategy: str, frm: str, to: str, reason: str,
                     duration: float | None = None) -> None:
            record_failover(ns, strategy, frm, to, reason, duration)
            event = FailoverEvent(time.monotonic(), strategy, frm, to, reason,
                                  float(duration or 0.0))
            with hooks.cond:
                hooks.failovers.append(event)
                hooks.cond.notify_all()

        self.manager._process = timed_process  # type: ignore[method-assign]
        self.metrics.record_failover = failover  # type: ignore[method-assign,assignment]

    def __enter__(self) -> Self:
        self._gc = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)  # as ``fogstrat controller`` runs
        self.manager.start()
        if not self.informer.wait_synced(15):
            raise RuntimeError("in-process controller: informer did not sync")
        gc.freeze()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.fog_informers.stop()
            self.manager.stop(resign=True)
            self.active.close()
            self.store.close()
        finally:
            gc.unfreeze()
            gc.set_threshold(*self._gc)
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
