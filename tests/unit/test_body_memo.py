"""Equal bodies are validated and built once: a pause undone, or thousands of documents
differing by name alone, reuse the first check. A remembered check must never answer for
a body that differs from it anywhere, metadata aside, which is checked every time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.api import kinds, validation
from controller.api.memo import BoundedLru
from controller.runtime.documents import Parsed, parse_value
from controller.runtime.informer import ObjectKey

NAMES = st.sampled_from(["web", "a", "Bad_Name", "x" * 64, ""])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(
    ["", "a", "yes", "10s", "-1s", "Bad_Name", "http://127.0.0.1:1"]))
LABELS = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b/c", "-"]), SCALARS,
                                              max_size=2))


def _spec_field(names: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(st.sampled_from(names), st.one_of(SCALARS, NAMES, st.dictionaries(
        st.sampled_from(["a", "b"]), SCALARS, max_size=2)))


def _document(kind: str, base: dict[str, Any], names: list[str]) -> st.SearchStrategy[Any]:
    """A valid ``kind`` document's spec with some fields set to whatever, and metadata
    of names, labels and annotations of any validity."""
    return st.builds(
        lambda fields, name, labels, annotations, extra: {
            "apiVersion": "fogstrat.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, **({"labels": labels} if labels is not None else {}),
                         **({"annotations": annotations} if annotations is not None else {})},
            "spec": {**base, **dict(fields)}, **extra},
        st.lists(_spec_field(names), max_size=3), NAMES, LABELS, LABELS,
        st.sampled_from([{}, {"status": {}}, {"spec2": 1}]))


ACTIVE = _document("ActiveStrategy", {"strategy": "s", "environment": "e"},
                   ["paused", "serve", "pin", "strategy", "environment", "dataId",
                    "associationArgs", "other"])
ENVIRONMENT = _document("Environment", {"locator": "http://127.0.0.1:1"},
                        ["timeout", "agentTimeout", "driver", "locator", "info", "sysid",
                         "nodeLabels", "other"])


def _fresh(doc: dict[str, Any], revision: int) -> Parsed:
    """What a controller that never saw any other body parses ``doc`` to."""
    saved = validation._BODIES
    validation._BODIES = BoundedLru(8, 1 << 20, 1 << 16)
    try:
        return _parse(doc, revision)
    finally:
        validation._BODIES = saved


def _parse(doc: dict[str, Any], revision: int) -> Parsed:
    name = doc["metadata"]["name"] if isinstance(doc["metadata"]["name"], str) else "web"
    key = ObjectKey(kinds.by_kind(doc["kind"]), "default", name or "web")
    return parse_value(key, json.dumps(doc).encode(), revision, revision)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(ACTIVE, ENVIRONMENT), min_size=2, max_size=8))
def test_a_remembered_check_answers_only_for_its_own_body(docs: list[dict[str, Any]]) -> None:
    # each document parsed twice in turn, after all the others: every body is in the memo
    for revision, doc in enumerate(docs + docs, start=1):
        assert _parse(doc, revision) == _fresh(doc, revision)


@pytest.mark.parametrize("paused", [True, False])
def test_a_pause_undone_reuses_the_typed_spec(paused: bool) -> None:
    def doc(flag: bool) -> dict[str, Any]:
        return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
                "metadata": {"name": "web"},
                "spec": {"strategy": "s", "environment": "e", "paused": flag}}

    first, other, again = _parse(doc(paused), 1), _parse(doc(not paused), 2), _parse(
        doc(paused), 3)
    assert first.document is not None and other.document is not None
    assert again.document is not None
    assert again.document.spec is first.document.spec  # not built again
    assert other.document.spec.paused is not paused  # type: ignore[union-attr]
    assert (again.revision, again.generation) == (3, 3)


def test_metadata_is_checked_for_every_document_with_a_remembered_body() -> None:
    good = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
            "metadata": {"name": "web", "labels": {"tier": "a"}},
            "spec": {"strategy": "s", "environment": "e"}}
    bad = {**good, "metadata": {"name": "web", "labels": {"tier": 1}}}
    assert _parse(good, 1).valid
    parsed = _parse(bad, 2)
    assert not parsed.valid
    assert any("metadata.labels" in p for p in parsed.problems)
    named = _parse({**good, "metadata": {"name": "web", "labels": {"tier": "b"}}}, 3)
    assert named.document is not None
    assert named.document.metadata.labels == {"tier": "b"}
