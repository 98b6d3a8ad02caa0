"""One fog client per Environment, and a short-lived cache of what the fog's nodes offer.

Many ActiveStrategies share an Environment; they share its client (connection pool) and,
within ``ttl`` seconds, one read of the nodes, so a reconcile of each strategy does not
list every node again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.api.models import EnvironmentSpec
from controller.arch import read_nodes
from controller.fog.client import FogClient, NodeInfo, NodeStatus
from controller.fog.factory import make_fog_client


@dataclass(frozen=True)
class NodeView:
    nodes: tuple[NodeInfo, ...]
    statuses: dict[str, NodeStatus]
    read_at: float


class Fogs:
    def __init__(self, *, node_ttl: float = 1.0,
                 factory: Callable[..., FogClient] = make_fog_client,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._factory = factory
        self._clock = clock
        self._ttl = node_ttl
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str, str, float], FogClient] = {}
        self._views: dict[int, NodeView] = {}
        self._view_locks: dict[int, threading.Lock] = {}

    def client(self, env: EnvironmentSpec) -> FogClient:
        key = (env.driver, env.locator, env.sysid, env.tenantid, env.timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._factory(env.driver, env.locator, sysid=env.sysid,
                                       tenantid=env.tenantid, timeout=env.timeout)
                self._clients[key] = client
                self._view_locks[id(client)] = threading.Lock()
            return client

    def nodes(self, fog: FogClient, timeout: float) -> NodeView:
        """The fog's nodes and their free capacity, at most ``ttl`` seconds old."""
        with self._lock:
            lock = self._view_locks.setdefault(id(fog), threading.Lock())
        with lock:  # one reader refreshes, the others wait and share its answer
            view = self._views.get(id(fog))
            now = self._clock()
            if view is None or now - view.read_at > self._ttl:
                infos, statuses = read_nodes(fog, timeout=timeout)
                view = NodeView(tuple(infos), statuses, self._clock())
                self._views[id(fog)] = view
            return view

    def invalidate(self, fog: FogClient) -> None:
        """Forget the cached node view (after deploying or undeploying on this fog)."""
        with self._lock:
            self._views.pop(id(fog), None)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
