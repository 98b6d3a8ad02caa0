"""fog05's YAKS feed buffer: coalesced by path, bounded, resumable only from its own cursor."""

from __future__ import annotations

import json

from controller.fog import fog05_compat
from controller.fog.client import FeedCursor, FogChangeKind
from controller.fog.fog05_feed import YaksFeed, parse_taken

fog05_compat.install_collections_shim()
from yaks.encoding import Encoding  # noqa: E402 - needs the shim first
from yaks.value import Change, ChangeKind, Value  # noqa: E402

BASE = "/agfos/0/tenants/0"


def put(path: str, record: dict[str, object]) -> Change:
    return Change(path, ChangeKind.PUT, None, Value(json.dumps(record), encoding=Encoding.STRING))


def removed(path: str) -> Change:
    return Change(path, ChangeKind.REMOVE, None, None)


def status(node: str, free: float) -> dict[str, object]:
    return {"uuid": node, "ram": {"total": 100.0, "free": free}, "disk": []}


def test_a_record_changed_many_times_is_taken_once_as_it_is_last() -> None:
    feed = YaksFeed(BASE)
    path = f"{BASE}/nodes/n1/status"
    for free in (90.0, 80.0, 70.0):
        feed.on_changes([put(path, status("n1", free))])
    cursor = feed.relisted()
    assert feed.resumes(cursor)
    taken = feed.take(0)
    assert taken is not None
    changes = parse_taken(BASE, taken[1])
    assert [(c.kind, c.id, c.node.ram_free_mb if c.node else None) for c in changes] == [
        (FogChangeKind.NODE, "n1", 70.0)]
    assert taken[0].revision == 3 and feed.resumes(taken[0])
    assert not feed.resumes(cursor)  # that answer was given: going back must list again


def test_a_node_down_is_one_change_and_unknown_paths_are_ignored() -> None:
    feed = YaksFeed(BASE)
    feed.on_changes([removed(f"{BASE}/nodes/n1/info"), removed(f"{BASE}/nodes/n1/status"),
                     put(f"{BASE}/nodes/n1/plugins/x/info", {})])
    taken = feed.take(0)
    assert taken is not None
    assert [(c.id, c.gone) for c in parse_taken(BASE, taken[1])] == [("n1", True)]


def test_the_buffer_is_bounded_and_a_reader_lists_again_past_it() -> None:
    feed = YaksFeed(BASE, max_pending=10)
    cursor = feed.relisted()
    for i in range(1000):
        feed.on_changes([removed(f"{BASE}/nodes/n{i}/info")])
    assert len(feed._pending) <= 10
    assert not feed.resumes(cursor)
    assert feed.take(0) is None  # changes were dropped: only a listing is exact
    again = feed.relisted()
    assert feed.resumes(again)


def test_a_cursor_of_another_subscription_does_not_resume() -> None:
    feed = YaksFeed(BASE)
    assert not feed.resumes(FeedCursor("other", 0))
    assert feed.resumes(FeedCursor(feed.epoch, 0))
