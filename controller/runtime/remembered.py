"""The documents an ActiveStrategy was last resolved from, kept in its status.

When a document a running strategy needs is deleted or edited into something invalid,
the strategy keeps running -- failing over and back -- on the documents it last resolved
cleanly. Those are written into its status (``status.inputs``) whenever they change, so
a restarted controller, or a new leader, has them too; and deleting the strategy still
tears down with the Environment it ran on after that Environment is gone
(see ``docs/documents.md``).

Each document is stored as its user wrote its ``spec`` (no defaults filled in), with its
name and generation: what is needed to rebuild the same typed document, and the same
deployment fingerprints, on any controller. The specs are stored compressed; which
versions they are (``revisions``: section, name, generation) is stored readable.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.api import kinds
from controller.api.kinds import API_VERSION, Kind
from controller.api.models import Document
from controller.api.parse import parse_document

ENCODING = "zlib+base64"
"""How ``status.inputs.specs`` is stored: the JSON of :meth:`LastValid.to_json`,
zlib-compressed, base64-encoded."""

MAX_REMEMBERED_BYTES = 256 * 1024
"""Above this (JSON, before compression), the inputs are not remembered: a status near
etcd's request limit would fail every status write of the strategy, and that costs more
than the memory saves. A strategy whose documents are that large runs as before: invalid
input holds it."""


@dataclass(frozen=True)
class Remembered:
    """One document as it was resolved: its name, generation and typed form."""

    name: str
    generation: int
    document: Document

    def to_json(self) -> dict[str, Any]:
        spec = self.document.raw.get("spec") if self.document.raw else None
        return {"name": self.name, "generation": self.generation,
                "spec": spec if isinstance(spec, Mapping) else {}}


def _restore(kind: Kind, namespace: str, value: Any) -> Remembered:
    """A stored document back to its typed form; raises ValueError when it cannot be."""
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise ValueError(f"remembered {kind.kind} is malformed")
    generation = value.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise ValueError(f"remembered {kind.kind} has no generation")
    raw = {"apiVersion": API_VERSION, "kind": kind.kind,
           "metadata": {"name": value["name"], "namespace": namespace},
           "spec": value.get("spec")}
    return Remembered(value["name"], generation, parse_document(raw))


@dataclass(frozen=True)
class LastValid:
    """Every document one resolution of an ActiveStrategy used."""

    active: Remembered
    strategy: Remembered
    environment: Remembered
    architectures: Mapping[str, Remembered]
    """Per candidate architecture."""
    data: Mapping[str, Remembered]
    """Per candidate architecture: the ArchitectureData its ``dataId`` selected."""

    def to_json(self) -> dict[str, Any]:
        return {"activeStrategy": self.active.to_json(), "strategy": self.strategy.to_json(),
                "environment": self.environment.to_json(),
                "architectures": {n: r.to_json() for n, r in sorted(self.architectures.items())},
                "data": {n: r.to_json() for n, r in sorted(self.data.items())}}

    @functools.cached_property
    def revisions(self) -> tuple[tuple[str, str, int], ...]:
        """Which version of each document these are (a spec key's generation changes with
        every write): equal revisions, equal inputs, without comparing the documents."""
        return (("activeStrategy", self.active.name, self.active.generation),
                ("strategy", self.strategy.name, self.strategy.generation),
                ("environment", self.environment.name, self.environment.generation),
                *(("architectures", n, r.generation) for n, r in sorted(
                    self.architectures.items())),
                *(("data", r.name, r.generation) for _, r in sorted(self.data.items())))

    @functools.cached_property
    def stored(self) -> dict[str, Any] | None:
        """What goes into status, or None when too large to keep: which document versions
        (readable), and the specs themselves, compressed (every status is held in memory
        by the controller, at thousands of strategies)."""
        text = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True, default=str)
        if len(text) > MAX_REMEMBERED_BYTES:
            return None
        return {"revisions": [list(r) for r in self.revisions], "encoding": ENCODING,
                "specs": base64.b64encode(zlib.compress(text.encode(), 6)).decode()}

    @staticmethod
    def from_json(namespace: str, value: Any) -> LastValid | None:
        """The remembered inputs in a status, or None when there are none (or they no
        longer read as valid documents: then there is nothing safe to run on)."""
        try:
            return _from_dict(namespace, _decode(value))
        except (ValueError, RecursionError):  # InvalidDocument and binascii.Error are
            return None  # ValueErrors


def _decode(value: Any) -> Any:
    if not isinstance(value, Mapping) or value.get("encoding") != ENCODING or not isinstance(
            value.get("specs"), str):
        raise ValueError("no remembered inputs")
    try:
        packed = base64.b64decode(value["specs"], validate=True)
        inflate = zlib.decompressobj()
        text = inflate.decompress(packed, MAX_REMEMBERED_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"remembered inputs do not decompress: {exc}") from None
    if len(text) > MAX_REMEMBERED_BYTES or not inflate.eof:
        raise ValueError("remembered inputs are too large or truncated")
    return json.loads(text)


def _from_dict(namespace: str, value: Any) -> LastValid:
    if not isinstance(value, Mapping):
        raise ValueError("remembered inputs are malformed")
    archs, data = value.get("architectures"), value.get("data")
    if not isinstance(archs, Mapping) or not isinstance(data, Mapping):
        raise ValueError("remembered architectures are malformed")
    return LastValid(
        active=_restore(kinds.ACTIVE_STRATEGY, namespace, value.get("activeStrategy")),
        strategy=_restore(kinds.STRATEGY, namespace, value.get("strategy")),
        environment=_restore(kinds.ENVIRONMENT, namespace, value.get("environment")),
        architectures={str(n): _restore(kinds.ARCHITECTURE, namespace, v)
                       for n, v in archs.items()},
        data={str(n): _restore(kinds.ARCHITECTURE_DATA, namespace, v)
              for n, v in data.items()},
    )


def stored_revisions(value: Any) -> tuple[tuple[str, str, int], ...]:
    """:attr:`LastValid.revisions` of remembered inputs as a status holds them (``()``
    when it holds none, or they are malformed)."""
    revisions = value.get("revisions") if isinstance(value, Mapping) else None
    if not isinstance(revisions, list):
        return ()
    out = []
    for r in revisions:
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                and isinstance(r[1], str) and isinstance(r[2], int)):
            return ()
        out.append((r[0], r[1], r[2]))
    return tuple(out)
