"""A work queue keyed by object, after client-go's rate-limited delaying queue.

Guarantees the reconciler relies on: a key is queued at most once however often it is added
(deduplicated); no two workers ever hold the same key (a key added while being processed is
queued again when its worker calls `done`); errors back off per key exponentially up to a
cap; "check again in N s" is `add_after`, not an error.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        base_delay: float = 0.005,
        max_delay: float = 300.0,
        granularity: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_delay
        self._max = max_delay
        self._grain = granularity
        """Delayed keys fall due on a grid of this many seconds, so keys due close together
        are taken in one wake-up: with thousands of probe cycles due every interval, a
        wake-up per key would keep the queue itself busy."""
        self._clock = clock
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        """Idle workers wait here for a key to be ready."""
        self._timer = threading.Condition(lock)
        """One idle worker at most waits here, until the earliest delayed key is due: with
        thousands of strategies requeued for their probe cycles, waking every idle worker
        for every due key would spend the steady controller's CPU on wake-ups that find
        nothing to take."""
        self._timer_held = False
        self._room = threading.Condition(lock)
        """A producer waits here for the ready keys to fall below its limit."""
        self._crowded = 0
        self._idle = 0
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of (ready_at, seq, key)
        self._ready_at: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._shutdown = False
        self.retries = 0
        """Total rate-limited re-adds, for ``fogstrat_workqueue_retries_total``."""

    # --- producers ---------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if already queued)."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self._ready_at.pop(key, None)
        if key not in self._processing:
            self._queue.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        """Someone should look at the queue: an idle worker, else the timer's."""
        if self._idle:
            self._cond.notify()
        elif self._timer_held:
            self._timer.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending time wins."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            at = self._clock() + delay
            if self._grain > 0:
                at = math.ceil(at / self._grain) * self._grain
            if key in self._ready_at and self._ready_at[key] <= at:
                return
            self._ready_at[key] = at
            seq = next(self._seq)
            heapq.heappush(self._waiting, (at, seq, key))
            if not self._timer_held:
                self._wake_one()  # an idle worker takes the timer
            elif self._waiting[0][1] == seq:
                self._timer.notify()  # due before what the timer waits for

    def add_rate_limited(self, key: K) -> float:
        """Requeue after an error, with per-key exponential backoff; returns the delay."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            self.retries += 1
        delay: float = min(self._max, self._base * (1 << min(n, 40)))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff after a success."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # --- consumers ---------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> K | None:
        """Next key to process, or None on timeout or shutdown. Call `done` afterwards."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                self._promote_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    if self._crowded:
                        self._room.notify_all()
                    if self._queue or (self._waiting and not self._timer_held):
                        self._wake_one()  # more to do, or the timer needs a holder
                    return key
                if self._shutdown:
                    return None
                now = self._clock()
                wait = None if deadline is None else deadline - now
                if wait is not None and wait <= 0:
                    return None
                if self._waiting and not self._timer_held:
                    until_ready = max(self._waiting[0][0] - now, 0.0)
                    self._timer_held = True
                    try:
                        self._timer.wait(until_ready if wait is None else min(wait, until_ready))
                    finally:
                        self._timer_held = False
                else:
                    self._idle += 1
                    try:
                        self._cond.wait(wait)
                    finally:
                        self._idle -= 1

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._wake_one()

    def _promote_locked(self) -> None:
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            at, _, key = heapq.heappop(self._waiting)
            if self._ready_at.get(key) == at:
                del self._ready_at[key]
                self._add_locked(key)

    # --- lifecycle ---------------------------------------------------------------------

    def wait_for_room(self, limit: int) -> None:
        """Return once fewer than ``limit`` keys are ready (or the queue is shut down):
        a producer that can wait, as the etcd watch can (etcd keeps what it has not
        read), holds the queue to a bounded number of keys however fast keys come."""
        with self._cond:
            self._crowded += 1
            try:
                self._room.wait_for(lambda: len(self._queue) < limit or self._shutdown)
            finally:
                self._crowded -= 1

    @property
    def ready(self) -> int:
        """Keys ready now (not those waiting for their delay)."""
        return len(self._queue)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
            self._timer.notify_all()
            self._room.notify_all()

    def __len__(self) -> int:
        """Depth: keys ready now plus keys waiting for their delay."""
        with self._cond:
            return len(self._queue) + len(self._ready_at)
