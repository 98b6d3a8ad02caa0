"""Documents and their status in the store, as users and the controller see them.

A thin layer over :class:`controller.store.Store` that knows the key layout (docs/design.md §3) and
decodes values: specs may be YAML or JSON written by anyone, status is JSON written by the
controller. ``generation`` is the spec key's etcd ``version``: 1 when it is created, one more
with each write of the spec (status lives under its own key and leaves it alone), as
Kubernetes' ``metadata.generation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from controller.api.documents import DocumentSyntaxError, decode_json, decode_value, dump_yaml
from controller.api.kinds import API_VERSION, DEFAULT_NAMESPACE, Kind, by_kind
from controller.store import Fence, Store, StoreError, Write
from controller.store.keys import spec_key, spec_prefix, status_key

ApplyResult = Literal["created", "configured", "unchanged"]

TORN_DOWN = frozenset({"ActiveStrategy"})
"""Kinds the controller tears down after their document is deleted: their status stays
until it is done, and they are listed as Terminating until then."""


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
    terminating: bool = False
    """Its document is deleted but its status remains: the controller is still tearing
    down what it runs (``document`` is then rebuilt from what the status names)."""

    def to_api(self) -> dict[str, Any]:
        """The kubectl-like view: the document plus generation and status."""
        out: dict[str, Any] = dict(self.document)
        stored_meta = out.get("metadata")
        meta = dict(stored_meta) if isinstance(stored_meta, Mapping) else {}
        meta.setdefault("name", self.name)
        meta.setdefault("namespace", self.namespace)
        meta["generation"] = self.generation
        out["metadata"] = meta
        if self.terminating:
            # When the controller noticed the deletion (None until it has).
            status = self.status or {}
            meta["deletionTimestamp"] = status.get("lastTransitionTime") if status.get(
                "phase") == "Terminating" else None
        if self.status is not None:
            out["status"] = dict(self.status)
        return out


#: etcd's default ``--max-txn-ops``: the most puts one transaction may carry.
MAX_TRANSACTION_WRITES = 128
#: The most bytes of keys and values one apply sends: etcd refuses requests over its
#: default ``--max-request-bytes`` (1.5 MiB), and the request frames them too.
MAX_TRANSACTION_BYTES = 1024 * 1024


class TransactionTooLarge(StoreError):
    """Documents that cannot be written in one etcd transaction: nothing was written."""


def encode(doc: Mapping[str, Any]) -> bytes:
    """The bytes stored for a document: block YAML, as a user would write it."""
    return dump_yaml(doc).encode()


def _check_transaction(writes: Sequence[Write]) -> None:
    size = sum(len(w.key) + len(w.value) for w in writes)
    if len(writes) > MAX_TRANSACTION_WRITES or size > MAX_TRANSACTION_BYTES:
        raise TransactionTooLarge(
            f"{len(writes)} changed documents of {size} bytes do not fit in one etcd "
            f"transaction (at most {MAX_TRANSACTION_WRITES} documents and "
            f"{MAX_TRANSACTION_BYTES} bytes); apply them in smaller sets")


def _plan(store: Store, prefix: str, docs: Sequence[Mapping[str, Any]]
          ) -> tuple[list[ApplyResult], list[Write]]:
    """What applying ``docs`` would do to each, and the writes that do it."""
    results: list[ApplyResult] = []
    writes: list[Write] = []
    for doc in docs:
        kind, namespace, name = object_key(doc)
        key = spec_key(prefix, kind.plural, namespace, name)
        current = store.get(key)
        if current is not None and _same_document(
                _decode(kind, namespace, name, current.value)[0], doc):
            results.append("unchanged")
            continue
        results.append("created" if current is None else "configured")
        writes.append(Write(key, encode(doc), current.mod_revision if current else 0))
    return results, writes


def _terminating(kind: Kind, namespace: str, name: str, status: Mapping[str, Any],
                 status_revision: int) -> StoredObject:
    """An ActiveStrategy whose document is gone while its status remains (see
    ``docs/documents.md``): shown as its status names it until its teardown is done."""
    spec = {k: status[k] for k in ("strategy", "environment") if isinstance(status.get(k), str)}
    document = {"apiVersion": API_VERSION, "kind": kind.kind,
                "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    generation = status.get("observedGeneration")
    return StoredObject(kind, namespace, name, document,
                        generation if isinstance(generation, int) else 0, status,
                        status_revision, terminating=True)


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
        status = decode_json(value, "status")
    except DocumentSyntaxError as exc:
        return {"error": f"status is not readable (written by something other than "
                         f"fogstrat): {exc.message}"}
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
            if with_status and kind.kind in TORN_DOWN:
                status, status_rev = self.get_status(kind, namespace, name)
                if status is not None:
                    return _terminating(kind, namespace, name, status, status_rev)
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
        if kind.kind in TORN_DOWN:
            have = {(o.namespace, o.name) for o in out}
            out.extend(_terminating(kind, ns, name, status, srev)
                       for (ns, name), (status, srev) in statuses.items()
                       if (ns, name) not in have)
        return sorted(out, key=lambda o: (o.namespace, o.name))

    def apply(self, doc: Mapping[str, Any]) -> ApplyResult:
        """Create or replace a validated document (compare-and-swap on what was read)."""
        return self.apply_all([doc])[0]

    def apply_all(self, docs: Sequence[Mapping[str, Any]]) -> tuple[ApplyResult, ...]:
        """Create or replace validated documents, all or none: one etcd transaction,
        compare-and-swap on what was read, so a document etcd refuses, or one changed
        by someone else meanwhile, leaves every other unwritten too.

        One transaction has etcd's limits (``--max-txn-ops``, ``--max-request-bytes``);
        a set beyond their defaults is refused here, before anything is written, with
        :class:`TransactionTooLarge`.
        """
        results, writes = _plan(self.store, self.prefix, docs)
        _check_transaction(writes)
        if writes:
            self.store.put_all(writes)
        return tuple(results)

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
        stored_spec = doc.get("spec")
        if not isinstance(stored_spec, Mapping):
            raise ValueError(f"{kind.singular} {namespace}/{name} has no spec object to change")
        spec = dict(stored_spec)
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
                   expect_revision: int, fence: Fence | None = None,
                   encoded: bytes | None = None) -> int:
        """Write status with compare-and-swap (``expect_revision`` 0: must not exist), fenced.
        ``encoded``: ``status`` already in its stored form (canonical JSON), if at hand."""
        data = encoded if encoded is not None else json.dumps(
            status, sort_keys=True, separators=(",", ":")).encode()
        return self.store.put(status_key(self.prefix, kind.plural, namespace, name), data,
                              expect_mod_revision=expect_revision, fence=fence)

    def delete_status(self, kind: Kind, namespace: str, name: str, *,
                      fence: Fence | None = None) -> bool:
        return self.store.delete(status_key(self.prefix, kind.plural, namespace, name),
                                 fence=fence)
