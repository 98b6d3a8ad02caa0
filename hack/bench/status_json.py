"""Status JSON: this tree's (de)serialization against an older revision's, in one run.

    .venv/bin/python hack/bench/status_json.py [--against REV] [--repeat 15]

Loads ``controller/reconcile/{status,status_parts,json_values,times,evolve}.py`` as they
were at ``REV`` (default: the hand-written serializers, before the field-metadata
mechanism) into a scratch package, builds the same statuses with both, checks they store
the same JSON, and times ``to_json`` and ``from_json`` of each with ``timeit`` in CPU time
(best of ``--repeat``, old and new taken turn about). Prints a markdown table with the
ratio new/old.

A quiet probe cycle calls neither (tests/integration/test_reconciler_shell.py); they run
when a step changes the status (a write) and when the store holds a status this
controller did not write (a restart, a new leader).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

MODULES = ("json_values", "times", "evolve", "status_parts", "status")
"""The old modules, in import order (each imports only those before it)."""
SCRATCH = "_status_then"


def hand_written() -> str:
    """The last revision whose status records wrote and read their JSON by hand: the one
    before ``json_fields.py`` came."""
    added = subprocess.run(
        ["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "--",
         "controller/reconcile/json_fields.py"],
        check=True, capture_output=True, text=True).stdout.split()
    if not added:
        raise SystemExit("no revision added controller/reconcile/json_fields.py; "
                         "pass --against REV")
    return f"{added[-1]}^"


def load_old(rev: str, into: Path) -> ModuleType:
    """The ``status`` module of ``rev``, its own imports redirected to its own siblings."""
    package = into / SCRATCH
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(into))
    for name in MODULES:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:controller/reconcile/{name}.py"],
            check=True, capture_output=True, text=True).stdout
        source = source.replace("controller.reconcile.", f"{SCRATCH}.")
        (package / f"{name}.py").write_text(source)
    return importlib.import_module(f"{SCRATCH}.status")


def build(mod: Any, archs: int) -> Any:
    """A failing-over strategy with ``archs`` architectures, its history and conditions:
    the status a step writes at its busiest (the same values from either module)."""
    arch = mod.ArchitectureStatus(
        state="served", health="Healthy", consecutive_successes=3,
        last_probe_time=1796286792.25, last_probe_result="Healthy", last_probe_reason="Ok",
        last_probe_message="2 probe(s) passed", last_probe_values={"accuracy": 0.93},
        placement={"worker": ("n-001", "n-002"), "aggregator": ("n-003",)},
        instances={"worker": ["i1", "i2"], "aggregator": ["i3"]}, fingerprint="0123abcd")
    status = mod.StrategyStatus(
        observed_generation=4, phase="FailingOver", active_architecture="a0",
        active_role="main", architectures={f"a{i}": arch for i in range(archs)},
        failover_count=3, last_transition_time=1796286790.5,
        transition=mod.Transition("failover", "a0", "a1", "Unhealthy", 1796286795.0,
                                  "deploying", 1796286796.0, ("a0",), False),
        recent_failovers=(1796286710.0, 1796286720.0),
        last_error=mod.ErrorInfo(1796286799.0, "ActionFailed", "boom", 2, 1796286809.0))
    for kind in ("Valid", "Ready", "Serving", "Degraded"):
        status = status.set_condition(kind, "True", kind, "", 1796286700.0)
    for i in range(10):
        status = status.append_history(mod.HistoryEntry(
            1796286600.0 + i, "failover", "a0", "a1", "Unhealthy", "m", 3.0))
    return status


def best_of_both(then: Callable[[], Any], now: Callable[[], Any], repeat: int
                 ) -> tuple[float, float]:
    """CPU seconds per call of each, the best of ``repeat`` runs taken turn about (CPU
    time, and alternating, so that what else runs on the machine weighs on both alike)."""
    timers = [timeit.Timer(call, timer=time.process_time) for call in (then, now)]
    number = max(timer.autorange()[0] for timer in timers)
    runs: list[list[float]] = [[], []]
    for _ in range(repeat):
        for timer, times in zip(timers, runs, strict=True):
            times.append(timer.timeit(number) / number)
    return min(runs[0]), min(runs[1])


def measure(old_mod: Any, new_mod: Any, repeat: int) -> list[str]:
    rows = ["| status | operation | old µs | new µs | new/old |", "|---|---|---:|---:|---:|"]
    for archs in (1, 3):
        old, new = build(old_mod, archs), build(new_mod, archs)
        stored = old.to_json()
        if json.dumps(new.to_json(), sort_keys=True) != json.dumps(stored, sort_keys=True):
            raise SystemExit("the two revisions store different JSON")
        pairs = {
            "to_json": (old.to_json, new.to_json),
            "from_json": (functools.partial(old_mod.StrategyStatus.from_json, stored),
                          functools.partial(new_mod.StrategyStatus.from_json, stored)),
        }
        for operation, (then, now) in pairs.items():
            then_s, now_s = best_of_both(then, now, repeat)
            rows.append(f"| {archs} architecture(s) | {operation} | {then_s * 1e6:.1f} | "
                        f"{now_s * 1e6:.1f} | {now_s / then_s:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="revision to compare with (default: the last "
                        "with hand-written status JSON)")
    parser.add_argument("--repeat", type=int, default=15)
    opts = parser.parse_args()
    from controller.reconcile import status as new_mod
    with tempfile.TemporaryDirectory() as scratch:
        old_mod = load_old(opts.against or hand_written(), Path(scratch))
        print("\n".join(measure(old_mod, new_mod, opts.repeat)))


if __name__ == "__main__":
    main()
