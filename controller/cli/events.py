"""``fogstrat events [NAME] [-w]``: the controller's Events, as ``kubectl get events``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from controller.cli.printers import age, format_row, widths
from controller.reconcile.times import parse_time
from controller.store import Store
from controller.store.keys import event_prefix

HEADER = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]


def decode(value: bytes) -> Mapping[str, Any] | None:
    """A stored Event, or None for what is not one (a stray key)."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == "Event" else None


def about(event: Mapping[str, Any], name: str | None) -> bool:
    obj = event.get("involvedObject")
    return name is None or (isinstance(obj, Mapping) and obj.get("name") == name)


def stored(store: Store, prefix: str, namespace: str | None,
           name: str | None = None) -> tuple[list[Mapping[str, Any]], int]:
    """Events of ``namespace`` (all when None) about ``name`` (any when None), oldest
    first, and the store revision they were read at."""
    records, revision = store.list(event_prefix(prefix, namespace))
    events = [e for e in (decode(r.value) for r in records) if e is not None and about(e, name)]
    events.sort(key=lambda e: parse_time(e.get("lastTimestamp")) or 0.0)
    return events, revision


def row(event: Mapping[str, Any], now: float | None = None) -> list[str]:
    obj = event.get("involvedObject") or {}
    what = f"{str(obj.get('kind', '?')).lower()}/{obj.get('name', '?')}"
    message = " ".join(str(event.get("message", "")).split())
    return [age(event.get("lastTimestamp"), now), str(event.get("type", "")),
            str(event.get("reason", "")), what, str(event.get("count", 1)), message]


def table(events: Iterable[Mapping[str, Any]], indent: int = 0) -> list[str]:
    rows = [HEADER, *(row(e) for e in events)]
    cols = widths(rows)
    return [" " * indent + format_row(r, cols) for r in rows]


def watch(store: Store, prefix: str, namespace: str | None, name: str | None,
          revision: int, cols: list[int]) -> None:
    """Print a row for each Event written after ``revision`` (until interrupted)."""
    w = store.watch(event_prefix(prefix, namespace), revision + 1)
    try:
        for change in w:
            if change.type != "PUT":
                continue
            event = decode(change.value)
            if event is not None and about(event, name):
                print(format_row(row(event), cols), flush=True)
    finally:
        w.close()
