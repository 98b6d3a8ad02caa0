"""Leader election on a lease-bound etcd key, after Patroni's HA loop.

Only the leader acts. Leadership is judged locally and conservatively (`Leadership.is_valid`
counts the TTL from before each renewal was sent), and every status write carries the
leader key's fence, so a paused ex-leader cannot overwrite the new leader's work even if
it has not noticed yet. Standbys campaign every ``retry`` seconds and take over once the
old lease expires (within the TTL), or at once when the old leader resigned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controller.runtime.denials import Denials
from controller.store import Fence, Leadership, PermissionDenied, Store, StoreError

_log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        store: Store,
        key: str,
        identity: str,
        ttl: int,
        *,
        enabled: bool = True,
        on_change: Callable[[bool], None] | None = None,
        on_contact: Callable[[str | None], None] | None = None,
    ) -> None:
        self._store = store
        self._key = key
        self.identity = identity
        self._ttl = ttl
        self._enabled = enabled
        self._on_change = on_change
        # Campaigns and lease renewals are linearizable: each reports whether etcd served it.
        self._on_contact = on_contact or (lambda _error: None)
        self._leadership: Leadership | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_leader = False
        self._denials = Denials(_log)

    @property
    def is_leader(self) -> bool:
        if not self._enabled:
            return True
        lead = self._leadership
        return lead is not None and lead.is_valid

    @property
    def fence(self) -> Fence | None:
        """The fence status writes carry; None when election is disabled."""
        if not self._enabled:
            return None
        lead = self._leadership
        return lead.fence if lead is not None else None

    def start(self) -> None:
        if not self._enabled:
            self._notify(True)
            return
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, *, resign: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        lead, self._leadership = self._leadership, None
        if lead is not None:
            if resign:
                lead.resign()
            else:
                lead.close()
        self._notify(False)

    def _notify(self, leading: bool) -> None:
        if leading != self._was_leader:
            self._was_leader = leading
            _log.info("%s %s", self.identity,
                      "became the leader" if leading else "is no longer the leader")
            if self._on_change is not None:
                self._on_change(leading)

    def _lost(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        retry = max(0.2, self._ttl / 4)
        while not self._stop.is_set():
            lead = self._leadership
            if lead is not None and not lead.is_valid:
                lead.close()
                self._leadership = lead = None
            if lead is None:
                try:
                    lead = self._store.campaign(self._key, self.identity, self._ttl)
                    self._on_contact(None)
                except PermissionDenied as exc:
                    self._denials.report(exc, "leader campaign; retrying")
                    self._on_contact(None)  # etcd answered: it refused
                    lead = None
                except StoreError as exc:
                    _log.warning("leader campaign failed: %s", exc)
                    self._on_contact(" ".join(str(exc).split()))
                    lead = None
                if lead is not None:
                    lead.keep_alive(on_lost=self._lost, on_renewal=self._on_contact)
                    self._leadership = lead
            self._notify(self.is_leader)
            self._wake.wait(retry if self._leadership is None else min(retry, 1.0))
            self._wake.clear()
