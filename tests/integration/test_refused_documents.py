"""A refused (invalid) document costs the controller a small record, not its bytes: once
parsed, the informer keeps only why it was refused, and that reason is bounded however
many problems the document has (controller/runtime/documents.py, informer.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.api import kinds
from controller.api.limits import limits, summarize
from controller.runtime.documents import Documents
from controller.runtime.informer import Change, Informer, ObjectKey
from controller.store import Store
from controller.store.keys import spec_key
from tests.support.scenario import wait_for

HEADER = "apiVersion: fogstrat.io/v1alpha1\nkind: Environment\nmetadata: {{name: {name}}}\n"


def unknown_fields(name: str, fields: int, width: int = 10) -> bytes:
    """An Environment with ``fields`` fields the schema does not know: one problem each."""
    return (HEADER.format(name=name) + "spec:\n  locator: http://127.0.0.1:1\n" +
            "".join(f"  f{i}: '{'x' * width}'\n" for i in range(fields))).encode()


@pytest.fixture
def docs(store: Store, prefix: str) -> Iterator[tuple[Informer, Documents]]:
    # Parsed on the watch thread as the controller's manager does for every spec change.
    holder: list[Documents] = []

    def on_change(change: Change) -> None:
        if change.family == "spec" and change.value is not None:
            holder[0].get(change.key)

    informer = Informer(store, prefix, on_change)
    holder.append(Documents(informer))
    informer.start()
    try:
        assert informer.wait_synced(10)
        yield informer, holder[0]
    finally:
        informer.stop()


def key(name: str) -> ObjectKey:
    return ObjectKey(kinds.ENVIRONMENT, "default", name)


def test_a_refused_document_is_kept_as_its_reason_alone(
        store: Store, prefix: str, docs: tuple[Informer, Documents]) -> None:
    informer, documents = docs
    value = unknown_fields("big", 2_000, width=100)  # about 220 KB, under the size limit
    assert len(value) < limits().max_document_bytes
    revision = store.put(spec_key(prefix, "environments", "default", "big"), value)
    wait_for(lambda: (c := informer.spec(key("big"))) is not None and c.refusal is not None,
             10, "the refusal in the cache")
    cached = informer.spec(key("big"))
    assert cached is not None and cached.value == b"" and cached.mod_revision == revision
    assert informer.held_bytes() < 1_000
    parsed = documents.get(key("big"))
    assert parsed is not None and not parsed.valid and parsed.reason == "InvalidSpec"
    assert parsed.revision == revision and parsed.generation == 1
    # the same answer from the record alone, as a restarted Documents would read it
    again = Documents(informer).get(key("big"))
    assert again is not None and again.problems == parsed.problems
    assert again.message == parsed.message and "f0" in parsed.message


def test_a_document_of_thousands_of_problems_keeps_a_bounded_few(
        store: Store, prefix: str, docs: tuple[Informer, Documents]) -> None:
    documents = docs[1]
    store.put(spec_key(prefix, "environments", "default", "many"), unknown_fields("many",
                                                                                  5_000))
    wait_for(lambda: (p := documents.get(key("many"))) is not None and not p.valid, 10,
             "the document refused")
    parsed = documents.get(key("many"))
    assert parsed is not None
    assert sum(len(p) for p in parsed.problems) <= limits().max_message_chars
    assert parsed.problems[-1].startswith("… and ") and "more problem(s)" in parsed.problems[-1]
    shown = len(parsed.problems) - 1
    assert f"… and {5_000 - shown} more problem(s)" == parsed.problems[-1]
    # the status message shows all of them, the count of the others included
    assert summarize(parsed.problems) == "; ".join(parsed.problems)


def test_a_churn_of_large_invalid_documents_holds_no_bytes_of_them(
        store: Store, prefix: str, docs: tuple[Informer, Documents]) -> None:
    informer, documents = docs
    names = [f"junk-{i}" for i in range(40)]
    for name in names:  # 40 x 110 KB of invalid documents, all live at once
        store.put(spec_key(prefix, "environments", "default", name),
                  unknown_fields(name, 1_000, width=100))
    wait_for(lambda: all((c := informer.spec(key(n))) is not None and c.refusal is not None
                         for n in names), 20, "every document refused")
    assert informer.held_bytes() == 0
    assert all(not p.valid for p in documents.all(kinds.ENVIRONMENT))


def test_a_valid_document_keeps_its_value_and_a_later_fix_replaces_the_refusal(
        store: Store, prefix: str, docs: tuple[Informer, Documents]) -> None:
    informer, documents = docs
    where = spec_key(prefix, "environments", "default", "fixed")
    store.put(where, unknown_fields("fixed", 3))
    wait_for(lambda: (c := informer.spec(key("fixed"))) is not None and c.refusal is not None,
             10, "the refusal in the cache")
    fixed = unknown_fields("fixed", 0)
    store.put(where, fixed)
    wait_for(lambda: (p := documents.get(key("fixed"))) is not None and p.valid, 10,
             "the fix parsed")
    cached = informer.spec(key("fixed"))
    assert cached is not None and cached.refusal is None and cached.value == fixed
