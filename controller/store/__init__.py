"""The desired-state store: etcd behind a small abstract interface (see `base.Store`).

Typical use::

    store = connect("127.0.0.1:2379")
    records, rev = store.list(keys.spec_prefix(prefix, "activestrategies"))
    with store.watch(keys.root_prefix(prefix), rev + 1) as w:
        for event in w: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.store import keys
from controller.store.base import (
    Compacted,
    Conflict,
    Fence,
    Leadership,
    NotLeader,
    PermissionDenied,
    Record,
    Store,
    StoreError,
    StoreUnavailable,
    UnknownOutcome,
    Watch,
    WatchEvent,
    Write,
)

__all__ = [
    "Compacted",
    "Conflict",
    "Fence",
    "Leadership",
    "NotLeader",
    "PermissionDenied",
    "Record",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnknownOutcome",
    "Watch",
    "WatchEvent",
    "Write",
    "connect",
    "keys",
]


def connect(
    endpoints: str | Sequence[str],
    *,
    cacert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
) -> Store:
    """A `Store` on the etcd cluster at ``endpoints`` ("h:p,h:p", "https://h:p" or a list).

    Connections are lazy: an unreachable cluster shows up as `StoreUnavailable` on the first
    call (except with user/password, which authenticates here). ``timeout`` bounds each call.
    """
    from controller.store.etcd import EtcdStore  # keeps grpc out of `keys`-only imports

    return EtcdStore(endpoints, cacert=cacert, cert=cert, key=key, user=user,
                     password=password, timeout=timeout)
