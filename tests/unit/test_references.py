"""The reference index (who names what) and the remembered inputs of an ActiveStrategy."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from controller.api import kinds
from controller.api.kinds import Kind
from controller.api.parse import parse_document
from controller.runtime.informer import ObjectKey
from controller.runtime.references import DataRef, ReferenceIndex, refers_to
from controller.runtime.remembered import (
    MAX_REMEMBERED_BYTES,
    LastValid,
    Remembered,
    stored_revisions,
)

NS = "default"


def key(kind: Kind, name: str) -> ObjectKey:
    return ObjectKey(kind, NS, name)


def strategy(*archs: str) -> dict[str, Any]:
    return {"spec": {"main": {"architecture": archs[0]},
                     "replacements": [{"architecture": a} for a in archs[1:]]}}


def active(st: str, env: str, data_id: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"strategy": st, "environment": env}
    if data_id:
        spec["dataId"] = data_id
    return {"spec": spec}


def data(arch: str, data_id: str) -> dict[str, Any]:
    return {"spec": {"architecture": arch, "dataId": data_id}}


ARCH, ST, AS, AD, ENV = (kinds.ARCHITECTURE, kinds.STRATEGY, kinds.ACTIVE_STRATEGY,
                         kinds.ARCHITECTURE_DATA, kinds.ENVIRONMENT)


def test_an_architecture_reaches_its_strategies_and_their_actives_transitively() -> None:
    index = ReferenceIndex()
    assert index.update(key(ST, "web"), strategy("main", "backup")) == set()
    assert index.update(key(AS, "run"), active("web", "lab")) == set()
    index.update(key(AS, "other"), active("elsewhere", "lab"))
    assert index.update(key(ARCH, "backup"), {"spec": {}}) == {key(ST, "web"), key(AS, "run")}
    assert index.update(key(ENV, "lab"), None) == {key(AS, "run"), key(AS, "other")}
    assert index.update(key(ARCH, "unnamed"), {"spec": {}}) == set()


def test_an_edit_that_stops_naming_a_document_is_followed() -> None:
    index = ReferenceIndex()
    index.update(key(ST, "web"), strategy("main", "backup"))
    index.update(key(ST, "web"), strategy("main"))
    assert index.update(key(ARCH, "backup"), {"spec": {}}) == set()
    assert index.update(key(ARCH, "main"), {"spec": {}}) == {key(ST, "web")}


def test_architecture_data_is_named_by_data_id_before_and_after_an_edit() -> None:
    index = ReferenceIndex()
    index.update(key(AS, "one"), active("web", "lab", "d1"))
    index.update(key(AS, "two"), active("web", "lab", "d2"))
    assert index.update(key(AD, "x"), data("main", "d1")) == {key(AS, "one")}
    # Moving to another dataId concerns whoever used the old one and the new one.
    assert index.update(key(AD, "x"), data("main", "d2")) == {key(AS, "one"), key(AS, "two")}
    assert index.update(key(AD, "x"), None) == {key(AS, "two")}


def test_deleted_documents_leave_nothing_in_the_index() -> None:
    index = ReferenceIndex()
    for i in range(100):
        index.update(key(ST, f"s{i}"), strategy(f"a{i}", "shared"))
        index.update(key(AS, f"r{i}"), active(f"s{i}", "lab", "d"))
    assert len(index) == 200
    for i in range(100):
        index.update(key(ST, f"s{i}"), None)
        index.update(key(AS, f"r{i}"), None)
    assert len(index) == 0
    assert index.update(key(ARCH, "shared"), {"spec": {}}) == set()


def test_any_shape_reads_without_error() -> None:
    shapes: list[Any] = [None, 3, "x", [], {"spec": []}, {"spec": {"main": 1, "replacements": "x"}},
                {"spec": {"main": {"architecture": ["a"]}, "replacements": [None, {}]}},
                {"spec": {"strategy": {}, "environment": "", "dataId": 7}}]
    for raw in shapes:
        for kind in (ST, AS, AD, ARCH, ENV):
            assert refers_to(kind, NS, raw) == frozenset()
    assert refers_to(AS, NS, active("s", "e", "d")) == {key(ST, "s"), key(ENV, "e"),
                                                        DataRef(NS, "d")}


# --- remembered inputs ---------------------------------------------------------------------


def remembered(kind: Kind, name: str, spec: dict[str, Any], generation: int = 7) -> Remembered:
    doc = parse_document({"apiVersion": kinds.API_VERSION, "kind": kind.kind,
                          "metadata": {"name": name, "namespace": NS}, "spec": spec})
    return Remembered(name, generation, doc)


ENTITY = {"name": "web", "fdu": {"name": "web", "hypervisor": "BARE",
                                 "command": {"binary": "/bin/true"}}}


def last_valid(description: str = "") -> LastValid:
    arch_spec: dict[str, Any] = {"entities": [ENTITY]}
    if description:
        arch_spec["description"] = description
    return LastValid(
        active=remembered(AS, "run", {"strategy": "web", "environment": "lab"}, 3),
        strategy=remembered(ST, "web", strategy("main")["spec"]),
        environment=remembered(ENV, "lab", {"driver": "fogsim", "locator": "http://x"}),
        architectures={"main": remembered(ARCH, "main", arch_spec, 11)},
        data={"main": remembered(AD, "main-data", data("main", "d")["spec"], 5)})


def test_remembered_inputs_read_back_as_the_same_documents() -> None:
    last = last_valid()
    stored = last.stored
    assert stored is not None and stored is last.stored  # built once
    again = LastValid.from_json(NS, json.loads(json.dumps(stored)))
    assert again is not None
    assert again.architectures["main"].generation == 11
    assert again.architectures["main"].document.spec == last.architectures["main"].document.spec
    assert again.environment.document.spec == last.environment.document.spec
    assert again.active.generation == 3
    assert again.data["main"].name == "main-data" and again.data["main"].generation == 5
    # Told apart from another version by generations alone, in memory or as stored.
    assert stored_revisions(json.loads(json.dumps(stored))) == last.revisions == again.revisions
    assert ["environment", "lab", 7] in stored["revisions"]
    # What the user wrote, not the defaults filled in, compressed.
    specs = json.loads(zlib.decompress(base64.b64decode(stored["specs"])))
    assert specs["environment"]["spec"] == {"driver": "fogsim", "locator": "http://x"}
    assert len(json.dumps(stored)) < len(json.dumps(last.to_json()))


def test_remembered_inputs_that_no_longer_read_are_none() -> None:
    stored = last_valid().stored
    assert stored is not None

    def packed(value: Any) -> dict[str, Any]:
        text = value if isinstance(value, bytes) else json.dumps(value).encode()
        return {**stored, "specs": base64.b64encode(zlib.compress(text)).decode()}

    good = last_valid().to_json()
    bomb = {**stored, "specs": base64.b64encode(zlib.compress(b" " * (1 << 24))).decode()}
    shapes: list[Any] = [
        None, [], {}, {**stored, "encoding": "gzip"}, {**stored, "specs": "not base64!"},
        {**stored, "specs": base64.b64encode(b"not zlib").decode()}, bomb,
        {**stored, "specs": stored["specs"][:-8]}, packed([]), packed(b"[" * 200_000),
        packed({**good, "strategy": {"name": "web", "spec": {}}}),
        packed({**good, "architectures": {"main": {"name": "main", "generation": 1,
                                                   "spec": {"entities": 3}}}}),
        packed({**good, "data": []})]
    for broken in shapes:
        assert LastValid.from_json(NS, broken) is None
    assert LastValid.from_json(NS, packed(good)) is not None
    for revisions in (None, "x", [["a", "b"]], [["a", "b", "1"]], [[1, "b", 2]]):
        assert stored_revisions({"revisions": revisions}) == ()


def test_too_large_inputs_are_not_remembered() -> None:
    one = remembered(ARCH, "a", {"entities": [ENTITY], "description": "x" * 1000})
    count = MAX_REMEMBERED_BYTES // 1000 + 1
    last = last_valid()
    big = LastValid(last.active, last.strategy, last.environment,
                    {f"a{i}": one for i in range(count)}, {})
    assert big.stored is None
    assert last.stored is not None
