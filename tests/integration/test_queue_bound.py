"""The work queue between the etcd watch and the workers holds a bounded number of keys:
a change that finds it full waits on the watch's thread, so nothing more is read from
etcd (which keeps the events) until a worker takes a key, and no event is lost
(controller/runtime/manager.py, workqueue.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from controller.api import kinds
from controller.metrics import Metrics
from controller.runtime.documents import Documents
from controller.runtime.informer import Change, Informer, ObjectKey
from controller.runtime.leader import LeaderElector
from controller.runtime.manager import Manager
from controller.runtime.workqueue import WorkQueue
from controller.store import Store
from controller.store.keys import leader_key, spec_key
from tests.support.scenario import wait_for

pytestmark = pytest.mark.integration


def test_a_producer_waits_for_room_and_shutdown_releases_it() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in "abc":
        queue.add(key)
    queued = threading.Event()

    def produce() -> None:
        queue.wait_for_room(3)
        queue.add("d")
        queued.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert not queued.wait(0.3)  # three keys ready: it waits
    assert queue.ready == 3
    assert queue.get(timeout=1) == "a"  # room again
    assert queued.wait(5) and queue.ready == 3
    producer.join(5)
    blocked = threading.Thread(target=queue.wait_for_room, args=(1,), daemon=True)
    blocked.start()
    queue.shutdown()
    blocked.join(5)
    assert not blocked.is_alive()


def test_a_flood_of_fresh_keys_holds_the_queue_at_its_limit(store: Store,
                                                            prefix: str) -> None:
    holder: list[Manager] = []

    def on_change(change: Change) -> None:
        holder[0].on_change(change)

    informer = Informer(store, prefix, on_change)
    elector = LeaderElector(store, leader_key(prefix), "test", 3)
    manager = Manager(informer=informer, documents=Documents(informer), elector=elector,
                      metrics=Metrics(), reconcilers={})  # no worker takes anything
    manager.max_queued_changes = 5
    holder.append(manager)
    informer.start()
    try:
        assert informer.wait_synced(10)
        names = [f"s{i}" for i in range(8)]
        for name in names:
            store.put(spec_key(prefix, "strategies", "default", name), b"{}")
        keys = [ObjectKey(kinds.STRATEGY, "default", n) for n in names]
        wait_for(lambda: manager.queue.ready == 5, 10, "the queue full")
        # the sixth change is filed and waits for room; the seventh is not read yet
        wait_for(lambda: informer.spec(keys[5]) is not None, 10, "the sixth filed")
        assert not wait_for_quietly(lambda: informer.spec(keys[6]) is not None, 0.5)
        assert manager.queue.ready == 5
        taken: list[ObjectKey] = []
        while len(taken) < 8:
            key = manager.queue.get(timeout=10)
            assert key is not None, f"only {taken}"
            taken.append(key)
            manager.queue.done(key)
            assert manager.queue.ready <= 5
        assert taken == keys
    finally:
        manager.queue.shutdown()
        informer.stop()


def wait_for_quietly(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether ``condition`` came true within ``seconds`` (False is the expected answer)."""
    pause = threading.Event()
    for _ in range(max(1, int(seconds / 0.02))):
        if condition():
            return True
        pause.wait(0.02)
    return condition()
