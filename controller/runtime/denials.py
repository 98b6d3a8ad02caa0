"""Permission errors from etcd: one log line per missing permission, not one per attempt.

A role without a permission the controller needs is refused on every retry of every
object; the operator needs to read once which permission on which key range is missing,
not a traceback per attempt. Later refusals of the same permission log at DEBUG (the
retries go on with backoff, so a grant takes effect by itself).
"""

from __future__ import annotations

import logging
import threading

from controller.store import PermissionDenied


class Denials:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()

    def report(self, exc: PermissionDenied, context: str) -> None:
        """Log ``exc`` at ERROR the first time its (access, scope) is refused."""
        what = (exc.access, exc.scope)
        with self._lock:
            first = what not in self._seen
            self._seen.add(what)
        if first:
            self._log.error("%s; %s (logged once per missing permission)", exc, context)
        else:
            self._log.debug("%s; %s", exc, context)
