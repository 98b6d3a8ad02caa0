"""A least-recently-used memo bounded both by its number of entries and by their size.

A count alone does not bound memory when entries differ in size by orders of magnitude
(a one-line document and one near the document size limit), and a churn of distinct
inputs must not grow the controller: whatever does not fit is forgotten, oldest first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    size: int


class BoundedLru(Generic[K, V]):
    """Thread-safe; ``size`` is the caller's measure of an entry (e.g. its bytes). An
    entry larger than ``max_entry_size`` is never kept."""

    def __init__(self, max_entries: int, max_size: int, max_entry_size: int) -> None:
        if max_entries < 1 or max_size < 1 or not 0 < max_entry_size <= max_size:
            raise ValueError("BoundedLru needs positive bounds, an entry's within the total")
        self.max_entries = max_entries
        self.max_size = max_size
        self.max_entry_size = max_entry_size
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The sum of the kept entries' sizes."""
        return self._size

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: K, value: V, size: int) -> None:
        if size > self.max_entry_size:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old.size
            self._entries[key] = _Entry(value, size)
            self._size += size
            while len(self._entries) > self.max_entries or self._size > self.max_size:
                _, dropped = self._entries.popitem(last=False)
                self._size -= dropped.size

    def kept(self) -> list[K]:
        """The keys kept, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0
