"""The status writer on a real etcd: it writes only what changed beyond the volatile probe
fields, compared with its own last write or, when someone else wrote since, with what
the store holds; every write is compare-and-swap and fenced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import kinds
from controller.resources import Resources
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.store import Conflict, Store
from controller.store.keys import status_key
from tests.support.scenario import wait_for

KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")


def status(phase: str, probe_time: str) -> dict[str, Any]:
    return {"phase": phase, "architectures": {"web-main": {
        "state": "served", "lastProbeTime": probe_time, "consecutiveSuccesses": 1}}}


@pytest.fixture
def writer(store: Store, prefix: str) -> Iterator[StatusWriter]:
    informer = Informer(store, prefix, lambda _change: None)
    informer.start()
    try:
        assert informer.wait_synced(10)
        yield StatusWriter(Resources(store, prefix), informer, lambda: None)
    finally:
        informer.stop()


def stored(store: Store, prefix: str) -> tuple[dict[str, Any], int]:
    rec = store.get(status_key(prefix, KEY.kind.plural, KEY.namespace, KEY.name))
    assert rec is not None
    return json.loads(rec.value), rec.mod_revision


def test_only_significant_changes_are_written(writer: StatusWriter, store: Store,
                                              prefix: str) -> None:
    assert writer.write(KEY, status("Serving", "2026-12-03T08:00:00.000Z"))
    first, revision = stored(store, prefix)
    assert writer.revision(KEY) == revision
    # a later probe time alone: nothing to write
    assert not writer.write(KEY, status("Serving", "2026-12-03T08:00:10.000Z"))
    assert stored(store, prefix) == (first, revision)
    # a new phase: written, over the revision just written
    assert writer.write(KEY, status("Paused", "2026-12-03T08:00:20.000Z"))
    second, after = stored(store, prefix)
    assert second["phase"] == "Paused" and after > revision
    assert writer.writes == 2


def test_a_change_the_caller_vouches_for_is_written_and_remembered(
        writer: StatusWriter, store: Store, prefix: str) -> None:
    assert writer.write(KEY, status("Serving", "2026-12-03T08:00:00.000Z"))
    assert writer.write(KEY, status("Paused", "2026-12-03T08:00:10.000Z"), changed=True)
    written, revision = stored(store, prefix)
    assert written["phase"] == "Paused"
    # what it wrote is what the next write is compared with: a probe time alone is not news
    assert not writer.write(KEY, status("Paused", "2026-12-03T08:00:20.000Z"))
    assert stored(store, prefix) == (written, revision)
    assert writer.writes == 2


def test_after_someone_elses_write_it_compares_with_what_the_store_holds(
        writer: StatusWriter, store: Store, prefix: str) -> None:
    assert writer.write(KEY, status("Serving", "2026-12-03T08:00:00.000Z"))
    key = status_key(prefix, KEY.kind.plural, KEY.namespace, KEY.name)
    theirs = store.put(key, json.dumps(status("Degraded", "2026-12-03T08:00:05.000Z")).encode())
    wait_for(lambda: writer.revision(KEY) == theirs, 10, "their write in the cache")
    # equal to theirs but for the probe time: nothing to write
    assert not writer.write(KEY, status("Degraded", "2026-12-03T08:00:30.000Z"))
    assert stored(store, prefix)[1] == theirs
    # ours differs from theirs: written on top of theirs
    assert writer.write(KEY, status("Serving", "2026-12-03T08:00:30.000Z"))
    assert stored(store, prefix)[0]["phase"] == "Serving"


def test_a_compare_and_swap_put_returns_the_new_mod_revision(
        writer: StatusWriter, store: Store, prefix: str) -> None:
    """The revision a status write returns is the one the next write compares with."""
    assert writer.write(KEY, status("Serving", "2026-12-03T08:00:00.000Z"))
    _, revision = stored(store, prefix)
    assert writer.revision(KEY) == revision
    key = status_key(prefix, KEY.kind.plural, KEY.namespace, KEY.name)
    with pytest.raises(Conflict):  # the store moved on since that revision
        store.put(key, b"{}", expect_mod_revision=revision - 1)
    theirs = store.put(key, b"{}", expect_mod_revision=revision)
    assert stored(store, prefix) == ({}, theirs)
