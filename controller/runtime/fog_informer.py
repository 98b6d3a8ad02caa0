"""Fog informers: a fog's own change feed turned into reconciles of exactly the owners.

One informer per fog client (per Environment) lists the fog's instances, then follows its
change feed (:meth:`FogClient.watch_instances`). An :class:`OwnerIndex`, built from the
ActiveStrategy statuses the reconciler reads and writes (each status records the
instances its architectures run and the state it last saw them in), says which strategies
own an instance, and which have instances on a node. When an owned instance leaves the
state its status recorded (it crashed, went to ERROR, vanished) or its node goes down,
exactly its owners are queued at once, instead of at their next probe cycle; and the fog
client's recent view of the instance is corrected, so that reconcile sees the change
without waiting for the next fog-wide read. Polling stays as the safety net: while the
feed is followed without a gap, the client's fog-wide reads come seldom
(:data:`controller.fog.cache.FEED_RESYNC`); a lost feed brings back their ordinary rate,
so it costs speed, never correctness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.api import kinds
from controller.api.limits import one_line
from controller.fog.cache import CachedFog
from controller.fog.client import (
    FeedCursor,
    FogChange,
    FogChangeKind,
    FogError,
    FogFeed,
    NotFound,
)
from controller.runtime.informer import ObjectKey

_log = logging.getLogger("fogstrat.fog_informer")

WAIT = 10.0
"""How long one long poll of the feed waits for a change (a stop waits at most this)."""
RETRY_MIN, RETRY_MAX = 0.2, 5.0
"""Backoff between failed reads of the feed."""
MAX_REVISION = 2**63 - 1
"""Revisions are etcd-like counters; one past a signed 64-bit integer is no fog's."""
MAX_EPOCH_CHARS = 256
"""An epoch is sent back with every request: a fog's name for its log, not a payload."""
MIN_INTERVAL = 0.05
"""At least this long from one read of the feed to the next: a lone event is answered at
once (the read waiting for it was sent long before), a burst (a bring-up's thousands of
transitions) comes in batches instead of an answer per change, each costing the fog a
request and the controller a parse."""


@dataclass(frozen=True)
class Owned:
    """An instance one status records: who owns it, where, and in what state it was."""

    owner: ObjectKey
    state: str | None
    node: str | None
    architecture: str = ""


def owned_instances(owner: ObjectKey, status: Any) -> dict[str, Owned]:
    """instance id → :class:`Owned`, from a stored ActiveStrategy status
    (``architectures.<a>.instances.entities.<e>.<i>.{instanceId,state,node}``); whatever
    is not shaped so is skipped (a status is ours, but etcd holds what anyone wrote)."""
    out: dict[str, Owned] = {}
    archs = status.get("architectures") if isinstance(status, Mapping) else None
    for name, arch in (archs or {}).items() if isinstance(archs, Mapping) else ():
        record = arch.get("instances") if isinstance(arch, Mapping) else None
        entities = record.get("entities") if isinstance(record, Mapping) else None
        for replicas in (entities or {}).values() if isinstance(entities, Mapping) else ():
            for rec in replicas.values() if isinstance(replicas, Mapping) else ():
                iid = rec.get("instanceId") if isinstance(rec, Mapping) else None
                if isinstance(iid, str) and iid:
                    state, node = rec.get("state"), rec.get("node")
                    out[iid] = Owned(owner, state if isinstance(state, str) else None,
                                     node if isinstance(node, str) else None, str(name))
    return out


class OwnerIndex:
    """Instance id and node id → the ActiveStrategies whose status records them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[ObjectKey, dict[str, Owned]] = {}
        self._by_instance: dict[str, dict[ObjectKey, Owned]] = {}
        self._by_node: dict[str, dict[tuple[ObjectKey, str], Owned]] = {}
        """node → (owner, architecture) → one of its instances there."""

    def on_status(self, key: ObjectKey, status: Mapping[str, Any] | None) -> None:
        """A status the controller decides from: one the reconciler read from the store
        (it decodes it anyway: the index takes the instance ids from that, not from a
        decode of its own of every status the etcd informer lists), or one the status
        writer wrote (None: none, or deleted). An owner is indexed from its first
        reconcile on; until then its reconcile, queued by the etcd informer, is due
        anyway."""
        if key.kind is kinds.ACTIVE_STRATEGY:
            self.update(key, owned_instances(key, status))

    def update(self, owner: ObjectKey, owned: Mapping[str, Owned]) -> None:
        with self._lock:
            for iid, old in self._by_owner.pop(owner, {}).items():
                holders = self._by_instance.get(iid, {})
                holders.pop(owner, None)
                if not holders:
                    self._by_instance.pop(iid, None)
                if old.node is not None:
                    self._drop_node(old.node, (owner, old.architecture))
            if not owned:
                return
            self._by_owner[owner] = dict(owned)
            for iid, rec in owned.items():
                self._by_instance.setdefault(iid, {})[owner] = rec
                if rec.node is not None:
                    self._by_node.setdefault(rec.node, {})[(owner, rec.architecture)] = rec

    def _drop_node(self, node: str, holder: tuple[ObjectKey, str]) -> None:
        owners = self._by_node.get(node)
        if owners is not None:
            owners.pop(holder, None)
            if not owners:
                del self._by_node[node]

    def owners_of(self, instance_id: str) -> list[Owned]:
        with self._lock:
            return list(self._by_instance.get(instance_id, {}).values())

    def owned_on(self, node_id: str) -> list[Owned]:
        """One instance per owner and architecture with instances on the node."""
        with self._lock:
            return list(self._by_node.get(node_id, {}).values())

    def instance_ids(self) -> list[str]:
        with self._lock:
            return list(self._by_instance)


def implausible(since: FeedCursor | None, feed: FogFeed) -> str | None:
    """Why a feed answer cannot be taken (a revision out of range, or behind the one it
    was asked to go on from in the same epoch: a fog that forgot what it said), or None.
    Taking it would resume from a place the fog may say anything from again."""
    cursor = feed.cursor
    if not 0 <= cursor.revision <= MAX_REVISION:
        return f"its revision is out of range (0 to {MAX_REVISION})"
    if len(cursor.epoch) > MAX_EPOCH_CHARS:
        return f"its epoch is longer than {MAX_EPOCH_CHARS} characters"
    if (since is not None and not feed.relisted and cursor.epoch == since.epoch
            and cursor.revision < since.revision):
        return f"revision went back from {since.revision} to {cursor.revision}"
    return None


@dataclass(frozen=True)
class Checked:
    """A feed change as checked, and since when what the client learns of its instance
    may be newer (the request's sending, or the question to the fog that checked it)."""

    change: FogChange
    as_of: float


@dataclass(frozen=True)
class Wake:
    """An owner to reconcile now, the architecture concerned, and why (for the log)."""

    owner: ObjectKey
    architecture: str
    reason: str


RECHECKS = 3
"""How often one change is checked again while the client keeps learning of its instance
(a deploy's calls go on meanwhile); past it the change wakes its owners."""


def wakes_for(index: OwnerIndex, feed: FogFeed,
              known: Callable[[FogChange], bool] = lambda change: False,
              recheck: Callable[[FogChange], FogChange] = lambda change: change
              ) -> list[Wake]:
    """The owners a feed answer concerns: an owned instance whose state is no longer the
    one its status recorded (gone included), a node with owned instances that went down;
    not a change the fog client already ``known`` (our own stop, clean, undefine). A full
    listing also reports owned instances it does not contain as gone. ``recheck``: the
    change as it stands now, or the change itself (the same object) when the client
    learnt nothing of its instance since it was checked."""
    out: list[Wake] = []
    changes: Iterable[FogChange] = feed.changes
    if feed.relisted:
        changes = [*feed.changes, *_unlisted(index, feed)]
    for change in changes:
        if change.kind is FogChangeKind.NODE:
            if change.gone:
                out += [Wake(o.owner, o.architecture, f"node {change.id} is gone")
                        for o in index.owned_on(change.id)]
            continue
        out += _instance_wakes(index, change, known, recheck)
    return out


def _state(change: FogChange) -> str | None:
    return None if change.gone or change.instance is None else change.instance.state.value


def _instance_wakes(index: OwnerIndex, change: FogChange,
                    known: Callable[[FogChange], bool],
                    recheck: Callable[[FogChange], FogChange]) -> list[Wake]:
    """The owners one instance change wakes. The owners are read before the change is
    checked again: a status names an instance's state only after the calls that left it
    so, so a change checked after the owners were read has seen those calls."""
    for _ in range(RECHECKS + 1):
        owners = index.owners_of(change.id)
        state = _state(change)
        moved = [o for o in owners if o.state != state]
        if not moved or known(change):
            return []
        fresh = recheck(change)
        if fresh is change:
            break
        change = fresh
    return [Wake(o.owner, o.architecture, f"instance {change.id} "
                 + ("is gone" if state is None else f"is {state} (was {o.state})"))
            for o in moved]


def _unlisted(index: OwnerIndex, feed: FogFeed) -> list[FogChange]:
    """Owned instances a full listing lacks, on nodes it lists (an index serves every
    fog, so an instance on a node this fog does not have is some other fog's)."""
    listed = {c.id for c in feed.changes if c.kind is FogChangeKind.INSTANCE}
    nodes = {c.id for c in feed.changes if c.kind is FogChangeKind.NODE}
    return [FogChange(FogChangeKind.INSTANCE, iid, feed.cursor.revision, gone=True)
            for iid in index.instance_ids()
            if iid not in listed and any(o.node in nodes for o in index.owners_of(iid))]


class FogInformer:
    """Follows one fog's feed on a thread of its own."""

    def __init__(self, fog: CachedFog, index: OwnerIndex, enqueue: Callable[[Wake], None],
                 *, name: str, wait: float = WAIT) -> None:
        self.fog = fog
        self.name = name
        self._index = index
        self._enqueue = enqueue
        self._wait = wait
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fog-informer {name}",
                                        daemon=True)
        self.cursor: FeedCursor | None = None
        self.healthy = False
        """The last read of the feed succeeded."""
        self.answers = 0
        self._relists = 0
        """Answers in a row that were listings the fog gave at once instead of changes."""

    def start(self) -> FogInformer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as exc:  # a bug must not end the feed for good: start over
                _log.error("fog %s: change feed stopped (%s: %s); listing again",
                           self.name, type(exc).__name__, one_line(str(exc)))
                self.cursor, self.healthy = None, False
                self.fog.feed_lost()
                self._stop.wait(RETRY_MAX)

    def _follow(self) -> None:
        delay = RETRY_MIN
        while not self._stop.is_set():
            sent, resumed = self.fog.now(), self.cursor is not None
            try:
                feed = self.fog.watch_instances(self.cursor, wait=self._wait)
                problem = implausible(self.cursor, feed)
                if problem is not None:
                    raise FogError(f"the fog's change feed answered wrongly: {problem}")
            except FogError as exc:
                self.fog.feed_lost()
                if self._stop.is_set():
                    return
                if self.healthy or delay == RETRY_MIN:
                    _log.warning("fog %s: change feed unavailable (%s); polling only, "
                                 "retrying", self.name, one_line(str(exc)))
                self.healthy = False
                self._stop.wait(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            if not self.healthy:
                _log.info("fog %s: following its change feed", self.name)
            self.healthy, delay = True, RETRY_MIN
            try:
                self.apply(feed, sent)
            except FogError as exc:  # a re-read failed: the next answer goes on from here
                _log.warning("fog %s: %s", self.name, one_line(str(exc)))
                self.fog.feed_lost()  # what this answer said was not all taken in
                self.cursor = feed.cursor
            else:
                if not feed.relisted:  # a driver without a feed answers by listing
                    self.fog.feed_followed(sent, self._wait)
            pause = self._relist_pause(feed.relisted and resumed, sent)
            self._stop.wait(max(0.0, sent + pause - self.fog.now()))

    def _relist_pause(self, relisted: bool, sent: float) -> float:
        """How long from ``sent`` to the next read: :data:`MIN_INTERVAL`, unless the fog
        could not go on from the last answer again and at once (a fog that always says
        "list again" would otherwise be listed whole twenty times a second); a driver
        without a feed lists after waiting a long poll's time, which is no such storm."""
        if not relisted or self.fog.now() - sent >= self._wait / 2:
            self._relists = 0
            return MIN_INTERVAL
        self._relists += 1
        if self._relists == 2:
            _log.warning("fog %s: its change feed cannot go on from its own answers and "
                         "is listed again each time; backing off, polling meanwhile",
                         self.name)
        return MIN_INTERVAL if self._relists < 2 else min(
            RETRY_MAX, RETRY_MIN * 2 ** min(self._relists - 2, 8))

    def apply(self, feed: FogFeed, sent: float) -> None:
        """Correct the client's view, then queue the owners the answer concerns.
        ``sent``: when the request for ``feed`` was sent (the client's clock)."""
        checks = [self._current(change, sent) for change in feed.changes]
        # Checking takes a while (it may ask the fog), and the client goes on learning
        # meanwhile (a deploy's own calls, a fog-wide read): a change that would wake
        # someone is checked again against what was learnt since, after its owners are
        # read, and the client's view keeps what is newer than each change.
        latest = {(c.change.kind, c.change.id): c for c in checks}

        def recheck(change: FogChange) -> FogChange:
            key = (change.kind, change.id)
            again = self._current(change, latest.get(key, Checked(change, sent)).as_of)
            if again.change is not change:
                latest[key] = again
            return again.change

        feed = replace(feed, changes=tuple(c.change for c in checks))
        wakes = wakes_for(self._index, feed, self.fog.known, recheck)
        for check in checks:  # every one: the client's fog-wide reads rely on it
            last = latest[(check.change.kind, check.change.id)]
            self.fog.observed(last.change, unless_since=last.as_of)
        for wake in wakes:
            self._enqueue(wake)
        if wakes:
            time.sleep(0)  # let a worker take the GIL and start before we log and read on
        for wake in wakes:
            _log.info("%s: %s on fog %s; reconciling now", wake.owner, wake.reason, self.name)
        self.cursor = feed.cursor
        self.answers += 1

    def _current(self, change: FogChange, since: float) -> Checked:
        """The change, unless this client learnt of the instance after ``since`` (when
        the request for it was sent, or when it was last checked) and not as the change
        says: then either word may be the newer (a deploy's own calls race the answer),
        and the fog is asked. Owned or not: the client's view takes every change, and a
        deploy's instances are owned only once its status is written, after its
        readiness check read that view."""
        if change.kind is not FogChangeKind.INSTANCE:
            return Checked(change, since)
        own = self.fog.learnt_since(change.id)
        if own is None or own < since or self.fog.known(change):
            return Checked(change, since)
        asked = self.fog.now()
        try:
            info = self.fog.inner.instance_info(change.id)
        except NotFound:
            return Checked(replace(change, gone=True, instance=None), asked)
        return Checked(replace(change, gone=False, instance=info), asked)


class FogInformers:
    """One :class:`FogInformer` per fog client the controller uses."""

    def __init__(self, index: OwnerIndex, enqueue: Callable[[Wake], None], *,
                 wait: float = WAIT) -> None:
        self.index = index
        self._enqueue = enqueue
        self._wait = wait
        self._lock = threading.Lock()
        self._informers: dict[int, FogInformer] = {}
        self._stopped = False

    def watch(self, fog: CachedFog, name: str) -> None:
        """Follow ``fog`` (once however often it is asked)."""
        with self._lock:
            if self._stopped or id(fog) in self._informers:
                return
            informer = FogInformer(fog, self.index, self._enqueue, name=name, wait=self._wait)
            self._informers[id(fog)] = informer
        informer.start()

    def informers(self) -> list[FogInformer]:
        with self._lock:
            return list(self._informers.values())

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop()
        for informer in informers:
            informer.join(1.0)
