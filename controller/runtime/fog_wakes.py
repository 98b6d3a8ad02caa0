"""Fog events as reconciles that look at the fog now.

A strategy at rest between probe cycles reconciles to nothing until its next cycle is
due, so being queued is not enough: the architectures a fog event concerns are kept here
until the strategy's next reconcile takes them (``ActiveStrategyReconciler(woken=...)``),
on the worker that reconciles it, so no decision in flight can overwrite them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from controller.runtime.fog_informer import Wake
from controller.runtime.informer import ObjectKey

MAX_PENDING = 100_000
"""Owners woken and not yet reconciled; past it a wake only queues (polling catches up)."""


class Wakes:
    """Architectures woken per owner, until its next reconcile takes them."""

    def __init__(self, enqueue: Callable[[ObjectKey], None],
                 counted: Callable[[], None] = lambda: None) -> None:
        self._enqueue = enqueue
        self._counted = counted
        self._lock = threading.Lock()
        self._pending: dict[ObjectKey, set[str]] = {}

    def wake(self, wake: Wake) -> None:
        with self._lock:
            archs = self._pending.get(wake.owner)
            if archs is None and len(self._pending) < MAX_PENDING:
                archs = self._pending[wake.owner] = set()
            if archs is not None:
                archs.add(wake.architecture)
        self._counted()
        self._enqueue(wake.owner)

    def take(self, key: ObjectKey) -> set[str]:
        with self._lock:
            return self._pending.pop(key, set())
