"""Reporting transitions from the stored status history: each entry is told exactly once.

The history in an ActiveStrategy's status is the record of what happened. Counters, the
duration histogram, the INFO log sentence (and the Event, when a recorder is given) are
derived from it, not from the step that made an entry: the step that completes a
transition is not always the step that stores it (a step that only asks for probes leaves
its write to the next one; a write in flight may fail; a batch may be cut short by a fog
error). Reporting at the write that stores an entry covers every one of those paths.

Counting across processes: a process reports the entries *it* stored. Entries it finds in
the store (after a restart, a leader change or anyone else's write) are taken as already
reported -- by the process that stored them. A Prometheus counter lives and dies with its
process, so a restart starts it again at zero, which ``rate()``/``increase()`` treat as a
counter reset: re-counting history a previous process already counted would add those
transitions a second time to any sum over time. The one gap this leaves is a process that
dies between storing an entry and reporting it (no statement runs between the two).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from controller.metrics import Metrics
from controller.reconcile.status import HistoryEntry
from controller.runtime.events import EventRecorder
from controller.runtime.informer import ObjectKey

_log = logging.getLogger("fogstrat.activestrategy")

COUNTED = ("failover", "failback")
"""History kinds with a counter of their own (``fogstrat_<kind>s_total``)."""
TIMED = ("start", "failover", "failback", "switch", "rollout")
"""History kinds that complete a transition: their duration is observed."""


def newer_than(history: Sequence[HistoryEntry], mark: HistoryEntry | None
               ) -> tuple[HistoryEntry, ...]:
    """The entries of ``history`` after ``mark`` (the newest already reported).

    ``mark`` missing from ``history``: it was replaced (a repeated ``degraded`` entry is
    updated in place) or pushed out of the bounded history; entries later than it are new.
    """
    if mark is None:
        return tuple(history)
    for i in range(len(history) - 1, -1, -1):
        if history[i] == mark:
            return tuple(history[i + 1:])
    return tuple(e for e in history if e.time > mark.time)


@dataclass
class Reported:
    """Per ActiveStrategy: the newest history entry reported or found already stored."""

    mark: HistoryEntry | None = None

    def found(self, history: Sequence[HistoryEntry]) -> None:
        """``history`` was read from the store: someone else stored (and reported) it."""
        self.mark = history[-1] if history else None

    def take(self, history: Sequence[HistoryEntry]) -> tuple[HistoryEntry, ...]:
        """``history`` was just stored by us: the entries to report now."""
        new = newer_than(history, self.mark)
        if history:
            self.mark = history[-1]
        return new


class HistoryReporter:
    """Counters, histogram, log line and Event of each newly stored history entry."""

    def __init__(self, metrics: Metrics, events: EventRecorder | None = None) -> None:
        self._metrics = metrics
        self._events = events

    def report(self, key: ObjectKey, entries: Sequence[HistoryEntry]) -> None:
        m = self._metrics
        ns, name = key.namespace, key.name
        for e in entries:
            if e.kind == "failover":
                m.record_failover(ns, name, e.from_ or "none", e.to or "none", e.reason,
                                  e.duration)
            elif e.kind == "failback":
                m.record_failback(ns, name, e.from_ or "none", e.to or "none", e.reason,
                                  e.duration)
            elif e.kind in TIMED and e.duration is not None:
                m.observe_transition(e.kind, e.duration, ns, name)
            warning = e.kind in ("aborted", "degraded")
            message = e.message or f"{e.kind} ({e.reason})"
            _log.log(logging.WARNING if warning else logging.INFO, "%s/%s: %s", ns, name,
                     message)
            if self._events is not None:
                self._events.record(key, "Warning" if warning else "Normal", e.reason, message)


@dataclass(frozen=True)
class Seen:
    """What a step's log sentence is told against: the last step's view of the strategy."""

    paused: bool = False
    pin: str | None = None
    unreachable: bool = False
    target: str | None = None
    """The architecture a transition under way goes to."""


def notices(before: Seen | None, now: Seen) -> list[tuple[str, str]]:
    """(reason, sentence) for changes no step message tells: the step after a resume, an
    unpin or the fog answering again reads like any steady step."""
    if before is None:
        return []
    out = []
    if before.paused and not now.paused:
        out.append(("Resumed", "resumed: spec.paused is false, reconciling again"))
    if before.pin is not None and now.pin is None:
        out.append(("Unpinned", f"unpinned from {before.pin}: automatic failover and "
                                "failback apply again"))
    if before.unreachable and not now.unreachable:
        out.append(("FogReachable", "fog reachable again"))
    return out
