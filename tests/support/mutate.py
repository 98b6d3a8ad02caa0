"""A deterministic corpus of broken documents, grown from the valid examples.

Each document starts as one of ``deploy/examples/``'s documents and gets one *primary*
mutation (chosen in turn, so every kind of damage appears in any corpus of a few dozen
documents), sometimes with extra structural damage on top. Everything is a pure function of
the seed: the same seed gives byte-identical documents, so a failure found once is found
again.

``must_fail`` marks documents no controller may accept (random bytes, a wrong kind, an alias
bomb, 600+ levels of nesting, ...); the others may be valid or not, but each must get an
answer all the same.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"

PLURALS = {"Environment": "environments", "Architecture": "architectures",
           "ArchitectureData": "architecturedata", "Strategy": "strategies",
           "ActiveStrategy": "activestrategies"}

# "Billion laughs": nine levels of nine references each, a few hundred bytes that expand to
# 9**9 strings in anything that walks the loaded structure.
ALIAS_BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi",
                                                                strict=True)),
]) + "\n"

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class CorpusDoc:
    """One document to write raw at ``<prefix>/<plural>/<namespace>/<name>``."""

    plural: str
    name: str
    value: bytes
    mutation: str
    must_fail: bool


def load_examples(directory: Path = EXAMPLES) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return docs


# --- where in a document -----------------------------------------------------------------

Path_ = tuple[str | int, ...]


def paths(node: Any, here: Path_ = ()) -> Iterator[Path_]:
    """Every path below the root (mapping keys and list indexes)."""
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    for key, child in items:
        yield (*here, key)
        yield from paths(child, (*here, key))


def _parent(doc: Any, path: Path_) -> Any:
    node = doc
    for step in path[:-1]:
        node = node[step]
    return node


def _set(doc: Any, path: Path_, value: Any) -> None:
    _parent(doc, path)[path[-1]] = value


def _pick(rng: random.Random, doc: Any, want: type | None = None) -> Path_ | None:
    found = [p for p in paths(doc) if want is None or isinstance(_parent(doc, p)[p[-1]], want)]
    return rng.choice(found) if found else None


# --- structural damage (the document stays a mapping) -------------------------------------


def drop_field(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc)
    if path is not None:
        parent = _parent(doc, path)
        del parent[path[-1]]


def duplicate_field(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc, list)
    if path is not None:
        items = _parent(doc, path)[path[-1]]
        if items:
            items.extend(copy.deepcopy(rng.choice(items)) for _ in range(rng.randint(1, 3)))


def _other_type(rng: random.Random) -> Any:
    return rng.choice([
        0, -1, 2**63, 10**30, 1e308, True, None, "", "x" * rng.randint(1, 300),
        [], [1, "two", None], {}, {"unexpected": {"nested": [1, 2]}}, "{{ entities.x.ip }}",
        "1e9999", "-5s", "NaN", "\u202eevil", "../../etc/passwd",
    ])


def retype_field(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc)
    if path is not None:
        _set(doc, path, _other_type(rng))


def huge_string(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc, str)
    if path is not None:
        size = rng.choice([4_096, 16_384, 65_536]) if rng.random() < 0.98 else 1_300_000
        _set(doc, path, rng.choice("abcxyz") * size)


def huge_list(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc, (list, dict))  # type: ignore[arg-type]
    if path is not None:
        n = rng.choice([500, 2_000, 10_000, 30_000])
        _set(doc, path, list(range(n)) if rng.random() < 0.5 else {f"k{i}": i for i in range(n)})


def huge_number(rng: random.Random, doc: dict[str, Any]) -> None:
    """``replicas`` (or any number) far beyond anything physical."""
    if doc.get("kind") == "Architecture":
        for entity in doc.get("spec", {}).get("entities", []):
            entity["replicas"] = rng.choice([100_000_000, 2**31, 10**18])
        return
    path = _pick(rng, doc, int)
    if path is not None:
        _set(doc, path, rng.choice([100_000_000, 2**63, -(2**63)]))


STRUCTURAL: tuple[Callable[[random.Random, dict[str, Any]], None], ...] = (
    drop_field, duplicate_field, retype_field)


# --- serialised forms --------------------------------------------------------------------


def dump(rng: random.Random, doc: Any) -> bytes:
    if rng.random() < 0.5:
        return json.dumps(doc).encode()
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
    return text.encode()


def deep_value(depth: int) -> str:
    """JSON nested ``depth`` levels (lists and maps alternating)."""
    return '{"d":[' * (depth // 2) + "1" + "]}" * (depth // 2)


def with_deep(rng: random.Random, doc: dict[str, Any]) -> bytes:
    path = _pick(rng, doc) or ("spec",)
    _set(doc, path, "__DEEP__")
    return json.dumps(doc).replace('"__DEEP__"', deep_value(rng.randint(600, 1000))).encode()


def with_bad_bytes(rng: random.Random, data: bytes, insert: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + insert + data[at:]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1:]])


# --- the corpus --------------------------------------------------------------------------


def _mutate(kind: str, rng: random.Random, doc: dict[str, Any],
            others: list[str]) -> tuple[bytes, bool, str | None]:
    """(value, must_fail, plural override) for one primary mutation ``kind``."""
    if kind in ("drop", "duplicate", "retype"):
        first = STRUCTURAL[("drop", "duplicate", "retype").index(kind)]
        for fn in (first, *rng.sample(STRUCTURAL, rng.randint(0, 2))):
            fn(rng, doc)
        return dump(rng, doc), False, None
    if kind == "huge-string":
        huge_string(rng, doc)
        return dump(rng, doc), False, None
    if kind == "huge-list":  # JSON: the YAML emitter takes seconds for 100,000 items
        huge_list(rng, doc)
        return json.dumps(doc).encode(), False, None
    if kind == "huge-number":
        huge_number(rng, doc)
        return dump(rng, doc), doc.get("kind") == "Architecture", None
    if kind == "deep":
        return with_deep(rng, doc), True, None
    if kind == "wrong-kind":
        doc["kind"] = rng.choice([*others, "Pod", "", "activestrategy"])
        return dump(rng, doc), True, None
    if kind == "wrong-plural":
        return dump(rng, doc), True, PLURALS[rng.choice(others)]
    return _mutate_bytes(kind, rng, doc)


def _mutate_bytes(kind: str, rng: random.Random,
                  doc: dict[str, Any]) -> tuple[bytes, bool, str | None]:
    if kind == "random-bytes":
        return rng.randbytes(rng.randint(1, 4096)), True, None
    if kind == "bad-utf8":
        return with_bad_bytes(rng, dump(rng, doc), rng.choice([b"\xff", b"\xc3\x28",
                                                               b"\xed\xa0\x80"])), True, None
    if kind == "nul":
        return with_bad_bytes(rng, dump(rng, doc), b"\x00"), False, None
    if kind == "alias-bomb":
        return (ALIAS_BOMB + yaml.dump(doc, Dumper=_Dumper)).encode(), True, None
    if kind == "not-a-mapping":
        return rng.choice([b"", b"null", b"42", b"[]", b"- a\n- b\n", b'"x"', b"~",
                           b"--- !!binary AAAA"]), True, None
    if kind == "flip":
        return flip_bytes(rng, dump(rng, doc)), False, None
    if kind == "truncate":
        data = dump(rng, doc)
        return data[: rng.randint(0, max(0, len(data) - 1))], False, None
    if kind == "duplicate-line":
        return duplicate_line(rng, dump(rng, doc)), False, None
    if kind == "multi-document":
        return dump(rng, doc) + b"\n---\n" + dump(rng, doc), False, None
    return dump(rng, doc), False, None  # "none": a control, unchanged


MUTATIONS = ("drop", "duplicate", "retype", "huge-string", "huge-list", "huge-number", "deep",
             "wrong-kind", "wrong-plural", "random-bytes", "bad-utf8", "nul", "alias-bomb",
             "not-a-mapping", "flip", "truncate", "duplicate-line", "multi-document", "none")


def corpus(count: int, seed: int, examples: list[dict[str, Any]] | None = None,
           name_prefix: str = "c") -> list[CorpusDoc]:
    """``count`` mutated documents named ``<name_prefix>00000``...; pure in ``seed``."""
    rng = random.Random(seed)
    base = examples if examples is not None else load_examples()
    out: list[CorpusDoc] = []
    for i in range(count):
        original = base[i % len(base)]
        kind_name = str(original["kind"])
        doc = copy.deepcopy(original)
        name = f"{name_prefix}{i:05d}"
        doc.setdefault("metadata", {})["name"] = name
        mutation = MUTATIONS[i % len(MUTATIONS)]
        others = [k for k in PLURALS if k != kind_name]
        value, must_fail, plural = _mutate(mutation, rng, doc, others)
        out.append(CorpusDoc(plural or PLURALS[kind_name], name, value, mutation, must_fail))
    return out
