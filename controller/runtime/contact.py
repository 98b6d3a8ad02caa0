"""Whether etcd can serve linearizable requests, for ``/readyz`` and the last-seen metric.

A member that lost quorum keeps its watch streams open and still answers serializable
reads from its own (stale) copy, so "the watch is connected" says nothing about whether
the cluster can serve: a controller cut off from the quorum looked ready and kept its
last-seen metric advancing. Only a request that needs the quorum proves contact: a
linearizable read, made here every ``interval`` seconds, and the leader's lease renewals
(reported through :meth:`EtcdContact.report`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.store import PermissionDenied, Store, StoreError

_log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0


@dataclass(frozen=True)
class ContactState:
    """The last linearizable exchange with etcd: when it last worked, and how it ended."""

    last_ok: float | None  # monotonic time of the last success, None before the first
    error: str | None  # why the most recent attempt failed; None when it succeeded


def judge(state: ContactState, now: float, window: float) -> tuple[bool, str]:
    """``(ready, reason)``: ready when the last attempt worked and is recent enough."""
    if state.last_ok is None:
        if state.error is None:
            return False, "no linearizable etcd read has completed yet"
        return False, f"etcd cannot serve linearizable requests: {state.error}"
    age = now - state.last_ok
    if state.error is not None:
        return False, (f"etcd cannot serve linearizable requests (no quorum?): {state.error}; "
                       f"last served {age:.1f}s ago")
    if age > window:
        return False, (f"etcd has not served a linearizable request for {age:.1f}s "
                       f"(limit {window:g}s): no quorum?")
    return True, f"etcd served a linearizable request {age:.1f}s ago"


Check = Callable[[], tuple[bool, str]]


def both(first: Check, second: Check) -> Check:
    """Ready when both checks say so; the reason of the first that does not, else both."""
    def check() -> tuple[bool, str]:
        ok, reason = first()
        if not ok:
            return ok, reason
        ok2, reason2 = second()
        return (ok2, f"{reason}; {reason2}") if ok2 else (ok2, reason2)
    return check


class EtcdContact:
    """Checks, from its own thread, that etcd serves linearizable reads.

    ``key`` is what it reads; ``on_seen`` gets the wall-clock time of each success (the
    last-seen metric).
    """

    def __init__(self, store: Store, key: str, *, interval: float = DEFAULT_INTERVAL,
                 request_timeout: float = 5.0,
                 on_seen: Callable[[float], None] = lambda _when: None) -> None:
        self._store = store
        self._key = key
        self.interval = interval
        # A read in flight counts as failed once it took longer than a request may.
        self.window = 2 * interval + request_timeout
        self._on_seen = on_seen
        self._lock = threading.Lock()
        self._state = ContactState(None, None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> ContactState:
        with self._lock:
            return self._state

    def report(self, error: str | None) -> None:
        """Record one linearizable exchange: None when it worked, else why it failed."""
        with self._lock:
            was = self._state.error
            if error is None:
                self._state = ContactState(time.monotonic(), None)
            else:
                self._state = ContactState(self._state.last_ok, error)
        if error is None:
            self._on_seen(time.time())
            if was is not None:
                _log.info("etcd serves linearizable requests again")
        elif was is None:
            _log.warning("etcd cannot serve linearizable requests: %s", error)

    def readiness(self) -> tuple[bool, str]:
        return judge(self.state, time.monotonic(), self.window)

    def check_once(self) -> None:
        try:
            # A linearizable read (it needs the quorum) of a key inside the prefix, where
            # a role limited to the prefix may read.
            self._store.get(self._key)
        except PermissionDenied:
            self.report(None)  # refused, but answered: the quorum is there
        except StoreError as exc:
            self.report(" ".join(str(exc).split()) or type(exc).__name__)
        else:
            self.report(None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="etcd-contact", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check_once()
            self._stop.wait(self.interval)
