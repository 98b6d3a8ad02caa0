"""The work queue's guarantees: dedup, one worker per key, backoff, delays."""

from __future__ import annotations

import threading
import time

from controller.runtime.workqueue import WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_add_is_deduplicated() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(0) == "a"
    assert q.get(0) == "b"
    assert q.get(0) is None


def test_key_added_while_processing_is_requeued_on_done_not_before() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")
    assert q.get(0) is None, "a second worker must not get a key being processed"
    q.done("a")
    assert q.get(0) == "a"
    q.done("a")
    assert q.get(0) is None


def test_add_after_waits_for_the_delay_and_earliest_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 5)
    q.add_after("a", 20)
    assert len(q) == 1
    assert q.get(0) is None
    clock.now += 5
    assert q.get(0) == "a"


def test_add_now_supersedes_a_pending_delay() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 30)
    q.add("a")
    assert q.get(0) == "a"
    q.done("a")
    clock.now += 31
    assert q.get(0) is None, "the superseded delayed add must not fire again"


def test_rate_limited_backoff_doubles_up_to_the_cap_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=1, max_delay=8, clock=FakeClock())
    delays = [q.add_rate_limited("a") for _ in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert q.retries == 6
    q.forget("a")
    assert q.add_rate_limited("a") == 1


def test_blocking_get_wakes_for_a_delayed_key_and_on_shutdown() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.05)
    assert q.get(timeout=2) == "a"
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    time.sleep(0.05)
    q.shutdown()
    t.join(2)
    assert got == [None]


def test_no_two_workers_hold_the_same_key_under_contention() -> None:
    q: WorkQueue[int] = WorkQueue()
    holding: set[int] = set()
    lock = threading.Lock()
    violations: list[int] = []
    processed = 0

    def worker() -> None:
        nonlocal processed
        while (key := q.get(timeout=0.5)) is not None:
            with lock:
                if key in holding:
                    violations.append(key)
                holding.add(key)
            time.sleep(0.001)
            with lock:
                holding.discard(key)
                processed += 1
            q.done(key)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(400):
        q.add(i % 5)
    for t in threads:
        t.join(10)
    assert violations == []
    assert processed >= 5


def _take(q: WorkQueue[str], out: list[str | None]) -> threading.Thread:
    t = threading.Thread(target=lambda: out.append(q.get(timeout=30)), daemon=True)
    t.start()
    return t


def test_a_key_added_while_the_only_idle_worker_waits_on_the_timer_is_taken() -> None:
    """The worker waiting for a far delayed key must still take a key that is ready now."""
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add_after("later", 1000.0)
    got: list[str | None] = []
    worker = _take(q, got)
    time.sleep(0.1)  # the worker now holds the timer (1000 s away)
    q.add("now")
    worker.join(5)
    assert got == ["now"]


def test_an_earlier_delay_wakes_the_timer() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("later", 1000.0)
    got: list[str | None] = []
    worker = _take(q, got)
    time.sleep(0.1)  # the worker now waits for "later"
    q.add_after("sooner", 0.05)  # the timer must re-read what is due first
    worker.join(5)
    assert got == ["sooner"]


def test_many_workers_take_every_delayed_key_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    keys = [f"k{i}" for i in range(300)]
    for i, key in enumerate(keys):
        q.add_after(key, 0.001 * (i % 50))
    got: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while (key := q.get(timeout=0.5)) is not None:
            with lock:
                got.append(key)
            q.done(key)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert sorted(got) == sorted(keys)
