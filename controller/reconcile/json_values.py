"""Stored JSON values: read tolerantly, and kept frozen inside the status models.

A stored status may be old, partial or hand-edited: each reader takes what it can use and
otherwise returns the default, never raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from controller.reconcile.times import parse_time

EMPTY: Mapping[str, Any] = MappingProxyType({})


def empty() -> Mapping[str, Any]:
    """Default factory of mapping fields (the shared read-only empty mapping)."""
    return EMPTY


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts become read-only mappings, lists become tuples."""
    if type(value) is MappingProxyType:  # only freeze makes these: frozen all the way down
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value


def read_time(value: Any, default: float) -> float:
    time = parse_time(value)
    return default if time is None else time


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_opt_float(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def read_int(value: Any, default: int) -> int:
    return int(value) if _is_number(value) else default


def read_opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
