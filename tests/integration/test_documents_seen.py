"""The informer's documents, parsed once per value: a value put back as it was (a pause
undone) is not decoded again, and any other value is parsed afresh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import kinds
from controller.runtime.documents import Documents, Parsed
from controller.runtime.informer import Informer, ObjectKey
from controller.store import Store
from controller.store.keys import spec_key
from tests.support.scenario import wait_for

KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")


def _doc(**spec: Any) -> bytes:
    return json.dumps({"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
                       "metadata": {"name": "web"},
                       "spec": {"strategy": "s", "environment": "e", **spec}}).encode()


@pytest.fixture
def docs(store: Store, prefix: str) -> Iterator[tuple[Documents, Informer]]:
    informer = Informer(store, prefix, lambda _change: None)
    informer.start()
    try:
        assert informer.wait_synced(10)
        yield Documents(informer), informer
    finally:
        informer.stop()


def _put(store: Store, prefix: str, informer: Informer, value: bytes) -> int:
    revision = store.put(spec_key(prefix, KEY.kind.plural, KEY.namespace, KEY.name), value)
    wait_for(lambda: _revision(informer) == revision, 5, "the informer to see the put")
    return revision


def _revision(informer: Informer) -> int:
    cached = informer.spec(KEY)
    return cached.mod_revision if cached is not None else 0


def _get(documents: Documents) -> Parsed:
    parsed = documents.get(KEY)
    assert parsed is not None
    return parsed


def test_a_value_put_back_reuses_its_parse_at_its_new_revision(
        docs: tuple[Documents, Informer], store: Store, prefix: str) -> None:
    documents, informer = docs
    first_rev = _put(store, prefix, informer, _doc(paused=True))
    first = _get(documents)
    _put(store, prefix, informer, _doc(paused=False))
    resumed = _get(documents)
    again_rev = _put(store, prefix, informer, _doc(paused=True))
    again = _get(documents)
    assert first.document is not None and resumed.document is not None
    assert again.document is first.document  # not decoded nor built again
    assert resumed.document.spec.paused is False  # type: ignore[union-attr]
    assert (first.revision, first.generation) == (first_rev, 1)
    assert (again.revision, again.generation) == (again_rev, 3)


def test_a_value_that_differs_anywhere_is_parsed_afresh(
        docs: tuple[Documents, Informer], store: Store, prefix: str) -> None:
    documents, informer = docs
    _put(store, prefix, informer, _doc(paused=True))
    valid = _get(documents)
    _put(store, prefix, informer, _doc(paused="yes"))
    invalid = _get(documents)
    assert valid.valid and not invalid.valid
    assert any("paused" in p for p in invalid.problems)
    _put(store, prefix, informer, _doc(paused=True, pin="b"))
    pinned = _get(documents)
    assert pinned.document is not None
    assert pinned.document.spec.pin == "b"  # type: ignore[union-attr]
