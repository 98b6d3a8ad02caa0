"""Tables and descriptions for humans, in the spirit of kubectl's printers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from controller.api import kinds
from controller.api.documents import dump_yaml
from controller.resources import StoredObject

Column = tuple[str, Callable[[StoredObject], str]]


def _spec(o: StoredObject) -> Mapping[str, Any]:
    spec = o.document.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(o: StoredObject) -> Mapping[str, Any]:
    return o.status or {}


def _parse_time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def age(value: Any, now: float | None = None) -> str:
    """kubectl-style age: 45s, 3m12s, 5h, 2d."""
    t = _parse_time(value)
    if t is None:
        return "<unknown>"
    secs = max(0, int((now if now is not None else time.time()) - t))
    if secs < 120:
        return f"{secs}s"
    if secs < 600:
        return f"{secs // 60}m{secs % 60}s"
    if secs < 3 * 3600:
        return f"{secs // 60}m"
    if secs < 2 * 86400:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _condition(o: StoredObject, ctype: str) -> Mapping[str, Any]:
    for c in _status(o).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return c
    return {}


def _valid(o: StoredObject) -> str:
    if o.decode_error:
        return "False"
    return str(_condition(o, "Valid").get("status", "<pending>"))


def _age(o: StoredObject) -> str:
    return age(_status(o).get("createdAt"))


def _text(value: Any, default: str = "<none>") -> str:
    return default if value in (None, "", [], {}) else str(value)


COLUMNS: dict[str, tuple[list[Column], list[Column]]] = {
    kinds.ACTIVE_STRATEGY.plural: (
        [
            ("STRATEGY", lambda o: _text(_spec(o).get("strategy"))),
            ("PHASE", lambda o: _text(_status(o).get("phase"), "<pending>")),
            ("ACTIVE", lambda o: _text(_status(o).get("activeArchitecture"))),
            ("ROLE", lambda o: _text(_status(o).get("activeRole"))),
            ("FAILOVERS", lambda o: str(_status(o).get("failoverCount", 0))),
            ("AGE", _age),
        ],
        [
            ("ENVIRONMENT", lambda o: _text(_spec(o).get("environment"))),
            ("FAILBACKS", lambda o: str(_status(o).get("failbackCount", 0))),
            ("PAUSED", lambda o: str(bool(_spec(o).get("paused", False))).lower()),
            ("PIN", lambda o: _text(_spec(o).get("pin"))),
            ("MESSAGE", lambda o: _text(_condition(o, "Ready").get("message"), "")),
        ],
    ),
    kinds.STRATEGY.plural: (
        [
            ("MAIN", lambda o: _text((_spec(o).get("main") or {}).get("architecture"))),
            ("REPLACEMENTS", lambda o: _text(",".join(
                str(r.get("architecture")) for r in _spec(o).get("replacements") or []))),
            ("FAILBACK", lambda o: _text(((_spec(o).get("policy") or {}).get("failback") or {})
                                         .get("mode"), "Automatic")),
            ("VALID", _valid),
            ("AGE", _age),
        ],
        [],
    ),
    kinds.ARCHITECTURE.plural: (
        [
            ("ENTITIES", lambda o: _text(",".join(
                str(e.get("name")) for e in _spec(o).get("entities") or []))),
            ("PLUGIN", lambda o: _text(_spec(o).get("plugin"))),
            ("PROBES", lambda o: str(len((_spec(o).get("health") or {}).get("probes") or []))),
            ("VALID", _valid),
            ("AGE", _age),
        ],
        [("PARAMETERS", lambda o: _text(",".join(_spec(o).get("parameters") or {})))],
    ),
    kinds.ARCHITECTURE_DATA.plural: (
        [
            ("ARCHITECTURE", lambda o: _text(_spec(o).get("architecture"))),
            ("DATA-ID", lambda o: _text(_spec(o).get("dataId"))),
            ("VALID", _valid),
            ("AGE", _age),
        ],
        [
            ("DEPLOY-PATH", lambda o: _text(_spec(o).get("deployPath"))),
            ("SERVE-PATH", lambda o: _text(_spec(o).get("servePath"))),
        ],
    ),
    kinds.ENVIRONMENT.plural: (
        [
            ("DRIVER", lambda o: _text(_spec(o).get("driver"), "fogsim")),
            ("LOCATOR", lambda o: _text(_spec(o).get("locator"))),
            ("VALID", _valid),
            ("AGE", _age),
        ],
        [("REACHABLE", lambda o: _text(_condition(o, "Ready").get("status"), "<unknown>"))],
    ),
}


def rows(kind: kinds.Kind, objs: Sequence[StoredObject], *, wide: bool = False,
         all_namespaces: bool = False) -> list[list[str]]:
    """The header row, then one row per object."""
    base, extra = COLUMNS[kind.plural]
    columns: list[Column] = [("NAME", lambda o: o.name), *base, *(extra if wide else [])]
    if all_namespaces:
        columns.insert(0, ("NAMESPACE", lambda o: o.namespace))
    return [[h for h, _ in columns]] + [[f(o) for _, f in columns] for o in objs]


def widths(table_rows: Sequence[Sequence[str]], minimum: int = 0) -> list[int]:
    return [max(minimum, *(len(r[i]) for r in table_rows)) for i in range(len(table_rows[0]))]


def format_row(row: Sequence[str], col_widths: Sequence[int]) -> str:
    return "   ".join(c.ljust(w) for c, w in zip(row, col_widths, strict=True)).rstrip()


def table(kind: kinds.Kind, objs: Sequence[StoredObject], *, wide: bool = False,
          all_namespaces: bool = False) -> str:
    all_rows = rows(kind, objs, wide=wide, all_namespaces=all_namespaces)
    w = widths(all_rows)
    return "\n".join(format_row(r, w) for r in all_rows)


def _kv(lines: list[str], key: str, value: Any, indent: int = 0) -> None:
    lines.append(f"{' ' * indent}{key + ':':<22}{_text(value)}")


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> list[str]:
    all_rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    return [" " * indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in all_rows]


def describe(o: StoredObject) -> str:
    """Spec, status summary, per-architecture state, conditions and history."""
    lines: list[str] = []
    _kv(lines, "Name", o.name)
    _kv(lines, "Namespace", o.namespace)
    _kv(lines, "Kind", o.kind.kind)
    _kv(lines, "Generation", o.generation)
    meta = o.document.get("metadata") or {}
    if meta.get("labels"):
        _kv(lines, "Labels", ",".join(f"{k}={v}" for k, v in meta["labels"].items()))
    if o.decode_error:
        lines.append(f"Error:                {o.decode_error}")
    lines.append("Spec:")
    lines.extend("  " + line for line in dump_yaml(dict(_spec(o))).rstrip().splitlines())
    status = _status(o)
    if not status:
        lines.append("Status:               <not observed by a controller yet>")
        return "\n".join(lines) + "\n"
    lines.append("Status:")
    for key in ("phase", "activeArchitecture", "activeRole", "failoverCount", "failbackCount",
                "lastTransitionTime", "observedGeneration", "message"):
        if key in status:
            _kv(lines, key[0].upper() + key[1:], status.get(key), indent=2)
    archs = status.get("architectures") or {}
    if archs:
        lines.append("Architectures:")
        rows = []
        for name, a in archs.items():
            placement = a.get("placement") or {}
            rows.append([
                name, _text(a.get("state")), _text(a.get("health")),
                f"{a.get('consecutiveFailures', 0)}/{a.get('consecutiveSuccesses', 0)}",
                _text(a.get("lastProbeResult")),
                _text(",".join(f"{e}@{'+'.join(n) if isinstance(n, list) else n}"
                               for e, n in placement.items())),
            ])
        lines.extend(_grid(["NAME", "STATE", "HEALTH", "FAIL/OK", "LAST PROBE", "PLACEMENT"],
                           rows))
        probed = [(n, a) for n, a in archs.items() if a.get("lastProbeMessage")]
        if probed:
            lines.append("Last probes:")
            lines.extend(_grid(["NAME", "AGE", "MESSAGE"], [
                [n, age(a.get("lastProbeTime")), _text(a.get("lastProbeMessage"), "")]
                for n, a in probed]))
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.extend(_grid(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], [
            [str(c.get("type")), str(c.get("status")), _text(c.get("reason"), ""),
             age(c.get("lastTransitionTime")), _text(c.get("message"), "")]
            for c in conditions]))
    history = status.get("history") or []
    if history:
        lines.append("History:")
        lines.extend(_grid(["AGE", "FROM", "TO", "REASON", "MESSAGE"], [
            [age(h.get("time")), _text(h.get("from")), _text(h.get("to")),
             _text(h.get("reason"), ""), _text(h.get("message"), "")] for h in history]))
    return "\n".join(lines) + "\n"
