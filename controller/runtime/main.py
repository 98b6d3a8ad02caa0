"""``fogstrat controller``: wire the store, informer, leader election, reconcilers and
the health/metrics server together, and run until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

from controller import webconfig
from controller.api.limits import limits
from controller.health_server import HealthServer, Liveness
from controller.metrics import Metrics
from controller.resources import Resources
from controller.runtime import logs
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.contact import EtcdContact, both
from controller.runtime.documents import Documents
from controller.runtime.endpoints import EndpointPublisher
from controller.runtime.environments import EnvironmentReconciler
from controller.runtime.events import EventRecorder
from controller.runtime.fog_informer import FogInformers, OwnerIndex
from controller.runtime.fog_wakes import Wakes
from controller.runtime.fogs import Fogs
from controller.runtime.informer import Informer
from controller.runtime.leader import LeaderElector
from controller.runtime.manager import Manager
from controller.runtime.status_writer import StatusWriter
from controller.runtime.validity import ValidityReconciler
from controller.store import Store, connect
from controller.store.keys import leader_key
from controller.store.secrets import etcd_password
from controller.webconfig import WebConfig

_log = logging.getLogger("fogstrat.controller")

GC_THRESHOLDS = (20_000, 20, 50)
"""The cyclic collector's generation thresholds (CPython's: 700, 10, 10). A controller's
heap is mostly acyclic per-strategy state that lives as long as the process; with the
defaults the collector re-traverses it again and again while a restart builds it, and
finds nothing to free."""


def _tune_gc(informer: Informer) -> None:
    """Collect less often, and move what the first list built (modules, schemas, the
    cached documents) out of the collector's sight once it is built."""
    gc.set_threshold(*GC_THRESHOLDS)

    def freeze_when_synced() -> None:
        if informer.wait_synced(timeout=300):
            gc.freeze()

    threading.Thread(target=freeze_when_synced, name="gc-freeze", daemon=True).start()


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def _tune_malloc() -> None:
    """Keep the heap from creeping under a churn of large documents.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
    after the first few documents of hundreds of KiB, every later one is carved from an
    arena that fragments and never shrinks, and each busy thread may get an arena of its
    own. A fixed threshold returns large blocks to the system when they are freed, and
    two arenas are plenty under the GIL. Other C libraries: nothing to tune.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_ARENA_MAX, ARENA_MAX)


@dataclass
class _Parts:
    """The controller's long-lived pieces."""

    informer: Informer
    fog_informers: FogInformers
    contact: EtcdContact
    manager: Manager
    environments: EnvironmentReconciler
    active: ActiveStrategyReconciler
    events: EventRecorder
    server: HealthServer

    def stop(self) -> None:
        """Stop in the order that lets in-flight work finish: no more fog wakes, no more
        reconciles (resigning the lead), then what the reconciles used."""
        self.fog_informers.stop()
        self.manager.stop(resign=True)
        self.contact.stop()
        self.environments.close()
        self.active.close()
        self.events.close()
        self.server.stop()


def run_controller(args: argparse.Namespace) -> int:
    logs.setup(args.log_format, args.log_level)
    limits()  # a bad FOGSTRAT_MAX_DOCUMENT_BYTES is a one-line error now, not in a thread
    _tune_malloc()
    identity = args.instance_id or f"{socket.gethostname()}-{os.getpid()}"
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    web_file = getattr(args, "web_config_file", None)
    web = webconfig.load(web_file) if web_file else None
    store = connect(endpoints, cacert=args.cacert, cert=args.cert, key=args.key,
                    user=args.user, password=etcd_password(args), timeout=args.timeout)
    parts = _assemble(args, store, identity, web)
    parts.server.start()
    _tune_gc(parts.informer)
    stopping = _stop_on_signals()
    _log.info("fogstrat controller %s starting: etcd %s, prefix %s, metrics on %s, "
              "leader election %s", identity, ",".join(endpoints), args.prefix,
              parts.server.url, "on" if args.leader_elect else "off")
    parts.contact.start()
    parts.manager.start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        parts.stop()
        store.close()
        _log.info("fogstrat controller %s stopped", identity)
    return 0


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        _log.info("received %s, shutting down", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stopping


def _assemble(args: argparse.Namespace, store: Store, identity: str,
              web: WebConfig | None) -> _Parts:
    """Every piece wired to the others; nothing started but the event recorder."""
    metrics = Metrics()
    manager_ref: list[Manager] = []  # the pieces built before it reach it through this
    owners = OwnerIndex()
    informer = Informer(store, args.prefix, lambda change: manager_ref[0].on_change(change))
    wakes = Wakes(lambda key: manager_ref[0].queue.add(key), metrics.record_fog_wake)
    fog_informers = FogInformers(owners, wakes.wake)
    contact = EtcdContact(store, leader_key(args.prefix), request_timeout=args.timeout,
                          on_seen=metrics.mark_etcd_seen)
    elector = LeaderElector(store, leader_key(args.prefix), identity, args.lease_ttl,
                            enabled=args.leader_elect,
                            on_change=lambda leading: manager_ref[0].on_leadership(leading),
                            on_contact=contact.report)
    docs = Documents(informer)
    status = StatusWriter(Resources(store, args.prefix), informer, lambda: elector.fence,
                          owners.on_status)
    events = EventRecorder(store, args.prefix, metrics, time.time, ttl=args.event_ttl,
                           instance=identity).start()
    # one client per fog, shared by ActiveStrategies, Environments and the fog informers
    fogs = Fogs(on_client=fog_informers.watch)
    active = ActiveStrategyReconciler(docs=docs, status=status, metrics=metrics,
                                      is_leader=lambda: elector.is_leader, clock=time.time,
                                      events=events, fogs=fogs, woken=wakes.take,
                                      on_stored=owners.on_status,
                                      endpoints=EndpointPublisher(store, args.prefix,
                                                                  lambda: elector.fence))
    environments = EnvironmentReconciler(docs, status, fogs, time.time,
                                         enqueue=lambda key: manager_ref[0].queue.add(key))
    manager = Manager(
        informer=informer, documents=docs, elector=elector, metrics=metrics,
        reconcilers={"ActiveStrategy": active, "Environment": environments,
                     "*": ValidityReconciler(docs, status, time.time)},
        workers=args.workers, resync=args.resync,
        liveness=Liveness(window=max(60.0, args.resync / 2)),
    )
    manager_ref.append(manager)
    server = HealthServer(metrics, manager.liveness, both(manager.readiness, contact.readiness),
                          args.metrics_addr, web)
    return _Parts(informer, fog_informers, contact, manager, environments, active, events,
                  server)
