"""Documents and their status in the store, as users and the controller see them.

A thin layer over :class:`controller.store.Store` that knows the key layout (design §3) and
decodes values: specs may be YAML or JSON written by anyone, status is JSON written by the
controller. ``generation`` is the spec key's etcd ``version``: 1 when it is created, one more
with each write of the spec (status lives under its own key and leaves it alone), as
Kubernetes' ``metadata.generation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controller.api.documents import decode_value, dump_yaml
from controller.api.kinds import API_VERSION, DEFAULT_NAMESPACE, Kind, by_kind
from controller.store import Fence, Store
from controller.store.keys import spec_key, spec_prefix, status_key

ApplyResult = Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class StoredObject:
    """A document as stored, with its generation and (when present) its status."""

    kind: Kind
    namespace: str
    name: str
    document: Mapping[str, Any]
    generation: int
    status: Mapping[str, Any] | None = None
    status_revision: int = 0
    decode_error: str | None = None
    """Why the stored value is not a readable document (written raw with ``etcdctl``)."""

    def to_api(self) -> dict[str, Any]:
        """The kubectl-like view: the document plus generation and status."""
        out: dict[str, Any] = dict(self.document)
        meta = dict(out.get("metadata") or {})
        meta.setdefault("namespace", self.namespace)
        meta["generation"] = self.generation
        out["metadata"] = meta
        if self.status is not None:
            out["status"] = dict(self.status)
        return out


def object_key(doc: Mapping[str, Any]) -> tuple[Kind, str, str]:
    """(kind, namespace, name) of a raw document that passed validation."""
    meta = doc.get("metadata") or {}
    return by_kind(str(doc["kind"])), str(meta.get("namespace") or DEFAULT_NAMESPACE), str(
        meta["name"]
    )


def _decode(kind: Kind, namespace: str, name: str, value: bytes) -> tuple[Mapping[str, Any],
                                                                        str | None]:
    """The stored document, or a stand-in naming it and why it cannot be read: one broken
    value must not hide the others from ``get``."""
    try:
        return decode_value(value, f"{kind.plural}/{namespace}/{name}"), None
    except ValueError as exc:
        stub = {"apiVersion": API_VERSION, "kind": kind.kind,
                "metadata": {"name": name, "namespace": namespace}}
        return stub, " ".join(str(exc).split())


def _status_json(value: bytes) -> Mapping[str, Any]:
    try:
        status = json.loads(value)
    except ValueError:
        return {"error": "status is not JSON (written by something other than fogstrat)"}
    return status if isinstance(status, dict) else {}


def _same_document(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class Resources:
    """Read and write documents and status under one key prefix."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    # --- specs -------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str, *, with_status: bool = True
            ) -> StoredObject | None:
        rec = self.store.get(spec_key(self.prefix, kind.plural, namespace, name))
        if rec is None:
            return None
        status, status_rev = (self.get_status(kind, namespace, name) if with_status
                              else (None, 0))
        document, error = _decode(kind, namespace, name, rec.value)
        return StoredObject(kind, namespace, name, document, rec.version, status,
                            status_rev, error)

    def list(self, kind: Kind, namespace: str | None = None, *, with_status: bool = True
             ) -> list[StoredObject]:
        records, _ = self.store.list(spec_prefix(self.prefix, kind.plural, namespace))
        statuses: dict[tuple[str, str], tuple[Mapping[str, Any], int]] = {}
        if with_status:
            srecs, _ = self.store.list(self._status_prefix(kind, namespace))
            for srec in srecs:
                ns, name = srec.key.rsplit("/", 2)[-2:]
                statuses[(ns, name)] = (_status_json(srec.value), srec.mod_revision)
        out = []
        for rec in records:
            ns, name = rec.key.rsplit("/", 2)[-2:]
            status, srev = statuses.get((ns, name), (None, 0))
            document, error = _decode(kind, ns, name, rec.value)
            out.append(StoredObject(kind, ns, name, document, rec.version, status, srev,
                                    error))
        return sorted(out, key=lambda o: (o.namespace, o.name))

    def apply(self, doc: Mapping[str, Any]) -> ApplyResult:
        """Create or replace a validated document (compare-and-swap on what was read)."""
        kind, namespace, name = object_key(doc)
        key = spec_key(self.prefix, kind.plural, namespace, name)
        current = self.store.get(key)
        if current is None:
            self.store.put(key, dump_yaml(doc).encode(), expect_mod_revision=0)
            return "created"
        if _same_document(_decode(kind, namespace, name, current.value)[0], doc):
            return "unchanged"
        self.store.put(key, dump_yaml(doc).encode(), expect_mod_revision=current.mod_revision)
        return "configured"

    def update_spec(self, kind: Kind, namespace: str, name: str, changes: Mapping[str, Any]
                    ) -> StoredObject:
        """Set top-level spec fields (``None`` removes one), compare-and-swap on the read."""
        key = spec_key(self.prefix, kind.plural, namespace, name)
        current = self.store.get(key)
        if current is None:
            raise LookupError(f"{kind.singular} {namespace}/{name} not found")
        document, error = _decode(kind, namespace, name, current.value)
        if error:
            raise ValueError(f"{kind.singular} {namespace}/{name} cannot be read: {error}")
        doc = dict(document)
        spec = dict(doc.get("spec") or {})
        for field, value in changes.items():
            if value is None:
                spec.pop(field, None)
            else:
                spec[field] = value
        doc["spec"] = spec
        rev = self.store.put(key, dump_yaml(doc).encode(), expect_mod_revision=current.mod_revision)
        return StoredObject(kind, namespace, name, doc, rev)

    def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        return self.store.delete(spec_key(self.prefix, kind.plural, namespace, name))

    # --- status ------------------------------------------------------------------------

    def _status_prefix(self, kind: Kind, namespace: str | None) -> str:
        root = self.prefix.rstrip("/") + f"/status/{kind.plural}/"
        return root + (f"{namespace}/" if namespace else "")

    def get_status(self, kind: Kind, namespace: str, name: str
                   ) -> tuple[Mapping[str, Any] | None, int]:
        """The status object and its mod revision (0 when absent)."""
        rec = self.store.get(status_key(self.prefix, kind.plural, namespace, name))
        if rec is None:
            return None, 0
        return _status_json(rec.value), rec.mod_revision

    def put_status(self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any], *,
                   expect_revision: int, fence: Fence | None = None) -> int:
        """Write status with compare-and-swap (``expect_revision`` 0: must not exist), fenced."""
        data = json.dumps(status, sort_keys=True, separators=(",", ":")).encode()
        return self.store.put(status_key(self.prefix, kind.plural, namespace, name), data,
                              expect_mod_revision=expect_revision, fence=fence)

    def delete_status(self, kind: Kind, namespace: str, name: str, *,
                      fence: Fence | None = None) -> bool:
        return self.store.delete(status_key(self.prefix, kind.plural, namespace, name),
                                 fence=fence)
