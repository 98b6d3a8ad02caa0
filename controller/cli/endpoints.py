"""``fogstrat get endpoints``: where each ActiveStrategy's service is, as the controller
publishes it under ``<prefix>/endpoints/<namespace>/<name>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.api.documents import DocumentSyntaxError, decode_json
from controller.cli.printers import age, format_row, widths
from controller.store import Store
from controller.store.keys import endpoint_prefix

NAMES = ("endpoints", "endpoint", "ep")
HEADER = ("NAMESPACE", "NAME", "URL", "ARCHITECTURE", "SINCE")


@dataclass(frozen=True)
class Published:
    namespace: str
    name: str
    value: Mapping[str, Any]


def stored(store: Store, prefix: str, namespace: str | None) -> list[Published]:
    """The published endpoints of ``namespace`` (all: None), by namespace and name; a
    value that is not an endpoint object reads as an empty one."""
    records, _ = store.list(endpoint_prefix(prefix, namespace))
    out = []
    for rec in records:
        ns, name = rec.key.rsplit("/", 2)[-2:]
        try:
            value = decode_json(rec.value)
        except DocumentSyntaxError:
            value = {}
        out.append(Published(ns, name, value if isinstance(value, Mapping) else {}))
    return out


def table(found: list[Published], now: float | None = None) -> str:
    rows = [list(HEADER)] + [
        [p.namespace, p.name, str(p.value.get("url") or "<none>"),
         str(p.value.get("architecture") or "<none>"), age(p.value.get("since"), now)]
        for p in found]
    w = widths(rows)
    return "\n".join(format_row(r, w) for r in rows)
