"""A FogClient wrapper that remembers what the fog's nodes are, and briefly what they hold.

Placement and observation read every node (one list, then an info and a status call per
node): with 100 nodes that is 201 requests per read, repeated for every strategy. Node
info (cpu, RAM, disks, labels) does not change while a node is up, so it is kept until the
node leaves the list; the node list is kept for ``ttl`` seconds and node status (free
capacity) for ``status_ttl``, and a node's status is forgotten at once when this client
changes what runs on it, so our own deployments never see stale capacity. Capacity taken
by someone else shows up within ``status_ttl``; until then a deploy may fail for lack of
room, which the reconciler retries like any failed deploy.

Health checks and steady-state observation read instances through
:meth:`CachedFog.recent_instance_info`: one fog-wide read (``all_instances``) serves every
strategy for ``instance_ttl`` seconds (longer on a big fog, at most ``MAX_INSTANCE_TTL``),
so the fog answers one request per ``instance_ttl`` however many strategies are probed;
the next read starts in the background before that (``READ_AHEAD``), so no health check
waits for one. What this client itself did to an instance since
that read (define, start, stop...) overrides it, and so does what the fog's change feed
reported since (:meth:`CachedFog.observed`): while the feed is followed without a gap, the
fog-wide read is a slow safety net (``FEED_RESYNC``). Waiting on a transition still reads
the instance directly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from controller.fog.client import (
    ConnectionPointInfo,
    FeedCursor,
    FogChange,
    FogChangeKind,
    FogClient,
    FogError,
    FogFeed,
    InstanceInfo,
    NetworkInfo,
    NodeInfo,
    NodeStatus,
    NotFound,
)

V = TypeVar("V")

INSTANCES_PER_SECOND = 2500
"""Fog-wide instance reads are spaced so that at most this many records are parsed a
second (a fog of 10,000 instances is read every 4 s, one of 1,000 every ``instance_ttl``)."""
_FANOUT = ThreadPoolExecutor(16, thread_name_prefix="fogstrat-fog-read")
"""Reads node statuses side by side, and fog-wide instance reads ahead of their expiry
(threads start on first use and are shared by every fog: a read waits on the network, so
16 of them cost the interpreter little)."""
MAX_INSTANCE_TTL = 5.0
"""However big the fog, a health check sees no state older than this (plus the read)."""
FEED_RESYNC = 30.0
"""While the fog's change feed is followed without a gap since the last fog-wide read,
every change after that read has reached this client (:meth:`CachedFog.observed`): the
next read is only a safety net, this often. A gap (a failed or lost answer) brings back
the ordinary period at once, until a read taken after the feed is followed again."""
FEED_GRACE = 5.0
"""A followed feed answers at least once per long poll; this long past one it is lost."""
MAX_OBSERVED = 100_000
"""Instances changed since the last fog-wide read that this client keeps; past it the
feed's word on more is dropped and the ordinary period applies (a read forgets them)."""
READ_AHEAD = 0.8
"""Once the last fog-wide read is this fraction of its ttl old, the next one starts in the
background and callers keep the last (still fresh) one meanwhile. Waited for at expiry,
it stalled every worker with a probe to run for the whole read: 0.35 s in every 4 at
10,000 instances, while bring-up deployed the rest."""


class CachedFog(FogClient):
    def __init__(self, inner: FogClient, *, ttl: float = 2.0, status_ttl: float = 10.0,
                 instance_ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self._ttl = ttl
        self._status_ttl = status_ttl
        self._instance_ttl = instance_ttl
        self._instances: tuple[float, dict[str, InstanceInfo]] | None = None
        self._own: dict[str, tuple[float, InstanceInfo | None]] = {}
        """What our own calls left each instance as (None: undefined), and when."""
        self._refresh = threading.Lock()  # one fog-wide read at a time
        self.reading_ahead: Future[None] | None = None
        """The fog-wide read started ahead of expiry, while it runs (or last ran)."""
        self._feed_since: float | None = None
        """When the feed's unbroken run of answers began (the first one's request)."""
        self._feed_until = 0.0
        """Until when the feed counts as followed without a new answer."""
        self.capacity_version = 0
        """Bumped whenever cached capacity is forgotten: views built from it are stale."""
        self._clock = clock
        self._lock = threading.Lock()
        self._nodes: tuple[float, list[str]] | None = None
        self._info: dict[str, NodeInfo] = {}
        self._fdus: dict[str, Mapping[str, Any]] = {}
        self._status: dict[str, tuple[float, NodeStatus]] = {}

    # --- nodes (cached) ----------------------------------------------------------------

    def list_nodes(self, *, timeout: float | None = None) -> list[str]:
        now = self._clock()
        with self._lock:
            if self._nodes is not None and now - self._nodes[0] < self._ttl:
                return list(self._nodes[1])
        nodes = self.inner.list_nodes(timeout=timeout)
        with self._lock:
            self._nodes = (now, list(nodes))
            for gone in set(self._info) - set(nodes):  # a node that left may come back changed
                self._info.pop(gone, None)
                self._status.pop(gone, None)
        return nodes

    def _kept(self, table: dict[str, V], key: str, fetch: Callable[[], V]) -> V:
        """``table[key]``, fetched (outside the lock) and kept when missing."""
        with self._lock:
            value = table.get(key)
        if value is None:
            value = fetch()
            with self._lock:
                table[key] = value
        return value

    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo:
        return self._kept(self._info, node_id,
                          lambda: self.inner.node_info(node_id, timeout=timeout))

    def node_infos(self, node_ids: Iterable[str], *, timeout: float | None = None
                   ) -> list[NodeInfo]:
        """Kept infos under one lock, the others read: a deploy and every placement check
        look at all the fog's nodes, and taking the lock once per node would add up."""
        ids = list(node_ids)
        with self._lock:
            kept = [self._info.get(nid) for nid in ids]
        out: list[NodeInfo] = []
        for nid, info in zip(ids, kept, strict=True):
            if info is not None:
                out.append(info)
                continue
            with contextlib.suppress(NotFound):
                out.append(self.node_info(nid, timeout=timeout))
        return out

    def _cached_status(self, node_id: str, now: float) -> NodeStatus | None:
        with self._lock:
            hit = self._status.get(node_id)
        return hit[1] if hit is not None and now - hit[0] < self._status_ttl else None

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        now = self._clock()
        cached = self._cached_status(node_id, now)
        if cached is not None:
            return cached
        status = self.inner.node_status(node_id, timeout=timeout)
        with self._lock:
            self._status[node_id] = (now, status)
        return status

    def node_statuses(self, node_ids: Iterable[str], *, timeout: float | None = None
                      ) -> dict[str, NodeStatus]:
        """Cached statuses at once; the others read all at the same time (the first on
        this thread), so a deploy after a quiet spell (when every cached status has
        expired: the usual moment of a failover) waits for one status call, not one per
        node: on an edge network each call takes tens of milliseconds, and a fog has
        a hundred nodes or more."""
        now = self._clock()
        out: dict[str, NodeStatus] = {}
        missing: list[str] = []
        for nid in node_ids:
            cached = self._cached_status(nid, now)
            if cached is not None:
                out[nid] = cached
            else:
                missing.append(nid)
        # node_status looks at the cache again when it runs: a read another caller (the
        # background node view, a concurrent deploy) made meanwhile is not made twice.
        reads = {nid: _FANOUT.submit(self.node_status, nid, timeout=timeout)
                 for nid in missing[1:]}
        for nid in missing[:1]:
            with contextlib.suppress(FogError):
                out[nid] = self.node_status(nid, timeout=timeout)
        for nid, read in reads.items():
            with contextlib.suppress(FogError):
                out[nid] = read.result()
        return out

    def forget(self, node_id: str | None = None) -> None:
        """Drop cached capacity, of one node or of all."""
        with self._lock:
            self.capacity_version += 1
            if node_id is None:
                self._status.clear()
            else:
                self._status.pop(node_id, None)

    def observed(self, change: FogChange, unless_since: float | None = None) -> None:
        """What the fog's change feed just said: newer than any fog-wide read before it, so
        it answers :meth:`recent_instance_info` as our own calls do. A node that went, or
        one the kept list lacks (new, or back), has the node list and its capacity read
        again; a listed node whose capacity changed keeps its cached status until
        ``status_ttl``: nearly every such change is one of this client's own deploys,
        which forgot that capacity already, and forgetting every node a burst of deploys
        touches would make every deploy list the nodes and read their statuses again.
        ``unless_since``: an instance this client learnt of after then (own calls, or a
        fog-wide read, which forgets those before it) keeps that newer word."""
        if change.kind is FogChangeKind.INSTANCE:
            with self._lock:
                own, snap = self._own.get(change.id), self._instances
                if own is None and len(self._own) >= MAX_OBSERVED:
                    self._feed_since = None  # the rest is left to the next read
                    return
                learnt = _learnt(own, snap)
                if unless_since is None or learnt is None or learnt <= unless_since:
                    self._own[change.id] = (self._clock(),
                                            None if change.gone else change.instance)
            return
        with self._lock:
            listed = self._nodes is not None and change.id in self._nodes[1]
            if listed and not change.gone:
                return
            self._nodes = None
        self.forget(change.id)

    def known(self, change: FogChange) -> bool:
        """Whether this client already knew the instance to be as ``change`` says: our
        own call left it so (or the feed said so before)."""
        with self._lock:
            own = self._own.get(change.id)
        if own is None:
            return False
        if own[1] is None or change.gone or change.instance is None:
            return own[1] is None and change.gone
        return own[1].state is change.instance.state

    def feed_followed(self, sent: float, wait: float) -> None:
        """The feed answered a request sent at ``sent`` (this client's clock) and every
        change in it was ``observed``; the next answer is due within ``wait``."""
        with self._lock:
            if self._feed_since is None:
                self._feed_since = sent
            self._feed_until = sent + wait + FEED_GRACE

    def feed_lost(self) -> None:
        """The feed failed, or an answer was not observed whole: changes may be missed."""
        with self._lock:
            self._feed_since = None

    def _feed_covers(self, taken: float) -> bool:
        """Whether the feed has reported every change since a read ``taken`` then."""
        with self._lock:
            since, until, kept = self._feed_since, self._feed_until, len(self._own)
        return (since is not None and since <= taken and self._clock() < until
                and kept <= MAX_OBSERVED)

    def learnt_since(self, instance_id: str) -> float | None:
        """When this client last learnt the instance's state (its own call, the feed, or a
        fog-wide read, which tells of every instance, there or not), on its clock; None
        if it holds no such word. A read counts because it forgets the own calls before
        it: without it, a feed answer computed before a deploy's own calls and read after
        them would pass for news."""
        with self._lock:
            return _learnt(self._own.get(instance_id), self._instances)

    def now(self) -> float:
        return self._clock()

    def _changed(self, info: InstanceInfo) -> InstanceInfo:
        self.forget(info.node_id)
        with self._lock:
            self._own[info.instance_id] = (self._clock(), info)
        return info

    # --- instances as of a recent fog-wide read ----------------------------------------

    def _read_ttl(self, snap: tuple[float, dict[str, InstanceInfo]]) -> float:
        """How long a read stays fresh: ``instance_ttl``, longer for a big fog (a read of
        10,000 instances costs the controller ~0.15 CPU-s and fogsim more), up to
        ``MAX_INSTANCE_TTL``; ``FEED_RESYNC`` while the feed covers it."""
        ttl = min(max(self._instance_ttl, len(snap[1]) / INSTANCES_PER_SECOND),
                  max(self._instance_ttl, MAX_INSTANCE_TTL))
        return max(ttl, FEED_RESYNC) if self._feed_covers(snap[0]) else ttl

    def _snapshot(self, timeout: float | None) -> tuple[float, dict[str, InstanceInfo]]:
        with self._lock:
            snap = self._instances
        if snap is not None:
            ttl, age = self._read_ttl(snap), self._clock() - snap[0]
            if age < ttl:
                if age >= READ_AHEAD * ttl:
                    self._read_ahead(timeout)
                return snap
        return self._read(timeout, fresh_for=1.0)

    def _read(self, timeout: float | None, fresh_for: float
              ) -> tuple[float, dict[str, InstanceInfo]]:
        """A fog-wide read, unless the last one is younger than ``fresh_for`` of its ttl
        (whoever waited for the lock finds the read the one before it made)."""
        with self._refresh:
            with self._lock:
                snap = self._instances
            if snap is not None and self._clock() - snap[0] < fresh_for * self._read_ttl(snap):
                return snap
            taken = self._clock()
            instances = self.inner.all_instances(timeout=timeout)
            with self._lock:
                self._instances = snap = (taken, instances)
                self._own = {iid: own for iid, own in self._own.items() if own[0] >= taken}
            return snap

    def _read_ahead(self, timeout: float | None) -> None:
        """Start the next fog-wide read in the background (one at a time); its failure is
        left to the read at expiry, which reports it to its caller."""
        with self._lock:
            if self.reading_ahead is not None and not self.reading_ahead.done():
                return
            self.reading_ahead = _FANOUT.submit(self._read_quietly, timeout)

    def _read_quietly(self, timeout: float | None) -> None:
        with contextlib.suppress(FogError):
            self._read(timeout, fresh_for=READ_AHEAD)

    def recent_instance_info(self, instance_id: str, *,
                             timeout: float | None = None) -> InstanceInfo:
        with self._lock:
            own, snap = self._own.get(instance_id), self._instances
        # What we did to it answers while it is as recent as a fog-wide read would be and
        # no read is newer: a deploy's readiness check right after its start needs no read
        # of every instance, which on a big fog is a large share of a bring-up.
        if own is None or self._clock() - own[0] >= self._instance_ttl or (
                snap is not None and snap[0] > own[0]):
            taken, instances = self._snapshot(timeout)
            with self._lock:
                own = self._own.get(instance_id)
            if own is None or own[0] < taken:
                info = instances.get(instance_id)
                if info is None:  # created since the read, or gone: ask (rare)
                    return self.inner.instance_info(instance_id, timeout=timeout)
                return info
        if own[1] is None:
            raise NotFound(f"instance {instance_id} not found")
        return own[1]

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        return dict(self._snapshot(timeout)[1])

    # --- instances (pass through, forgetting the capacity they change) ------------------

    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None,
               existing: Collection[str] | None = None) -> InstanceInfo:
        return self._changed(self.inner.define(fdu_id, node_id, timeout=timeout,
                                               existing=existing))

    def configure(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._changed(self.inner.configure(instance_id, timeout=timeout))

    def start(self, instance_id: str, env: Mapping[str, str] | None = None, *,
              timeout: float | None = None) -> InstanceInfo:
        return self._changed(self.inner.start(instance_id, env, timeout=timeout))

    def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._changed(self.inner.stop(instance_id, timeout=timeout))

    def clean(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._changed(self.inner.clean(instance_id, timeout=timeout))

    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None:
        self.inner.undefine(instance_id, timeout=timeout)
        self.forget()  # which node held it is not known here
        with self._lock:
            self._own[instance_id] = (self._clock(), None)

    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self.inner.instance_info(instance_id, timeout=timeout)

    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        return self.inner.instances(fdu_id, timeout=timeout)

    def instance_log(self, instance_id: str, *, timeout: float | None = None) -> str:
        return self.inner.instance_log(instance_id, timeout=timeout)

    def watch_instances(self, since: FeedCursor | None, *, wait: float = 30.0,
                        timeout: float | None = None) -> FogFeed:
        return self.inner.watch_instances(since, wait=wait, timeout=timeout)

    # --- catalog (descriptors kept until changed) ----------------------------------------

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        uid = self.inner.onboard(descriptor, timeout=timeout)
        with self._lock:
            self._fdus.pop(uid, None)  # re-onboarded: its descriptor may have changed
        return uid

    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None:
        self.inner.offload(fdu_id, timeout=timeout)
        with self._lock:
            self._fdus.pop(fdu_id, None)

    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]:
        """Kept until offloaded: an FDU's uuid is derived from its descriptor id, so what a
        uuid names never changes (an undeploy's orphan scan reads every FDU's id)."""
        return self._kept(self._fdus, fdu_id,
                          lambda: self.inner.fdu_info(fdu_id, timeout=timeout))

    def list_fdus(self, *, timeout: float | None = None) -> list[str]:
        return self.inner.list_fdus(timeout=timeout)

    # --- networks (never kept: few calls, and only by deploys and undeploys) -------------

    def add_network(self, descriptor: Mapping[str, Any], *,
                    timeout: float | None = None) -> str:
        return self.inner.add_network(descriptor, timeout=timeout)

    def remove_network(self, network_id: str, *, timeout: float | None = None) -> None:
        self.inner.remove_network(network_id, timeout=timeout)

    def list_networks(self, *, timeout: float | None = None) -> list[NetworkInfo]:
        return self.inner.list_networks(timeout=timeout)

    def add_connection_point(self, descriptor: Mapping[str, Any], *,
                             timeout: float | None = None) -> ConnectionPointInfo:
        return self.inner.add_connection_point(descriptor, timeout=timeout)

    def remove_connection_point(self, cp_id: str, *, timeout: float | None = None) -> None:
        self.inner.remove_connection_point(cp_id, timeout=timeout)

    def connect_cp(self, cp_id: str, network_id: str, *,
                   timeout: float | None = None) -> ConnectionPointInfo:
        return self.inner.connect_cp(cp_id, network_id, timeout=timeout)

    def disconnect_cp(self, cp_id: str, *, timeout: float | None = None
                      ) -> ConnectionPointInfo:
        return self.inner.disconnect_cp(cp_id, timeout=timeout)

    def list_connection_points(self, *, timeout: float | None = None
                               ) -> list[ConnectionPointInfo]:
        return self.inner.list_connection_points(timeout=timeout)

    def close(self) -> None:
        self.inner.close()


def _learnt(own: tuple[float, Any] | None, snap: tuple[float, Any] | None) -> float | None:
    times = [t for t in (own[0] if own else None, snap[0] if snap else None) if t is not None]
    return max(times) if times else None
