"""Tables and descriptions for humans, in the spirit of kubectl's printers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.api import kinds
from controller.api.documents import dump_yaml
from controller.api.models import StrategySpec
from controller.resources import StoredObject


@dataclass(frozen=True)
class Column:
    """A table column: its header, its value for an object, and the width a watch keeps
    for it (long enough for the usual values, so later rows stay under the header)."""

    header: str
    value: Callable[[StoredObject], str]
    watch_width: int = 10


def _col(header: str, value: Callable[[StoredObject], str], watch_width: int = 10) -> Column:
    return Column(header, value, watch_width)


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one: a stored document or status may
    have any shape (``etcdctl put`` writes anything), and a printer shows what it can."""
    return value if isinstance(value, Mapping) else {}


def mappings(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of ``value`` if it is a list (see :func:`mapping`)."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def spec_of(o: StoredObject) -> Mapping[str, Any]:
    return mapping(o.document.get("spec"))


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


def endpoint_line(endpoint: Mapping[str, Any], now: float | None = None) -> str:
    """An ActiveStrategy's published endpoint on one line: its URL and what serves it,
    or that nothing serves."""
    held = f"for {age(endpoint.get('since'), now)}"
    arch, url = endpoint.get("architecture"), endpoint.get("url")
    if not arch:
        return f"<none>: nothing serves ({held})"
    if not url:
        return f"<none>: {arch} serves, with no address for its endpoint ({held})"
    return f"{url} ({arch}, {held})"


def _condition(o: StoredObject, ctype: str) -> Mapping[str, Any]:
    for c in mappings(_status(o).get("conditions")):
        if c.get("type") == ctype:
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
            _col("STRATEGY", lambda o: _text(spec_of(o).get("strategy")), 16),
            _col("PHASE", lambda o: "Terminating" if o.terminating else _text(
                _status(o).get("phase"), "<pending>"), 13),
            _col("ACTIVE", lambda o: _text(_status(o).get("activeArchitecture")), 20),
            _col("ROLE", lambda o: _text(_status(o).get("activeRole")), 11),
            _col("FAILOVERS", lambda o: str(_status(o).get("failoverCount", 0))),
            _col("AGE", _age, 7),
        ],
        [
            _col("ENVIRONMENT", lambda o: _text(spec_of(o).get("environment")), 12),
            _col("FAILBACKS", lambda o: str(_status(o).get("failbackCount", 0))),
            _col("PAUSED", lambda o: str(bool(spec_of(o).get("paused", False))).lower(), 6),
            _col("PIN", lambda o: _text(spec_of(o).get("pin")), 20),
            _col("MESSAGE", lambda o: _text(_condition(o, "Ready").get("message"), "")),
        ],
    ),
    kinds.STRATEGY.plural: (
        [
            _col("MAIN", lambda o: _text(mapping(spec_of(o).get("main")).get("architecture"))),
            _col("REPLACEMENTS", lambda o: _text(",".join(
                str(r.get("architecture")) for r in mappings(spec_of(o).get("replacements"))))),
            _col("FAILBACK", lambda o: _text(
                mapping(mapping(spec_of(o).get("policy")).get("failback")).get("mode"),
                "Automatic")),
            _col("VALID", _valid),
            _col("AGE", _age),
        ],
        [],
    ),
    kinds.ARCHITECTURE.plural: (
        [
            _col("ENTITIES", lambda o: _text(",".join(
                str(e.get("name")) for e in mappings(spec_of(o).get("entities"))))),
            _col("PLUGIN", lambda o: _text(spec_of(o).get("plugin"))),
            _col("PROBES",
                 lambda o: str(len(mappings(mapping(spec_of(o).get("health")).get("probes"))))),
            _col("VALID", _valid),
            _col("AGE", _age),
        ],
        [_col("PARAMETERS", lambda o: _text(",".join(mapping(spec_of(o).get("parameters")))))],
    ),
    kinds.ARCHITECTURE_DATA.plural: (
        [
            _col("ARCHITECTURE", lambda o: _text(spec_of(o).get("architecture"))),
            _col("DATA-ID", lambda o: _text(spec_of(o).get("dataId"))),
            _col("VALID", _valid),
            _col("AGE", _age),
        ],
        [
            _col("DEPLOY-PATH", lambda o: _text(spec_of(o).get("deployPath"))),
            _col("SERVE-PATH", lambda o: _text(spec_of(o).get("servePath"))),
        ],
    ),
    kinds.ENVIRONMENT.plural: (
        [
            _col("DRIVER", lambda o: _text(spec_of(o).get("driver"), "fogsim")),
            _col("LOCATOR", lambda o: _text(spec_of(o).get("locator"))),
            _col("VALID", _valid),
            _col("AGE", _age),
        ],
        [],  # REACHABLE: the Environment's Reachable condition (see `columns`)
    ),
}


Reachability = Mapping[tuple[str, str], str]
"""(namespace, Environment name) -> what the controller last saw of that fog."""


def reachability(strategies: Sequence[StoredObject], now: float | None = None
                 ) -> dict[tuple[str, str], str]:
    """Whether each Environment's fog answered the controller, as the status of the
    ActiveStrategies deployed to it last recorded; an unreachable one wins."""
    seen: dict[tuple[str, str], str] = {}
    for o in strategies:
        status = _status(o)
        if not status.get("phase"):
            continue
        key = (o.namespace, str(spec_of(o).get("environment", "")))
        error = status.get("lastError") or {}
        if isinstance(error, Mapping) and error.get("reason") == "FogUnreachable":
            seen[key] = f"False (FogUnreachable {age(error.get('time'), now)} ago)"
        elif not seen.get(key, "").startswith("False"):
            seen[key] = "True"
    return seen


def columns(kind: kinds.Kind, *, wide: bool = False, all_namespaces: bool = False,
            reachable: Reachability | None = None) -> list[Column]:
    base, extra = COLUMNS[kind.plural]
    cols = [_col("NAME", lambda o: o.name, 20), *base, *(extra if wide else [])]
    if all_namespaces:
        cols.insert(0, _col("NAMESPACE", lambda o: o.namespace, 12))
    if kind is kinds.ENVIRONMENT and wide:
        known = reachable or {}
        cols.append(_col("REACHABLE", lambda o: _reached(o, known)))
    return cols


def _reached(o: StoredObject, known: Reachability) -> str:
    """The Environment's own ``Reachable`` condition; before the controller wrote one,
    what its ActiveStrategies recorded."""
    own = _condition(o, "Reachable")
    if own.get("status") == "False":
        since = age(own.get("lastTransitionTime"))
        return f"False ({_text(own.get('reason'), '')} {since} ago)"
    if own.get("status"):
        return str(own["status"])
    return known.get((o.namespace, o.name), "<unknown>")


def rows(kind: kinds.Kind, objs: Sequence[StoredObject], *, wide: bool = False,
         all_namespaces: bool = False, reachable: Reachability | None = None
         ) -> list[list[str]]:
    """The header row, then one row per object."""
    cols = columns(kind, wide=wide, all_namespaces=all_namespaces, reachable=reachable)
    return [[c.header for c in cols]] + [[c.value(o) for c in cols] for o in objs]


def widths(table_rows: Sequence[Sequence[str]], minimum: int = 0) -> list[int]:
    return [max(minimum, *(len(r[i]) for r in table_rows)) for i in range(len(table_rows[0]))]


def watch_widths(cols: Sequence[Column], first: Sequence[Sequence[str]]) -> list[int]:
    """Widths a watch keeps for good: the first rows, the header, the column's usual."""
    return [max(c.watch_width, *(len(r[i]) for r in first)) for i, c in enumerate(cols)]


def format_row(row: Sequence[str], col_widths: Sequence[int], *, clip: bool = False) -> str:
    """One line; with ``clip`` a cell wider than its column (but the last) is cut to it
    with an ellipsis, so every line of a watch stays under its header."""
    if clip:
        row = [c if len(c) <= w or i == len(row) - 1 else c[:w - 1] + "\u2026"
               for i, (c, w) in enumerate(zip(row, col_widths, strict=True))]
    return "   ".join(c.ljust(w) for c, w in zip(row, col_widths, strict=True)).rstrip()


def table(kind: kinds.Kind, objs: Sequence[StoredObject], *, wide: bool = False,
          all_namespaces: bool = False, reachable: Reachability | None = None) -> str:
    all_rows = rows(kind, objs, wide=wide, all_namespaces=all_namespaces, reachable=reachable)
    w = widths(all_rows)
    return "\n".join(format_row(r, w) for r in all_rows)


def after_unpin(strategy: StrategySpec | None, status: Mapping[str, Any]) -> str:
    """What follows an unpin, in words: the failback policy decides."""
    if strategy is None:
        return "the automatic rules resume"
    main = strategy.main.architecture
    active = status.get("activeArchitecture")
    if active in (None, main):
        return f"the automatic rules resume ({main}, the main architecture, stays active)"
    failback = strategy.policy.failback
    if failback.mode == "Manual":
        return (f"{active} stays active: failback is Manual, so it never returns to {main} "
                f"by itself (fogstrat switch --to {main}, then --unpin)")
    return (f"failback to {main} follows once it has been healthy for the stabilization "
            f"window of {failback.stabilization_window:g}s")


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
    labels = mapping(mapping(o.document.get("metadata")).get("labels"))
    if labels:
        _kv(lines, "Labels", ",".join(f"{k}={v}" for k, v in labels.items()))
    if o.decode_error:
        lines.append(f"Error:                {o.decode_error}")
    if o.terminating:
        lines.append("Terminating:          document deleted; the controller is tearing down "
                     "what it runs")
    lines.append("Spec:")
    lines.extend("  " + line for line in dump_yaml(dict(spec_of(o))).rstrip().splitlines())
    status = _status(o)
    if not status:
        lines.append("Status:               <not observed by a controller yet>")
        return "\n".join(lines) + "\n"
    lines.append("Status:")
    for key in ("phase", "activeArchitecture", "activeRole", "failoverCount", "failbackCount",
                "lastTransitionTime", "observedGeneration", "message"):
        if key in status:
            _kv(lines, key[0].upper() + key[1:], status.get(key), indent=2)
    endpoint = mapping(status.get("endpoint"))
    if endpoint:
        _kv(lines, "Endpoint", endpoint_line(endpoint), indent=2)
    lines.extend(_architecture_lines(status))
    conditions = mappings(status.get("conditions"))
    if conditions:
        lines.append("Conditions:")
        lines.extend(_grid(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], [
            [str(c.get("type")), str(c.get("status")), _text(c.get("reason"), ""),
             age(c.get("lastTransitionTime")), _text(c.get("message"), "")]
            for c in conditions]))
    history = mappings(status.get("history"))
    if history:
        lines.append("History:")
        lines.extend(_grid(["AGE", "FROM", "TO", "REASON", "MESSAGE"], [
            [age(h.get("time")), _text(h.get("from")), _text(h.get("to")),
             _text(h.get("reason"), ""), _text(h.get("message"), "")] for h in history]))
    return "\n".join(lines) + "\n"


def _architecture_lines(status: Mapping[str, Any]) -> list[str]:
    """The per-architecture table of ``describe``, and the last probe of each."""
    archs = {name: mapping(a) for name, a in mapping(status.get("architectures")).items()}
    if not archs:
        return []
    lines = ["Architectures:"]
    rows = []
    for name, a in archs.items():
        placement = mapping(a.get("placement"))
        rows.append([
            name, _text(a.get("state")), _text(a.get("health")),
            f"{a.get('consecutiveFailures', 0)}/{a.get('consecutiveSuccesses', 0)}",
            _text(a.get("lastProbeResult")),
            _text(",".join(f"{e}@{'+'.join(n) if isinstance(n, list) else n}"
                           for e, n in placement.items())),
        ])
    lines.extend(_grid(["NAME", "STATE", "HEALTH", "FAIL/OK", "LAST PROBE", "PLACEMENT"], rows))
    probed = [(n, a) for n, a in archs.items() if a.get("lastProbeMessage")]
    if probed:
        lines.append("Last probes:")
        lines.extend(_grid(["NAME", "AGE", "MESSAGE"], [
            [n, age(a.get("lastProbeTime")), _text(a.get("lastProbeMessage"), "")]
            for n, a in probed]))
    return lines
