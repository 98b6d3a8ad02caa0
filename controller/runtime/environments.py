"""Environment status: ``Valid`` (as every passive kind) and ``Reachable``, whether the fog
the Environment names answers.

Without it, a fog that cannot be used (a YAKS server that is not there, the native zenoh
library missing from the controller's host) shows only on the ActiveStrategies that
deploy there, and not at all before the first one does. The check is one cheap fog call
(list the nodes) through the client the ActiveStrategies share, so it costs nothing they
do not pay already; the status is written only when the condition changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.api.limits import one_line
from controller.api.models import EnvironmentSpec
from controller.fog.client import FogError, MissingLibrary
from controller.runtime.documents import Documents
from controller.runtime.fogs import Fogs
from controller.runtime.informer import ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.runtime.validity import validity_status, with_stored_condition

_log = logging.getLogger("fogstrat.environments")

RECHECK = 30.0
"""Seconds between checks of a fog that answered."""
RETRY = 5.0
"""Seconds between checks of a fog that did not: it shows as reachable soon after it is."""
CHECK_TIMEOUT = 30.0
"""Longest wait for one check: a fog silent for that long is unreachable for status, and
a long Environment ``timeout`` must not hold a checker for minutes."""
MESSAGE_CHARS = 1000


@dataclass(frozen=True)
class Reachability:
    """The ``Reachable`` condition's status, reason and one-line message."""

    status: str
    reason: str
    message: str


def reachability(env: EnvironmentSpec, error: FogError | None) -> Reachability:
    """What one check of ``env``'s fog says: it answered (``error`` None), a library the
    driver needs is missing here (its own reason, e.g. ``ZenohMissing``), or the fog did
    not answer (``FogUnreachable``)."""
    if error is None:
        return Reachability("True", "FogAnswers",
                            f"{env.driver} at {one_line(env.locator, 200)} answers")
    reason = error.reason if isinstance(error, MissingLibrary) else "FogUnreachable"
    return Reachability("False", reason, one_line(error, MESSAGE_CHARS))


NOT_CHECKED = Reachability("Unknown", "NotChecked", "the Environment is invalid")


@dataclass(frozen=True)
class Checked:
    """The last check of an Environment's fog: the spec it was made with, what it found,
    and when (the controller's clock)."""

    env: EnvironmentSpec
    found: Reachability
    at: float


class EnvironmentReconciler:
    """Writes an Environment's ``Valid`` and ``Reachable`` conditions.

    The fog is checked on a small pool of its own, never on a worker: a fog that does not
    answer costs its Environment's ``timeout`` per check, and a few of them would otherwise
    hold every worker the ActiveStrategies need. A finished check queues its Environment
    again (``enqueue``), whose reconcile writes what it found. What is remembered is one
    check per Environment, forgotten with it.
    """

    def __init__(self, docs: Documents, status: StatusWriter, fogs: Fogs,
                 clock: Callable[[], float],
                 enqueue: Callable[[ObjectKey], None] | None = None,
                 checkers: int = 4) -> None:
        self._docs = docs
        self._status = status
        self._fogs = fogs
        self._clock = clock
        self._enqueue = enqueue
        self._lock = threading.Lock()
        self._checked: dict[ObjectKey, Checked] = {}
        self._checking: set[ObjectKey] = set()
        self._pool = ThreadPoolExecutor(checkers, thread_name_prefix="fogstrat-fogcheck")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reconcile(self, key: ObjectKey) -> float | None:
        parsed = self._docs.get(key)
        current, _ = self._status.current(key)
        if parsed is None:
            with self._lock:
                self._checked.pop(key, None)
            if current is not None:
                self._status.delete(key)
            return None
        doc = parsed.document
        spec = doc.spec if parsed.valid and doc is not None else None
        now = self._clock()
        found, again = (self._reachability(key, spec, now) if isinstance(spec, EnvironmentSpec)
                        else (NOT_CHECKED, None))
        status = validity_status(self._docs, parsed, current, now)
        if found is not None:
            status["conditions"] = with_stored_condition(status["conditions"], "Reachable",
                                                 found.status, found.reason, found.message,
                                                 now)
        self._status.write(key, status)
        return again

    def _reachability(self, key: ObjectKey, env: EnvironmentSpec, now: float
                      ) -> tuple[Reachability | None, float]:
        """What the last check of this spec found (None: none yet), and when to look
        again; starts a check when one is due."""
        found, left = self._last(key, env, now)
        if left <= 0:
            self._start(key, env)
            found, left = self._last(key, env, now)  # without a queue it is done already
            if left <= 0:
                left = RETRY  # in flight: when it ends, it queues the Environment again
        return found, left

    def _last(self, key: ObjectKey, env: EnvironmentSpec, now: float
              ) -> tuple[Reachability | None, float]:
        """The last check of ``env`` (None: none) and how long until the next is due."""
        with self._lock:
            last = self._checked.get(key)
        if last is None or last.env != env:
            return None, 0.0
        every = RECHECK if last.found.status == "True" else RETRY
        return last.found, every - (now - last.at)

    def _start(self, key: ObjectKey, env: EnvironmentSpec) -> None:
        with self._lock:
            if key in self._checking:
                return
            self._checking.add(key)
        if self._enqueue is None:  # no queue to come back through: check right here
            self._finish(key, env)
            return
        self._pool.submit(self._finish, key, env)

    def _finish(self, key: ObjectKey, env: EnvironmentSpec) -> None:
        try:
            found = self._check(env)
        except Exception as exc:  # a driver's own bug: said in the condition, no traceback
            _log.debug("checking the fog of %s failed", key, exc_info=True)
            found = Reachability("Unknown", "CheckFailed", one_line(exc, MESSAGE_CHARS))
        with self._lock:
            self._checking.discard(key)
            self._checked[key] = Checked(env, found, self._clock())
        if self._enqueue is not None:
            self._enqueue(key)

    def _check(self, env: EnvironmentSpec) -> Reachability:
        try:
            self._fogs.client(env).list_nodes(timeout=min(env.timeout, CHECK_TIMEOUT))
        except FogError as exc:
            return reachability(env, exc)
        return reachability(env, None)
