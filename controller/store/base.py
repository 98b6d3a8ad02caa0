"""The store contract: immutable models, typed errors and the abstract `Store`.

Modelled on Patroni's ``AbstractDCS``: the controller talks only to this interface, and each
backend (today only etcd, in ``etcd.py``) lives in its own module, so the client library can be
swapped without touching the reconciler.

Values are raw bytes. Documents may be YAML or JSON written by ``etcdctl put``; the store never
parses them, so what a user wrote reads back byte-exact.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Record:
    """One key as read from the store. ``version`` (1 on create, +1 per write) is a spec's
    generation."""

    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    version: int


@dataclass(frozen=True)
class WatchEvent:
    """One change under a watched prefix. ``value`` is empty for DELETE."""

    type: Literal["PUT", "DELETE"]
    key: str
    value: bytes
    mod_revision: int
    version: int = 0
    """The key's etcd version after this change (0 for DELETE)."""


@dataclass(frozen=True)
class Write:
    """One put of an all-or-nothing `Store.put_all`."""

    key: str
    value: bytes
    expect_mod_revision: int
    """0: the key must not exist; N: it must be at mod revision N."""


@dataclass(frozen=True)
class Fence:
    """Proof of leadership that a write carries into its transaction.

    The write only applies while ``key`` still exists with this ``create_revision``: a leader
    key that expired and was re-created (by anyone, even the same identity) has a new
    create_revision, so a paused ex-leader cannot overwrite the new leader's status.
    """

    key: str
    create_revision: int


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """Base of every error the store raises; its message is one user-facing line."""


class StoreUnavailable(StoreError):
    """The store could not be reached (connection refused, timeout, no endpoint left)."""

    def __init__(self, endpoints: tuple[str, ...] | list[str], reason: str = "") -> None:
        self.endpoints = tuple(endpoints)
        self.reason = " ".join(reason.split())  # always one line
        where = ",".join(self.endpoints) or "(no endpoint)"
        msg = f"etcd at {where} is unreachable"
        if self.reason:
            msg += f": {self.reason}"
        super().__init__(msg)


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a key must not break a log line."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class PermissionDenied(StoreError):
    """etcd refused the request: the user's roles lack ``access`` (read/write) on ``scope``.

    ``scope`` is the key range the permission must cover (``<prefix>/status/`` for a
    status write), ``key`` the key that was refused. Retrying does not help until an
    administrator grants the permission.
    """

    def __init__(self, access: str, scope: str, key: str) -> None:
        self.access = access
        self.scope = scope
        self.key = key
        where = _printable(scope) if scope == key else (
            f"{_printable(scope)} (refused on {_printable(key)})")
        super().__init__(f"etcd permission denied: the etcd user needs {access} permission "
                         f"on {where}")


class UnknownOutcome(StoreUnavailable):
    """A write timed out: it may or may not have been applied.

    Re-read before deciding. A compare-and-swap retry is safe: if the first attempt was
    applied, the retry raises `Conflict` instead of writing twice.
    """


class Conflict(StoreError):
    """A compare-and-swap failed: ``key`` is not at ``expected`` mod revision (0 = absent)."""

    def __init__(self, key: str, expected: int, actual: int | None = None) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        if expected == 0:
            msg = f"conflict on {key}: it already exists (mod revision {actual})"
        elif actual is None:
            msg = f"conflict on {key}: expected mod revision {expected}, but it does not exist"
        else:
            msg = f"conflict on {key}: expected mod revision {expected}, found {actual}"
        super().__init__(msg)


class NotLeader(StoreError):
    """A fenced write was refused because the writer no longer holds the leader key."""

    def __init__(self, fence: Fence, holder: str | None = None) -> None:
        self.fence = fence
        self.holder = holder
        who = f"now held by {holder!r}" if holder else "no longer held"
        super().__init__(f"not the leader: {fence.key} is {who}")


class Compacted(StoreError):
    """The revisions a watch needs were compacted away: re-list, then watch again.

    ``current_revision`` is the store revision when this was noticed; the consumer must not
    resume from it blindly (events before it are lost), but re-list and watch from
    ``list revision + 1``.
    """

    def __init__(self, compact_revision: int, current_revision: int) -> None:
        self.compact_revision = compact_revision
        self.current_revision = current_revision
        super().__init__(
            f"watch history compacted up to revision {compact_revision} "
            f"(current {current_revision}): re-list required"
        )


# --------------------------------------------------------------------------- watch


class Watch(abc.ABC):
    """A resumable watch on a key prefix; iterate it, or poll with `get`.

    Events arrive in revision order, each exactly once. If the connection drops, the backend
    re-creates the server-side watch from ``last seen revision + 1`` (with capped exponential
    backoff while the store is down), so nothing is missed or repeated. If that history was
    compacted, `get`/`__next__` raise `Compacted` and the watch ends: re-list and start a new
    watch from the list's revision + 1. `close` stops it and joins its thread; it is safe to
    call from any thread and more than once.
    """

    @abc.abstractmethod
    def get(self, timeout: float | None = None) -> WatchEvent | None:
        """Next event, or None after ``timeout`` seconds (or once closed).

        Raises `Compacted` when the watch cannot continue without a re-list.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop watching; no thread survives this call."""

    @property
    @abc.abstractmethod
    def last_revision(self) -> int:
        """Revision of the last event handed to the consumer (start_revision - 1 if none)."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """True while a server-side watch is established (for readiness and metrics)."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """True once closed or finished by `Compacted`."""

    def __iter__(self) -> Iterator[WatchEvent]:
        while True:
            event = self.get()
            if event is None:  # closed
                return
            yield event

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- leadership


class Leadership(abc.ABC):
    """Holding the leader key, bound to a lease of ``ttl`` seconds.

    The client library has no keepalive thread: call `refresh` well inside the TTL, or start
    `keep_alive` to do it from a background thread. Validity is judged locally and
    conservatively: the deadline is counted from *before* each renewal request was sent, so
    this process believes it lost leadership no later than etcd expires the lease.
    """

    def __init__(self, key: str, identity: str, ttl: float, create_revision: int,
                 granted_at: float) -> None:
        self.key = key
        self.identity = identity
        self.ttl = ttl
        self._fence = Fence(key, create_revision)
        self._deadline = granted_at + ttl
        self._lost = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fence(self) -> Fence:
        """The fence every status write must carry (see `Store.put`)."""
        return self._fence

    @property
    def is_valid(self) -> bool:
        """Still the leader, as far as this process can tell without asking etcd."""
        return not self._lost and time.monotonic() < self._deadline

    @property
    def expired(self) -> bool:
        return not self.is_valid

    @property
    def remaining(self) -> float:
        """Seconds until the local deadline (0 once lost)."""
        return 0.0 if self._lost else max(0.0, self._deadline - time.monotonic())

    def refresh(self) -> bool:
        """Renew the lease and check the key is still ours; False once leadership is lost.

        Raises `StoreUnavailable` if etcd cannot be reached; leadership is then kept only
        until the local deadline passes.
        """
        with self._lock:
            if self._lost:
                return False
            sent = time.monotonic()
            ttl = self._renew()
            if ttl is None or ttl <= 0:
                self._lost = True
                return False
            self._deadline = sent + ttl
            return True

    def resign(self) -> None:
        """Give the key up now (revoking the lease deletes it) so a standby takes over fast."""
        self._stop_thread()
        with self._lock:
            was_lost = self._lost
            self._lost = True
        if not was_lost:
            try:
                self._release()
            except StoreError as exc:  # the lease then simply expires
                _log.warning("resign of %s failed, the lease will expire: %s", self.key, exc)

    def keep_alive(self, interval: float | None = None,
                   on_lost: Callable[[], None] | None = None,
                   on_renewal: Callable[[str | None], None] | None = None) -> None:
        """Refresh from a daemon thread every ``interval`` (default ttl/3) seconds.

        ``on_lost`` is called once, from that thread, when leadership is lost (lease gone,
        key taken, or etcd unreachable past the deadline). ``on_renewal`` gets each
        renewal's result: None when etcd answered, else the error. Stopped by
        `resign`/`close`.
        """
        if self._thread is not None:
            return
        period = interval if interval is not None else max(self.ttl / 3.0, 0.1)

        def run() -> None:
            while not self._stop.wait(period):
                try:
                    ok = self.refresh()
                    error = None
                except StoreError as exc:
                    ok = self.is_valid
                    error = " ".join(str(exc).split())
                    _log.warning("leader lease refresh failed: %s", exc)
                if on_renewal is not None:
                    on_renewal(error)
                if not ok:
                    with self._lock:
                        self._lost = True
                    if on_lost is not None and not self._stop.is_set():
                        on_lost()
                    return

        self._thread = threading.Thread(target=run, name=f"lease-keepalive:{self.key}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the keep-alive thread without resigning (the lease expires on its own)."""
        self._stop_thread()

    def _stop_thread(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @abc.abstractmethod
    def _renew(self) -> float | None:
        """Keep the lease alive and verify the key; the granted TTL, or None if lost."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Revoke the lease."""


# --------------------------------------------------------------------------- store


class Store(abc.ABC):
    """Abstract key-value store with revisions, compare-and-swap, watches and leases."""

    @abc.abstractmethod
    def get(self, key: str) -> Record | None:
        """The record at ``key``, or None if absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> tuple[list[Record], int]:
        """All records under ``prefix`` (sorted by key) and the store revision of that read.

        ``prefix`` must end with "/": ``architectures/`` must never match
        ``architecturedata/``. Watch from the returned revision + 1 to miss nothing.
        """

    @abc.abstractmethod
    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None,
            fence: Fence | None = None) -> int:
        """Write ``value``; return the new mod revision.

        ``expect_mod_revision``: None writes unconditionally, 0 means "must not exist",
        N means "must be at mod revision N" (raises `Conflict`). ``fence``: the write only
        applies while the fence's leader key is unchanged (raises `NotLeader`).
        A timeout raises `UnknownOutcome`: the write may have been applied.
        """

    @abc.abstractmethod
    def grant_lease(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds (not kept alive); its id."""

    @abc.abstractmethod
    def put_leased(self, key: str, value: bytes, lease: int) -> int:
        """Write ``value`` bound to ``lease`` (it goes when the lease expires); the new mod
        revision. Unconditional: for records nobody else writes (Events)."""

    @abc.abstractmethod
    def delete(self, key: str, *, expect_mod_revision: int | None = None,
               fence: Fence | None = None) -> bool:
        """Delete ``key``; True if it existed. Same conditions and errors as `put`."""

    @abc.abstractmethod
    def put_all(self, writes: Sequence[Write]) -> int:
        """Write every value or none, in one transaction; return its revision.

        Each write is conditional on its ``expect_mod_revision`` (0: must not exist); if
        any key moved, nothing is written and `Conflict` names the first such key. A
        backend may refuse a transaction that is too large (etcd: ``--max-txn-ops``,
        ``--max-request-bytes``) with `StoreError`: then too nothing is written.
        """

    @abc.abstractmethod
    def watch(self, prefix: str, start_revision: int,
              deliver: Callable[[WatchEvent], None] | None = None) -> Watch:
        """Watch ``prefix`` (ending with "/") from ``start_revision`` inclusive.

        List-then-watch: ``records, rev = store.list(p); w = store.watch(p, rev + 1)``.
        ``start_revision`` 0 means "from now on". With ``deliver``, each event is handed
        to it on the watch's own thread, in order, as it arrives, and `get` returns only
        the end of the watch (None once closed, or `Compacted`): a consumer that only
        files events into memory then waits for no thread hand-off. ``deliver`` must not
        block; while it runs, nothing more is read from the store.
        """

    @abc.abstractmethod
    def revision(self) -> int:
        """The store's current revision."""

    @abc.abstractmethod
    def campaign(self, key: str, identity: str, ttl: int) -> Leadership | None:
        """Create ``key`` = ``identity`` bound to a new lease, only if absent.

        Returns the `Leadership`, or None if someone (possibly an earlier incarnation of this
        identity) holds it; retry after a while, the holder's lease will expire.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close connections and stop every watch this store started."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
