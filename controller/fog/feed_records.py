"""Change-feed answers (fogsim's ``?since=`` body, fog05's YAKS changes) as
:class:`~controller.fog.client.FogChange` values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.limits import excerpt
from controller.fog.client import FogChange, FogChangeKind, FogError
from controller.fog.records import instance_from_record, node_status_from_record


def change_from_entry(entry: Any, revision: int) -> FogChange:
    """One entry of fogsim's feed: ``{"kind", "id", "record"}`` (record null: gone)."""
    if not isinstance(entry, Mapping):
        raise FogError("fog feed: an entry is not an object")
    raw_kind, ident, record = entry.get("kind"), entry.get("id"), entry.get("record")
    try:
        kind = FogChangeKind(str(raw_kind))
    except ValueError:
        raise FogError(f"fog feed: unknown kind {excerpt(str(raw_kind), 40)!r}") from None
    if not isinstance(ident, str) or not ident:
        raise FogError("fog feed: an entry has no id")
    if record is None:
        return FogChange(kind, ident, revision, gone=True)
    if not isinstance(record, Mapping):
        raise FogError(f"fog feed: the record of {excerpt(ident, 80)} is not an object")
    return record_change(kind, ident, revision, record)


def record_change(kind: FogChangeKind, ident: str, revision: int,
                  record: Mapping[str, Any]) -> FogChange:
    """A record that is there now (instance record or node status)."""
    if kind is FogChangeKind.INSTANCE:
        return FogChange(kind, ident, revision, instance=instance_from_record(record))
    return FogChange(kind, ident, revision, node=node_status_from_record(record))


def feed_body(body: Any) -> tuple[str, int, list[Any]]:
    """(epoch, revision, entries) of fogsim's feed answer."""
    if not isinstance(body, Mapping):
        raise FogError("fog feed: the answer is not an object")
    epoch, revision, changes = body.get("epoch"), body.get("revision"), body.get("changes")
    if not isinstance(epoch, str) or isinstance(revision, bool) or not isinstance(
            revision, int) or not isinstance(changes, list):
        raise FogError("fog feed: the answer lacks epoch, revision or changes")
    return epoch, revision, changes
