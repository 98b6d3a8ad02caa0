"""Publish each ActiveStrategy's endpoint under ``<prefix>/endpoints/<namespace>/<name>``.

A consumer outside the architectures watches that one key instead of knowing which
architecture serves. The value is the strategy's ``status.endpoint`` (see
:mod:`controller.reconcile.endpoint`), written right after the status that carries it,
only when it changed, and fenced on the leader key like status: a deposed leader cannot
point consumers anywhere. What was last written is remembered per strategy; a new leader
reads the key once before its first write. A strategy none of whose architectures
declares an endpoint has no key and costs nothing here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from controller.reconcile.endpoint import endpoint_status
from controller.reconcile.status import StrategyStatus
from controller.runtime.informer import ObjectKey
from controller.runtime.resolve import StrategyInputs
from controller.store import Fence, Store
from controller.store.keys import endpoint_key

_UNKNOWN = object()


def encode(endpoint: Mapping[str, Any]) -> bytes:
    return json.dumps(endpoint, sort_keys=True, separators=(",", ":")).encode()


def decided_endpoint(inputs: StrategyInputs, status: StrategyStatus, previous: Mapping[str, Any],
            now: float) -> dict[str, Any] | None:
    """The endpoint of a decided ``status`` (``previous``: the stored status document)."""
    endpoints = {name: bp.spec.endpoint for name, bp in inputs.blueprints.items()}
    return endpoint_status(status, endpoints, previous.get("endpoint"), now)


class EndpointPublisher:
    def __init__(self, store: Store, prefix: str, fence: Callable[[], Fence | None]) -> None:
        self._store = store
        self._prefix = prefix
        self._fence = fence
        self._lock = threading.Lock()
        self._written: dict[ObjectKey, bytes | None] = {}
        """What each key holds, as last written or read (None: absent)."""
        self.writes = 0

    def publish(self, key: ObjectKey, endpoint: Mapping[str, Any] | None,
                previous: Mapping[str, Any] | None = None) -> None:
        """Make the key hold ``endpoint`` (None: no key). ``previous``: the stored status
        endpoint, to skip a store read when neither it nor ``endpoint`` exists."""
        with self._lock:
            known = self._written.get(key, _UNKNOWN)
        if known is _UNKNOWN and endpoint is None and previous is None:
            return  # never had an endpoint: nothing to read, nothing to remove
        data = None if endpoint is None else encode(endpoint)
        path = endpoint_key(self._prefix, key.namespace, key.name)
        if known is _UNKNOWN:
            record = self._store.get(path)
            known = None if record is None else record.value
        if known != data:
            if data is None:
                self._store.delete(path, fence=self._fence())
            else:
                self._store.put(path, data, fence=self._fence())
            self.writes += 1
        with self._lock:
            if data is None:
                self._written.pop(key, None)
            else:
                self._written[key] = data

    def remove(self, key: ObjectKey) -> None:
        """The strategy is gone: so is its endpoint."""
        with self._lock:
            known = self._written.pop(key, _UNKNOWN)
        if known is None:
            return
        self._store.delete(endpoint_key(self._prefix, key.namespace, key.name),
                           fence=self._fence())
