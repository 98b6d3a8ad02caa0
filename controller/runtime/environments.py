"""Environment status: ``Valid`` (as every passive kind) and ``Reachable``, whether the fog
the Environment names answers.

Without it, a fog that cannot be used (a YAKS server that is not there, the native zenoh
library missing from the controller's host) shows only on the ActiveStrategies that
deploy there, and not at all before the first one does. The check is one cheap fog call
(list the nodes) through the client the ActiveStrategies share, so it costs nothing they
do not pay already; the status is written only when the condition changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.api.limits import one_line
from controller.api.models import EnvironmentSpec
from controller.fog.client import FogError, MissingLibrary
from controller.runtime.documents import Documents
from controller.runtime.fogs import Fogs
from controller.runtime.informer import ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.runtime.validity import set_condition, validity_status

RECHECK = 30.0
"""Seconds between checks of a fog that answered."""
RETRY = 5.0
"""Seconds between checks of a fog that did not: it shows as reachable soon after it is."""
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


class EnvironmentReconciler:
    """Writes an Environment's ``Valid`` and ``Reachable`` conditions."""

    def __init__(self, docs: Documents, status: StatusWriter, fogs: Fogs,
                 clock: Callable[[], float]) -> None:
        self._docs = docs
        self._status = status
        self._fogs = fogs
        self._clock = clock

    def reconcile(self, key: ObjectKey) -> float | None:
        parsed = self._docs.get(key)
        current, _ = self._status.current(key)
        if parsed is None:
            if current is not None:
                self._status.delete(key)
            return None
        doc = parsed.document
        spec = doc.spec if parsed.valid and doc is not None else None
        found = (self._check(spec) if isinstance(spec, EnvironmentSpec) else NOT_CHECKED)
        now = self._clock()
        status = validity_status(self._docs, parsed, current, now)
        status["conditions"] = set_condition(status["conditions"], "Reachable", found.status,
                                             found.reason, found.message, now)
        self._status.write(key, status)
        if found.status == "True":
            return RECHECK
        return RETRY if found is not NOT_CHECKED else None

    def _check(self, env: EnvironmentSpec) -> Reachability:
        try:
            self._fogs.client(env).list_nodes(timeout=env.timeout)
        except FogError as exc:
            return reachability(env, exc)
        return reachability(env, None)
