"""fog05's change feed: a YAKS subscription on the instance and node record globs.

fog05's agents keep every instance record under
``/agfos/<sys>/tenants/<ten>/nodes/<nid>/fdu/<fid>/instances/<iid>/info`` and a node's
under ``.../nodes/<nid>/{info,status}``, and YAKS pushes every put and remove of a
subscribed selector to the subscriber (``Workspace.subscribe(selector, listener)``, the
call fog05's own agents use to observe each other). YAKS keeps no history, so revisions
are this subscription's own count of changes received, and an ``epoch`` names the
subscription: a reader from another subscription (or one that lost an answer) lists again.

The listener runs on zenoh's thread and only files the raw value by path: a path changed
again replaces its pending value, so the buffer holds at most one entry per record, and
past ``max_pending`` records it is dropped and the reader lists again. One reader per
subscription (the fog's informer).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from controller.fog import fog05_compat
from controller.fog.client import FeedCursor, FogChange, FogChangeKind, FogError, InstanceInfo
from controller.fog.records import instance_from_record, node_status_from_record

MAX_PENDING = 100_000
"""Records changed and not yet read: beyond this, reading them all again is cheaper."""


@dataclass(frozen=True)
class Pending:
    revision: int
    value: str | None
    """The record's JSON text; None: removed."""


class YaksFeed:
    """The buffer one YAKS subscription fills and one reader drains."""

    def __init__(self, base: str, *, max_pending: int = MAX_PENDING) -> None:
        self.base = base.rstrip("/")
        """``/agfos/<sys>/tenants/<ten>``: where the subscribed records live."""
        self.epoch = uuid.uuid4().hex[:16]
        self.subscriptions: list[Any] = []
        self._max = max_pending
        self._cond = threading.Condition()
        self._pending: dict[str, Pending] = {}
        self._revision = 0
        self._delivered = 0
        self._lost = False

    def selectors(self) -> list[str]:
        nodes = f"{self.base}/nodes/*"
        return [f"{nodes}/fdu/*/instances/*/info", f"{nodes}/info", f"{nodes}/status"]

    # --- zenoh's thread ------------------------------------------------------------------

    def on_changes(self, changes: Iterable[Any]) -> None:
        """The YAKS listener: file each change's value by its path."""
        with self._cond:
            for change in changes:
                self._revision += 1
                path = str(change.get_path())
                removed = getattr(change.get_kind(), "name", "") == "REMOVE"
                value = None if removed else _text(change.get_value())
                self._pending.pop(path, None)
                if len(self._pending) >= self._max:
                    self._pending.clear()
                    self._lost = True
                self._pending[path] = Pending(self._revision, value)
            self._cond.notify_all()

    # --- the reader ------------------------------------------------------------------------

    def resumes(self, since: FeedCursor) -> bool:
        with self._cond:
            return (since.epoch == self.epoch and since.revision == self._delivered
                    and not self._lost)

    def relisted(self) -> FeedCursor:
        """A full listing is about to be read: what is pending is delivered again after it
        (at worst once more than needed), nothing before it is owed any more."""
        with self._cond:
            self._lost = False
            return FeedCursor(self.epoch, self._delivered)

    def take(self, wait: float) -> tuple[FeedCursor, dict[str, Pending]] | None:
        """What changed since the last take, waiting up to ``wait`` s for something; None
        when changes were dropped (the reader must list again)."""
        until = time.monotonic() + wait
        with self._cond:
            while not self._pending and not self._lost:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self._lost:
                return None
            taken, self._pending = self._pending, {}
            self._delivered = self._revision
            return FeedCursor(self.epoch, self._delivered), taken


@dataclass(frozen=True)
class Told:
    """A change the driver tells the feed itself, shaped as YAKS delivers one (a dead
    agent removes nothing, so YAKS says nothing of its records)."""

    path: str
    value: str | None
    """None: removed."""

    def get_path(self) -> str:
        return self.path

    def get_kind(self) -> Any:
        return _Kind("REMOVE" if self.value is None else "PUT")

    def get_value(self) -> str | None:
        return self.value


@dataclass(frozen=True)
class _Kind:
    name: str


def parse_pending(base: str, path: str, pending: Pending) -> FogChange | None:
    """A filed change as a :class:`FogChange`; None for a path that is no record of ours."""
    rest = path[len(base) + 1:].split("/") if path.startswith(base + "/") else []
    rev = pending.revision
    if len(rest) == 7 and rest[0] == "nodes" and rest[2] == "fdu" and rest[6] == "info":
        iid = rest[5]
        if pending.value is None:
            return FogChange(FogChangeKind.INSTANCE, iid, rev, gone=True)
        return FogChange(FogChangeKind.INSTANCE, iid, rev,
                         instance=instance_record(pending.value, rest[1]))
    if len(rest) == 3 and rest[0] == "nodes" and rest[2] in ("info", "status"):
        if pending.value is None:
            return FogChange(FogChangeKind.NODE, rest[1], rev, gone=True)
        if rest[2] == "info":
            return FogChange(FogChangeKind.NODE, rest[1], rev)
        return FogChange(FogChangeKind.NODE, rest[1], rev,
                         node=node_status_from_record(_json(rest[1], pending.value)))
    return None


def parse_taken(base: str, taken: dict[str, Pending]) -> tuple[FogChange, ...]:
    """The filed changes, one per record: a node's ``info`` and ``status`` are two YAKS
    paths of one node (the later wins, keeping the capacity the other one carried)."""
    out: dict[tuple[FogChangeKind, str], FogChange] = {}
    for path, pending in sorted(taken.items(), key=lambda kv: kv[1].revision):
        change = parse_pending(base, path, pending)
        if change is None:
            continue
        key = (change.kind, change.id)
        before = out.pop(key, None)
        if before is not None and change.node is None and not change.gone:
            change = replace(change, node=before.node)
        out[key] = change
    return tuple(out.values())


def instance_record(text: str, node_id: str) -> InstanceInfo:
    """An instance's YAKS value (fog05's ``InfraFDU`` JSON) as an :class:`InstanceInfo`."""
    infra = fog05_compat.infra_fdu_class()(_json(node_id, text))
    rec = dict(infra.to_json())
    rec["node"] = node_id
    return instance_from_record(rec)


def _json(where: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise FogError(f"fog05 feed: the record under {where} is not JSON") from None


def _text(value: Any) -> str:
    inner = value.get_value() if hasattr(value, "get_value") else value
    return inner if isinstance(inner, str) else json.dumps(inner)

