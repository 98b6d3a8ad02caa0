"""Which history entries a write reports, and the sentences no step message tells."""

from __future__ import annotations

from controller.reconcile.status import HistoryEntry
from controller.runtime.reporting import Reported, Seen, newer_than, notices


def entry(t: float, kind: str = "failover", reason: str = "Vanished") -> HistoryEntry:
    return HistoryEntry(t, kind, "a", "b", reason, f"{kind} at {t}")  # type: ignore[arg-type]


def test_entries_after_the_mark_are_new() -> None:
    h = (entry(1), entry(2), entry(3))
    assert newer_than(h, None) == h
    assert newer_than(h, entry(2)) == (entry(3),)
    assert newer_than(h, entry(3)) == ()


def test_a_replaced_mark_counts_the_later_entries() -> None:
    # a repeated degraded entry is replaced in place: the old one is gone
    h = (entry(1), entry(5, "degraded", "NoCandidate"))
    assert newer_than(h, entry(4, "degraded", "NoCandidate")) == (h[1],)
    # and a mark pushed out of the bounded history
    assert newer_than((entry(7), entry(8)), entry(6)) == (entry(7), entry(8))


def test_found_history_is_not_reported_again() -> None:
    r = Reported()
    assert r.found((entry(1), entry(2)), ()) == ()  # what a previous process stored
    assert r.take((entry(1), entry(2))) == ()
    assert r.take((entry(1), entry(2), entry(3))) == (entry(3),)
    assert r.take((entry(1), entry(2), entry(3))) == ()  # a second write of the same


def test_nothing_found_reports_everything_stored() -> None:
    r = Reported()
    r.found((), ())
    assert r.take((entry(1),)) == (entry(1),)


def test_found_unreported_entries_are_counted_once_and_stay_pending() -> None:
    r = Reported()
    h = (entry(1), entry(2), entry(3))
    # a predecessor stored 2 and 3 but died before reporting them
    assert r.found(h, h[1:]) == h[1:]
    assert r.take(h) == ()  # counted now, by the finder: not again at the next write
    assert r.pending(h) == h[1:]  # their report is not stored until settled
    r.settle(h)
    assert r.pending(h) == ()
    assert r.pending((*h, entry(4))) == (entry(4),)


def test_unreported_entries_this_process_counted_are_not_counted_again() -> None:
    r = Reported()
    r.found((), ())
    ours = (entry(1.0004), entry(2.0006))
    assert r.take(ours) == ours  # counted; then read back (times as stored: milliseconds)
    stored = (entry(1.0), entry(2.001))
    assert r.found(stored, stored[1:]) == ()
    assert r.pending(stored) == stored[1:]


def test_all_of_a_found_history_can_be_unreported() -> None:
    r = Reported()
    h = (entry(1),)
    assert r.found(h, h) == h
    assert r.pending(h) == h


def test_entries_we_store_are_pending_until_settled() -> None:
    r = Reported()
    r.found((entry(1),), ())
    h = (entry(1), entry(2))
    assert r.take(h) == (entry(2),)
    assert r.pending(h) == (entry(2),)
    r.settle(h)
    assert r.take(h) == () and r.pending(h) == ()


def test_resume_unpin_and_the_fog_answering_again_are_told() -> None:
    assert notices(None, Seen(unreachable=True)) == []
    assert notices(Seen(paused=True), Seen()) == [
        ("Resumed", "resumed: spec.paused is false, reconciling again")]
    assert notices(Seen(pin="edge"), Seen()) == [
        ("Unpinned", "unpinned from edge: automatic failover and failback apply again")]
    assert notices(Seen(unreachable=True), Seen()) == [("FogReachable", "fog reachable again")]
    assert notices(Seen(), Seen(paused=True, pin="x", unreachable=True)) == []
