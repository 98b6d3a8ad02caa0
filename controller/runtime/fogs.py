"""One fog client per Environment, shared by every ActiveStrategy that deploys there.

Sharing matters: the client keeps the connection pool and (through
:class:`~controller.fog.cache.CachedFog`) what the fog's nodes are and how full they are, so
a thousand strategies on one fog do not each read every node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from controller.api.models import EnvironmentSpec
from controller.arch import read_nodes
from controller.fog.cache import CachedFog
from controller.fog.client import FogClient, NodeInfo, NodeStatus
from controller.fog.factory import make_fog_client


@dataclass(frozen=True)
class NodeView:
    nodes: tuple[NodeInfo, ...]
    statuses: dict[str, NodeStatus]


class Fogs:
    def __init__(self, *, node_ttl: float = 2.0,
                 factory: Callable[..., FogClient] = make_fog_client) -> None:
        self._factory = factory
        self._ttl = node_ttl
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str, str, float], FogClient] = {}

    def client(self, env: EnvironmentSpec) -> FogClient:
        key = (env.driver, env.locator, env.sysid, env.tenantid, env.timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = CachedFog(self._factory(env.driver, env.locator, sysid=env.sysid,
                                                 tenantid=env.tenantid, timeout=env.timeout),
                                   ttl=self._ttl)
                self._clients[key] = client
            return client

    def nodes(self, fog: FogClient, timeout: float) -> NodeView:
        """The fog's nodes and their free capacity (from the client's short-lived cache)."""
        infos, statuses = read_nodes(fog, timeout=timeout)
        return NodeView(tuple(infos), statuses)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
