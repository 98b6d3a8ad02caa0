"""One fog client per Environment, shared by every ActiveStrategy that deploys there.

Sharing matters: the client keeps the connection pool and (through
:class:`~controller.fog.cache.CachedFog`) what the fog's nodes are and how full they are, so
a thousand strategies on one fog do not each read every node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from controller.api.models import EnvironmentSpec
from controller.arch import read_nodes
from controller.fog.cache import CachedFog
from controller.fog.client import FogClient, NodeInfo, NodeStatus
from controller.fog.factory import make_fog_client

_log = logging.getLogger("fogstrat.fogs")

MAX_CLIENTS = 256
"""Fog clients kept for reuse, one per distinct Environment spec."""


@dataclass(frozen=True)
class NodeView:
    nodes: tuple[NodeInfo, ...]
    statuses: dict[str, NodeStatus]


class Fogs:
    def __init__(self, *, node_ttl: float = 2.0,
                 factory: Callable[..., FogClient] = make_fog_client,
                 on_client: Callable[[CachedFog, str], None] | None = None) -> None:
        self._factory = factory
        self._on_client = on_client
        """Told of each new client and the fog it talks to (the fog informers follow it)."""
        self._ttl = node_ttl
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[Any, ...], CachedFog] = OrderedDict()
        self._views: dict[int, tuple[float, int, NodeView]] = {}
        self._refreshing: set[int] = set()
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix="fogstrat-nodes")
        """Reads node views in the background; a long-lived thread, since starting one
        waits for it to run (a millisecond under load, in the middle of a failover)."""

    def client(self, env: EnvironmentSpec) -> CachedFog:
        labels = tuple(sorted((node, tuple(sorted(kv.items())))
                              for node, kv in env.node_labels.items()))
        key = (env.driver, env.locator, env.sysid, env.tenantid, env.timeout, labels,
               env.agent_timeout)
        with self._lock:
            client = self._clients.get(key)
            fresh = False
            if client is None:
                client = CachedFog(self._factory(env.driver, env.locator, sysid=env.sysid,
                                                 tenantid=env.tenantid, timeout=env.timeout,
                                                 node_labels=env.node_labels,
                                                 agent_timeout=env.agent_timeout),
                                   ttl=self._ttl)
                self._clients[key] = client
                fresh = True
                while len(self._clients) > MAX_CLIENTS:
                    # Edited or deleted Environments leave clients behind: the least
                    # recently used goes (not closed: a strategy may still hold it).
                    _, old = self._clients.popitem(last=False)
                    self._views.pop(id(old), None)
            else:
                self._clients.move_to_end(key)
        if fresh and self._on_client is not None:
            self._on_client(client, f"{env.driver}:{env.locator}")
        return client

    def nodes(self, fog: CachedFog, timeout: float) -> NodeView:
        """The fog's nodes and their free capacity, one view shared by every strategy on
        the fog for ``node_ttl`` seconds or until this controller changes what runs there
        (rebuilding it reads every node from the client's cache, two lookups a node: per
        observation, that would dominate a steady controller's work).

        Once there is a view, an out-of-date one is returned while a new one is read in
        the background: observation only judges whether an architecture could be placed
        (a deploy plans on nodes it reads itself), so a failover's observation right
        after its deploy need not wait on re-reading the node it has just used."""
        version = fog.capacity_version
        now = time.monotonic()
        with self._lock:
            hit = self._views.get(id(fog))
            stale = hit is not None and (hit[1] != version or now - hit[0] >= self._ttl)
            start = stale and id(fog) not in self._refreshing
            if start:
                self._refreshing.add(id(fog))
        if start:
            self._refresher.submit(self._refresh_quietly, fog, timeout)
        if hit is not None:
            return hit[2]
        return self._refresh(fog, timeout)

    def _refresh(self, fog: CachedFog, timeout: float) -> NodeView:
        version, now = fog.capacity_version, time.monotonic()
        infos, statuses = read_nodes(fog, timeout=timeout)
        view = NodeView(tuple(infos), statuses)
        with self._lock:
            hit = self._views.get(id(fog))
            if hit is not None and hit[2] == view:
                view = hit[2]  # unchanged: the same object, so placements planned on it hold
            self._views[id(fog)] = (now, version, view)
        return view

    def _refresh_quietly(self, fog: CachedFog, timeout: float) -> None:
        try:
            self._refresh(fog, timeout)
        except Exception as exc:  # the next observation serves the old view and tries again
            _log.debug("refreshing the node view failed: %s", exc)
        finally:
            with self._lock:
                self._refreshing.discard(id(fog))

    def close(self) -> None:
        self._refresher.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
            self._views.clear()
        for client in clients:
            client.close()
