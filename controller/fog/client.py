"""The one small interface through which fogstrat talks to a fog.

Drivers (``fogsim`` over HTTP, ``fog05`` over FIMAPI) implement :class:`FogClient`; no
HTTP or fog05 type leaks out of them. Every call takes a ``timeout`` (seconds, the
deadline of the whole call including retries); ``None`` means the driver's default.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class InstanceState(StrEnum):
    """fog05 0.2 instance states (``fog05_sdk`` FDU states)."""

    DEFINE = "DEFINE"
    CONFIGURE = "CONFIGURE"
    RUN = "RUN"
    STARTING = "STARTING"
    STOP = "STOP"
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    MIGRATE = "MIGRATE"
    TAKE_OFF = "TAKE_OFF"
    LAND = "LAND"
    UNDEFINE = "UNDEFINE"
    ERROR = "ERROR"


# --- errors ----------------------------------------------------------------------------


class FogError(Exception):
    """A fog call failed; the message is one line a user can act on."""


class NotFound(FogError):
    """The node, FDU or instance does not exist (or its node vanished)."""


class IllegalTransition(FogError):
    """The instance is not in a state that allows the requested operation."""

    def __init__(self, message: str, current: str | None = None, requested: str | None = None):
        super().__init__(message)
        self.current = current
        self.requested = requested


class FogUnavailable(FogError):
    """The fog could not be reached (connection refused, injected 503, agent gone)."""


class MissingLibrary(FogUnavailable):
    """The fog's client cannot run here: a library it needs is not installed (the fog05
    extra, or the native zenoh library); the message says what and where to put it.
    ``reason``: a CamelCase word for status conditions (``ZenohMissing``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class FogTimeout(FogError):
    """The call's deadline passed before the fog answered; the outcome is unknown."""


class InvalidDescriptor(FogError):
    """The fog rejected an FDU descriptor."""


# --- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeInfo:
    uuid: str
    name: str
    cpu_arch: str
    cores: int
    ram_mb: int
    disk_gb: float
    ip: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeStatus:
    uuid: str
    ram_total_mb: float
    ram_free_mb: float
    disk_total_gb: float = 0.0
    disk_free_gb: float = 0.0


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    fdu_id: str
    node_id: str
    state: InstanceState
    error_code: int | None = None
    error_msg: str | None = None
    address: str | None = None
    """The instance's own address, where the fog reports one (a container's interface)."""
    simulated: bool = False
    """The fog says nothing really runs (fogsim's non-BARE instances)."""


@dataclass(frozen=True)
class NetworkInfo:
    """A virtual network in the fog's catalog."""

    uuid: str
    name: str
    descriptor: Mapping[str, Any] = field(default_factory=dict)
    """The network descriptor as the fog holds it."""


@dataclass(frozen=True)
class ConnectionPointInfo:
    """A connection point (a port an FDU's interface attaches to)."""

    uuid: str
    name: str = ""
    network_id: str | None = None
    """The network it is connected to, if any."""
    address: str | None = None
    """Where it is reachable, where the fog says (fogsim: on the network's loopback block)."""
class FogChangeKind(StrEnum):
    INSTANCE = "instance"
    NODE = "node"


@dataclass(frozen=True)
class FeedCursor:
    """Where a change feed goes on from: a revision, valid only in its ``epoch`` (one run of
    the fog's feed; a driver that cannot resume starts a new one)."""

    epoch: str
    revision: int


@dataclass(frozen=True)
class FogChange:
    """An instance or node record changed; ``gone``: it no longer exists (a node: down)."""

    kind: FogChangeKind
    id: str
    revision: int
    gone: bool = False
    instance: InstanceInfo | None = None
    """``INSTANCE`` and not gone: the record as it is now."""
    node: NodeStatus | None = None
    """``NODE`` and not gone: its capacity now, where the fog sent it."""


@dataclass(frozen=True)
class FogFeed:
    """One answer of :meth:`FogClient.watch_instances`."""

    cursor: FeedCursor
    changes: tuple[FogChange, ...]
    relisted: bool = False
    """The fog could not go on from the cursor given (or none was): ``changes`` is every
    instance and every node that is up, and whatever the reader knew that is not in it is
    gone."""


# --- the interface ---------------------------------------------------------------------


class FogClient(abc.ABC):
    """Nodes, the FDU catalog and FDU instances of one fog."""

    # nodes
    @abc.abstractmethod
    def list_nodes(self, *, timeout: float | None = None) -> list[str]:
        """Node uuids of the nodes the fog currently sees."""

    @abc.abstractmethod
    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo: ...

    @abc.abstractmethod
    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus: ...

    def node_infos(self, node_ids: Iterable[str], *, timeout: float | None = None
                   ) -> list[NodeInfo]:
        """Info of each node, in order; a node gone meanwhile (NotFound) is left out, any
        other error raised. ``timeout`` is per call. One after another here; a client that
        keeps node info answers at once."""
        out: list[NodeInfo] = []
        for nid in node_ids:
            with contextlib.suppress(NotFound):
                out.append(self.node_info(nid, timeout=timeout))
        return out

    def node_statuses(self, node_ids: Iterable[str], *, timeout: float | None = None
                      ) -> dict[str, NodeStatus]:
        """Status of each node that answers; one that cannot be read (gone, or an error)
        is left out, so placement assumes it empty rather than hiding its capacity.
        ``timeout`` is per call. One after another here; a client may ask them at once."""
        out: dict[str, NodeStatus] = {}
        for nid in node_ids:
            with contextlib.suppress(FogError):
                out[nid] = self.node_status(nid, timeout=timeout)
        return out

    # FDU catalog
    @abc.abstractmethod
    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        """Add an FDU descriptor to the catalog; returns its uuid. Idempotent per ``id``."""

    @abc.abstractmethod
    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None: ...

    @abc.abstractmethod
    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]: ...

    @abc.abstractmethod
    def list_fdus(self, *, timeout: float | None = None) -> list[str]: ...

    # instances
    @abc.abstractmethod
    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None,
               existing: Collection[str] | None = None) -> InstanceInfo:
        """Create an instance in ``DEFINE`` on a node; persist its id, it is random.

        ``existing``: the ids of this FDU's instances the caller has just read (None: not
        known). A driver that must recognise its own new instance when the answer to a
        define is lost compares with them, and lists them itself only when not given."""

    @abc.abstractmethod
    def configure(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo: ...

    @abc.abstractmethod
    def start(
        self,
        instance_id: str,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> InstanceInfo: ...

    @abc.abstractmethod
    def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo: ...

    @abc.abstractmethod
    def clean(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo: ...

    @abc.abstractmethod
    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None: ...

    @abc.abstractmethod
    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo: ...

    @abc.abstractmethod
    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        """Instance ids of an FDU, by node uuid."""

    @abc.abstractmethod
    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        """Every instance on the fog, by instance id, in one read (fog05: one glob over
        ``nodes/*/fdu/*/instances/*/info``)."""

    def recent_instance_info(self, instance_id: str, *,
                             timeout: float | None = None) -> InstanceInfo:
        """The instance as of a recent fog-wide read: for health checks and steady-state
        observation, where a second of staleness costs nothing and a request per instance
        costs a core at 10,000 strategies. Never for waiting on a transition. Drivers read
        it directly; :class:`~controller.fog.cache.CachedFog` shares one read."""
        return self.instance_info(instance_id, timeout=timeout)

    def instance_log(self, instance_id: str, *, timeout: float | None = None) -> str:
        """The instance's output, where the driver can read it."""
        return ""

    # virtual networks: optional, a driver without them says so

    def _no_networks(self, what: str) -> FogError:
        return FogError(f"{what}: this fog driver has no virtual networks")

    def add_network(self, descriptor: Mapping[str, Any], *,
                    timeout: float | None = None) -> str:
        """Add a fog05 virtual network descriptor (with its ``uuid``) to the catalog;
        returns the uuid. Adding the same uuid again is a no-op."""
        raise self._no_networks("add network")

    def remove_network(self, network_id: str, *, timeout: float | None = None) -> None:
        """Remove a network; NotFound when absent, IllegalTransition while connection
        points are connected to it."""
        raise self._no_networks("remove network")

    def list_networks(self, *, timeout: float | None = None) -> list[NetworkInfo]:
        raise self._no_networks("list networks")

    def add_connection_point(self, descriptor: Mapping[str, Any], *,
                             timeout: float | None = None) -> ConnectionPointInfo:
        """Create a connection point (descriptor with its ``uuid``), not connected;
        idempotent per uuid."""
        raise self._no_networks("add connection point")

    def remove_connection_point(self, cp_id: str, *, timeout: float | None = None) -> None:
        """Remove a connection point; NotFound when absent."""
        raise self._no_networks("remove connection point")

    def connect_cp(self, cp_id: str, network_id: str, *,
                   timeout: float | None = None) -> ConnectionPointInfo:
        """Connect a connection point to a network; again to the same one is a no-op,
        to another one an IllegalTransition."""
        raise self._no_networks("connect connection point")

    def disconnect_cp(self, cp_id: str, *, timeout: float | None = None
                      ) -> ConnectionPointInfo:
        raise self._no_networks("disconnect connection point")

    def list_connection_points(self, *, timeout: float | None = None
                               ) -> list[ConnectionPointInfo]:
        raise self._no_networks("list connection points")
    def watch_instances(self, since: FeedCursor | None, *, wait: float = 30.0,
                        timeout: float | None = None) -> FogFeed:
        """The instance and node records changed after ``since``, each once as it is now,
        and the cursor to ask from next; waits up to ``wait`` seconds while nothing
        changed. When the fog cannot go on from ``since`` (None, expired, another epoch,
        a subscription lost) the answer is a full listing (``relisted``). ``timeout``
        bounds the call beyond ``wait``.

        This default has no feed: it waits ``wait`` seconds and lists again, so a reader
        of a driver without one still converges, at polling speed."""
        if since is not None:
            time.sleep(max(0.0, wait))
        return listed_feed(self, "poll", 0, timeout)

    def close(self) -> None:  # noqa: B027 - optional hook, most drivers hold nothing
        """Release connections."""


def listed_feed(fog: FogClient, epoch: str, revision: int, timeout: float | None
                ) -> FogFeed:
    """A full listing as a feed answer: every instance, then every node that is up."""
    instances = fog.all_instances(timeout=timeout)
    changes = [FogChange(FogChangeKind.INSTANCE, iid, revision, instance=info)
               for iid, info in instances.items()]
    changes += [FogChange(FogChangeKind.NODE, nid, revision)
                for nid in fog.list_nodes(timeout=timeout)]
    return FogFeed(FeedCursor(epoch, revision), tuple(changes), relisted=True)
