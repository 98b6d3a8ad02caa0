"""fogsim's change feed: a bounded log of which instance and node records changed.

Every change of an instance record (define, each transition, a crash or process exit,
undefine, its node going down) and of a node (down, up, capacity held or freed) takes the
next revision. The log keeps only the last ``capacity`` (revision, key) pairs, never the
records: a reader that asks for the changes after a revision gets each changed key once,
with the record as it is *now* (or ``None``: gone), so an answer is at most one entry per
object however many times it changed, and a reader that fell further behind than the log
reaches is told to list again (:class:`Expired`), as etcd answers a compacted revision.

Listeners are called synchronously on the thread that made the change, under the
engine's lock: they must only hand the revision on (wake a waiter, queue a key).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

INSTANCE = "instance"
NODE = "node"

DEFAULT_CAPACITY = 65536
"""Keys the log remembers; a few MB at most, and minutes of churn on a busy fog."""


@dataclass(frozen=True)
class ChangeKey:
    """What changed: an instance (with where fog05 keeps its record) or a node."""

    kind: str
    id: str
    node: str = ""
    fdu: str = ""


@dataclass(frozen=True)
class Logged:
    revision: int
    key: ChangeKey


class Expired(Exception):
    """The revision asked for is older than the log reaches, or not one this fog gave."""

    def __init__(self, since: int, oldest: int, head: int) -> None:
        super().__init__(
            f"revision {since} cannot be resumed (this fog answers from {oldest} to {head}); "
            f"list again"
        )
        self.since = since
        self.oldest = oldest
        self.head = head


Listener = Callable[[int, ChangeKey], None]


class ChangeLog:
    """Thread-safe, bounded; revisions start at 1 (0 = before any change)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._lock = threading.Lock()
        self._log: deque[Logged] = deque(maxlen=capacity)
        self._head = 0
        self._listeners: list[Listener] = []
        self.epoch = uuid.uuid4().hex[:16]
        """Names this log: a reader's revision from another fogsim run (a restart begins
        again at 0) is not resumed here."""

    @property
    def head(self) -> int:
        with self._lock:
            return self._head

    def oldest(self) -> int:
        """The oldest revision a reader may resume from."""
        with self._lock:
            return self._oldest()

    def _oldest(self) -> int:
        return self._log[0].revision - 1 if self._log else self._head

    def listen(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def record(self, key: ChangeKey) -> int:
        with self._lock:
            self._head += 1
            rev = self._head
            self._log.append(Logged(rev, key))
            listeners = list(self._listeners)
        for listener in listeners:
            listener(rev, key)
        return rev

    def since(self, revision: int) -> tuple[int, list[ChangeKey]]:
        """The head and the distinct keys changed after ``revision``, oldest change first;
        :class:`Expired` when the log no longer (or never) covered ``revision``."""
        with self._lock:
            head, oldest = self._head, self._oldest()
            if revision < oldest or revision > head:
                raise Expired(revision, oldest, head)
            latest: dict[ChangeKey, None] = {}
            for logged in itertools.islice(self._log, revision - oldest, None):
                latest.pop(logged.key, None)
                latest[logged.key] = None
            return head, list(latest)
