"""What the etcd watch holds of etcd's stream is bounded: a consumer slower than the
writers gets etcd's backlog in fragments of at most etcd's request limit, not a thousand
revisions in one response, and a stream broken between two fragments of one revision
resumes without losing or repeating an event (controller/store/etcd_watch.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controller.store import Store, WatchEvent, connect, keys
from controller.store.base import Write
from controller.store.etcd_watch import EtcdWatch
from tests.support.etcd import EtcdServer, assert_no_store_threads

pytestmark = pytest.mark.integration

FRAGMENT_LIMIT = 1_572_864 + 512 * 1024
"""The most one fragment of several events carries: etcd's default --max-request-bytes
and the 512 KiB it allows for gRPC's overhead (one event alone is at most the former)."""
VALUE = 200_000


class Collected:
    """Events handed on, slowly: every one waits for ``pace`` seconds."""

    def __init__(self, pace: float = 0.0) -> None:
        self.events: list[WatchEvent] = []
        self.cond = threading.Condition()
        self.pace = pace
        self.on_event: Any = None

    def deliver(self, event: WatchEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)
        threading.Event().wait(self.pace)
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n: int) -> list[WatchEvent]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= n, 60), (
                f"{len(self.events)} of {n} events")
            return list(self.events)


def test_a_backlog_comes_in_responses_of_at_most_the_request_limit(
        store: Store, prefix: str) -> None:
    root = keys.root_prefix(prefix)
    start = store.revision() + 1
    for i in range(60):  # 12 MB written before the watch starts: all of it one backlog
        store.put(f"{root}k{i:03d}", bytes([65 + i % 26]) * VALUE)
    got = Collected(pace=0.005)
    with store.watch(root, start, deliver=got.deliver) as w:
        events = got.wait(60)
        assert isinstance(w, EtcdWatch)
        assert 0 < w.max_response_bytes <= FRAGMENT_LIMIT
    assert [e.key for e in events] == [f"{root}k{i:03d}" for i in range(60)]
    assert [e.value[:1] for e in events] == [bytes([65 + i % 26]) for i in range(60)]
    assert_no_store_threads()


def test_a_stream_broken_inside_a_fragmented_revision_resumes_inside_it(
        fresh_etcd: EtcdServer, prefix: str) -> None:
    root = keys.root_prefix(prefix)
    with connect(fresh_etcd.endpoint) as store:
        start = store.revision() + 1
        store.put(f"{root}a", b"a" * 1_400_000)
        # one revision of five keys, which etcd splits across two fragments after "a"
        split = store.put_all([Write(f"{root}t{i}", bytes([48 + i]) * VALUE, 0)
                               for i in range(5)])
        store.put(f"{root}z", b"z")
        got = Collected()
        broken, watching = threading.Event(), threading.Event()
        holder: list[EtcdWatch] = []

        def break_once(event: WatchEvent) -> None:
            if event.mod_revision == split and not broken.is_set():
                broken.set()  # the stream breaks once the first of them was handed on
                assert watching.wait(10)
                call = holder[0]._call
                assert call is not None
                call.cancel()

        got.on_event = break_once
        w = store.watch(root, start, deliver=got.deliver)
        assert isinstance(w, EtcdWatch)
        holder.append(w)
        watching.set()
        try:
            events = got.wait(7)
            assert broken.is_set()
            assert [(e.key, e.mod_revision) for e in events] == (
                [(f"{root}a", start)] + [(f"{root}t{i}", split) for i in range(5)] +
                [(f"{root}z", split + 1)])
            with got.cond:  # nothing handed on twice
                assert not got.cond.wait_for(lambda: len(got.events) > 7, 1.0)
            # etcd sent the 2.4 MB backlog in fragments: the break fell between two of them
            assert 0 < w.max_response_bytes <= FRAGMENT_LIMIT
        finally:
            w.close()
    assert_no_store_threads()
