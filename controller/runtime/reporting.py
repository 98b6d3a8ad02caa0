"""Reporting transitions from the stored status history: each entry is told exactly once.

The history in an ActiveStrategy's status is the record of what happened. Counters, the
duration histogram, the INFO log sentence and the Event are derived from it, not from the
step that made an entry: the step that completes a transition is not always the step that
stores it (a step that only asks for probes leaves its write to the next one; a write in
flight may fail; a batch may be cut short by a fog error). Reporting at the write that
stores an entry covers every one of those paths.

Across a crash: an entry is stored together with the count of entries not yet reported
(``unreportedHistory``); the reporter then counts and logs them, writes their Events
(each naming its entry, so writing one twice stores it once) and only then stores the
status again without that count. A controller that finds unreported entries in a stored
status -- its predecessor died before finishing -- reports them itself: a dead process's
report is never lost. Entries found reported are not counted again: a Prometheus counter
lives and dies with its process, a restart starts it at zero (``rate()``/``increase()``
see a counter reset), and re-counting what a predecessor counted would add those
transitions twice to any sum over time. A predecessor that died after counting but
before storing the mark leaves its entries to be counted again by its successor; its own
count died with it, so only a scrape that fell in that window (one etcd write) sees both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from controller.metrics import Metrics
from controller.reconcile.status import HistoryEntry
from controller.reconcile.times import rfc3339
from controller.runtime.crashpoints import crash_point
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
    """Per ActiveStrategy: how far the history is counted, and how far its report (the
    Events, then the mark in the status) is stored."""

    counted: HistoryEntry | None = None
    """The newest entry counted and logged (by us, or found reported)."""
    settled: HistoryEntry | None = None
    """The newest entry whose report is complete in the store."""

    def found(self, history: Sequence[HistoryEntry], unreported: Sequence[HistoryEntry]
              ) -> tuple[HistoryEntry, ...]:
        """``history`` was read from the store, ``unreported`` its newest entries that no
        one reported: those are to be counted now; the rest were told by whoever stored
        them."""
        fresh = tuple(unreported)
        if self.counted is not None:  # (this process counted some of them before it read
            # them back: when it was the leader before, or its Event write failed)
            counted = _millis(self.counted.time)
            fresh = tuple(e for e in unreported if _millis(e.time) > counted)
        settled = len(history) - len(unreported)
        self.counted = history[-1] if history else None
        self.settled = history[settled - 1] if settled > 0 else None
        return fresh

    def take(self, history: Sequence[HistoryEntry]) -> tuple[HistoryEntry, ...]:
        """``history`` is being stored by us: the entries to count now."""
        new = newer_than(history, self.counted)
        if history:
            self.counted = history[-1]
        return new

    def pending(self, history: Sequence[HistoryEntry]) -> tuple[HistoryEntry, ...]:
        """The entries of ``history`` whose report is not complete in the store."""
        return newer_than(history, self.settled)

    def settle(self, history: Sequence[HistoryEntry]) -> None:
        """The report of all of ``history`` is stored."""
        self.settled = history[-1] if history else None


def _millis(seconds: float) -> int:
    """A time as stored (milliseconds): an entry read back compares equal to itself."""
    return round(seconds * 1000)


def occurrence(entry: HistoryEntry) -> str:
    """The name of a history entry's report: its kind and time (one entry per kind and
    instant: a decision appends at most one of a kind)."""
    return f"{entry.kind}@{rfc3339(entry.time)}"


class HistoryReporter:
    """Counters, histogram, log line and Event of each newly stored history entry."""

    def __init__(self, metrics: Metrics, events: EventRecorder | None = None) -> None:
        self._metrics = metrics
        self._events = events

    def count(self, key: ObjectKey, entries: Sequence[HistoryEntry]) -> None:
        """Counters, histogram and log line: once per entry and process."""
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
            _log.log(logging.WARNING if _warning(e) else logging.INFO, "%s/%s: %s", ns, name,
                     _message(e))
        if entries:
            crash_point("history-counted", entries[-1].kind)

    def tell(self, key: ObjectKey, entries: Sequence[HistoryEntry]) -> bool:
        """Write the Event of each entry now; False if one could not be written (the
        entries stay unreported and are told again with the next write)."""
        if self._events is None:
            return True
        ok = True
        for e in entries:
            ok = self._events.write_now(key, "Warning" if _warning(e) else "Normal", e.reason,
                                        _message(e), occurrence(e)) and ok
        if entries and ok:
            crash_point("history-reported", entries[-1].kind)
        return ok


def _warning(e: HistoryEntry) -> bool:
    return e.kind in ("aborted", "degraded")


def _message(e: HistoryEntry) -> str:
    return e.message or f"{e.kind} ({e.reason})"


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
