"""A first-in first-out buffer of watch items that holds a bounded number of bytes.

A watch thread reads etcd's stream as fast as etcd sends it; a consumer that parses
documents is slower when someone writes megabytes a second. Unbounded, the events in
between pile up in memory. Here the producer waits once the buffer holds ``max_bytes``
of values; while it waits it stops reading the gRPC stream, HTTP/2 flow control stops
etcd sending, and etcd keeps the slow watcher's events in its own history (a watcher
that falls behind compaction gets ``Compacted`` and re-lists). Memory stays bounded
and nothing is lost.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class ByteBoundedBuffer(Generic[T]):
    """``put`` blocks while the buffer is over ``max_bytes`` (an item larger than that
    still passes alone; an item of size 0, a control item, never waits); ``get`` behaves
    like ``queue.Queue.get`` with a timeout."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()

    def put(self, item: T, size: int = 0, stop: threading.Event | None = None) -> None:
        """Append ``item`` of ``size`` bytes, waiting for room unless ``stop`` is set."""
        with self._cond:
            while (size and self._items and self._bytes + size > self._max
                   and not (stop is not None and stop.is_set())):
                self._cond.wait(0.5)
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T:
        """The oldest item; raises ``queue.Empty`` after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item

    @property
    def bytes(self) -> int:
        return self._bytes
