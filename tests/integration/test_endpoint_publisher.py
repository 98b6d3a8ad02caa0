"""The endpoint key on real etcd: written only on change, read once by a new leader, fenced
on the leader key, removed with its strategy."""

from __future__ import annotations

import json

import pytest

from controller.api import kinds
from controller.runtime.endpoints import EndpointPublisher
from controller.runtime.informer import ObjectKey
from controller.store import Fence, NotLeader, Store
from controller.store.keys import endpoint_key, leader_key

pytestmark = pytest.mark.integration

KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")
MAIN = {"url": "http://10.0.0.1:8080/", "architecture": "main", "serving": True,
        "since": "2026-12-03T08:00:00.000Z"}
NOTHING = {"url": None, "architecture": None, "serving": False,
           "since": "2026-12-03T08:01:00.000Z"}


def _leader(store: Store, prefix: str, who: str) -> Fence:
    lead = store.campaign(leader_key(prefix), who, ttl=10)
    assert lead is not None
    return lead.fence


def _stored(store: Store, prefix: str) -> object:
    rec = store.get(endpoint_key(prefix, "default", "web"))
    return None if rec is None else json.loads(rec.value)


def test_written_on_change_only_and_removed(store: Store, prefix: str) -> None:
    fence = _leader(store, prefix, "a")
    pub = EndpointPublisher(store, prefix, lambda: fence)
    pub.publish(KEY, None, None)  # no endpoint ever: no read, no write
    assert pub.writes == 0 and _stored(store, prefix) is None
    pub.publish(KEY, MAIN, None)
    revision = store.revision()
    pub.publish(KEY, dict(MAIN), MAIN)
    assert pub.writes == 1 and store.revision() == revision
    pub.publish(KEY, NOTHING, MAIN)
    assert pub.writes == 2 and _stored(store, prefix) == NOTHING
    pub.remove(KEY)
    assert _stored(store, prefix) is None


def test_a_new_leader_reads_the_key_once_instead_of_writing_it_again(
        store: Store, prefix: str) -> None:
    fence = _leader(store, prefix, "a")
    EndpointPublisher(store, prefix, lambda: fence).publish(KEY, MAIN, None)
    revision = store.revision()
    successor = EndpointPublisher(store, prefix, lambda: fence)
    successor.publish(KEY, MAIN, MAIN)
    assert successor.writes == 0 and store.revision() == revision


def test_a_deposed_leader_cannot_point_consumers_anywhere(store: Store, prefix: str) -> None:
    lead = store.campaign(leader_key(prefix), "a", ttl=10)
    assert lead is not None
    old = lead.fence
    pub = EndpointPublisher(store, prefix, lambda: old)
    pub.publish(KEY, MAIN, None)
    lead.resign()
    new = _leader(store, prefix, "b")
    with pytest.raises(NotLeader):
        pub.publish(KEY, NOTHING, MAIN)
    assert _stored(store, prefix) == MAIN
    EndpointPublisher(store, prefix, lambda: new).publish(KEY, NOTHING, MAIN)
    assert _stored(store, prefix) == NOTHING
