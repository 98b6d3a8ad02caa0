"""``make bench``: every measurement as a ratio against a limit from the same run.

    .venv/bin/python hack/bench/run.py               # latency, failover, scale 1k and 10k
    .venv/bin/python hack/bench/run.py --quick       # 1k only, short windows
    .venv/bin/python hack/bench/run.py --scale 3000 --profile
    .venv/bin/python hack/bench/run.py --story-only  # the seed's story alone (~3 min)

Prints a markdown table and saves it (plus controller logs and py-spy profiles) under
``.bench/<timestamp>/``; ``.bench/latest.md`` is the last table. Everything started here
(etcd, fogsim, controllers, py-spy) is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "hack"))  # `fogsim` for the FogsimServer subprocess

from hack.bench import churn, profile, world  # noqa: E402
from hack.bench.fogevent import measure_fog_event  # noqa: E402
from hack.bench.scale import ScaleResult, have_py_spy, run_scale  # noqa: E402
from hack.bench.small import (  # noqa: E402
    FailoverResult,
    LatencyResult,
    measure_failover,
    measure_latency,
    measure_quiet_failover,
    quantile,
)
from hack.bench.spec_status import measure_spec_status  # noqa: E402
from hack.bench.story import measure_story  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402
from tests.support.fogsim import FogsimServer  # noqa: E402

BUDGET_S = 20 * 60
FOG_LATENCY_MS = 20
"""A fog call's round trip to a real fog05 agent over zenoh on an edge network, for the
failover measurement's context row (fogsim answers on loopback in 1-2 ms)."""


@dataclass(frozen=True)
class Options:
    quick: bool
    scales: list[int]
    nodes: int
    latency_samples: int
    spec_status_samples: int
    failover_trials: int
    quiet_trials: int
    story_trials: int
    steady_window: float
    profile: bool
    skip_small: bool
    story_only: bool
    probe_interval: str


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1k only, fewer samples and a 20 s steady window (development)")
    p.add_argument("--scale", type=int, action="append", metavar="N",
                   help="number of ActiveStrategies (repeatable; default 1000 and 10000, "
                        "1000 with --quick)")
    p.add_argument("--nodes", type=int, default=120, help="fogsim nodes (default 120)")
    p.add_argument("--steady-window", type=float, help="steady-state window in seconds")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the scale controller (bring-up, steady state, resync)")
    p.add_argument("--probe-interval", default="10s", metavar="DURATION",
                   help="health.interval of the scale architectures (default 10s, the "
                        "issue's; e.g. 3s at --scale 3000 loads like 10k at 10s)")
    p.add_argument("--skip-small", action="store_true",
                   help="skip the event-latency and failover measurements")
    p.add_argument("--story-only", action="store_true",
                   help="only the seed's story (row (b), downtime as its user sees it)")
    a = p.parse_args(argv)
    scales = [] if a.story_only else a.scale or ([1000] if a.quick else [1000, 10000])
    return Options(
        quick=a.quick, scales=scales, nodes=a.nodes,
        latency_samples=40 if a.quick else 200,
        spec_status_samples=40 if a.quick else 200,
        failover_trials=3 if a.quick else 10,  # every node slot: a 2-core VM is noisy
        quiet_trials=1 if a.quick else 3,  # 15 s each
        story_trials=1 if a.quick else 3,  # about 40 s each
        steady_window=a.steady_window or (20.0 if a.quick else 60.0),
        profile=a.profile, skip_small=a.skip_small or a.story_only,
        story_only=a.story_only,
        probe_interval=a.probe_interval,
    )


# --- reporting ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "**over**"


def latency_rows(r: LatencyResult) -> list[str]:
    med, p99 = r.median_ratio(), r.p99_ratio()
    return [
        f"| event latency, median (n={r.samples}) | "
        f"{statistics.median(r.reconcile_ms):.2f} ms | bare watch "
        f"{statistics.median(r.watch_ms):.2f} ms | {med:.2f} | ≤ 1.5 | {verdict(med <= 1.5)} |",
        f"| event latency, p99 | {quantile(r.reconcile_ms, 0.99):.2f} ms | bare watch "
        f"{quantile(r.watch_ms, 0.99):.2f} ms | {p99:.2f} | ≤ 3 | {verdict(p99 <= 3)} |",
    ]


def failover_rows(r: FailoverResult, latency_ms: int = 0) -> list[str]:
    ratio = r.ratio()
    ctl = statistics.median(r.controller_s)
    what, target = "failover, detection → replacement serving", f"≤ 1.1 | {verdict(ratio <= 1.1)}"
    if latency_ms:  # context: the same, on a fog whose calls take as long as a real one's
        what, target = f"failover with {latency_ms} ms per fog call", "— | context"
    return [
        f"| {what} (median of {len(r.controller_s)}) | "
        f"{ctl * 1000:.0f} ms (node down → done {statistics.median(r.crash_to_done_s):.2f} s) | "
        f"direct fog ops + probe {statistics.median(r.limit_s) * 1000:.1f} ms | "
        f"{ratio:.2f} | {target} |",
    ]


def quiet_failover_row(durations: list[float], latency_ms: int) -> str:
    each = ", ".join(f"{d * 1000:.0f}" for d in durations)
    return (f"| failover after 11 s with nothing placed, onto a replacement any node may "
            f"run, {latency_ms} ms per fog call (median of {len(durations)}) | "
            f"{statistics.median(durations) * 1000:.0f} ms (each: {each}) | — | — | — | "
            "context |")


def scale_rows(results: list[ScaleResult]) -> list[str]:
    rows: list[str] = []
    base = results[0]
    for r in results:
        k = f"{r.n // 1000}k" if r.n % 1000 == 0 else str(r.n)
        grow = r.n / base.n

        def g(value: float, base_value: float, r: ScaleResult = r, grow: float = grow) -> str:
            """Growth against the smallest scale, per unit of N (1.0 = linear)."""
            if r is base or base_value <= 0:
                return "—"
            return f"{value / base_value / grow:.2f}x linear"

        rows += [
            f"| {k}: bring-up to all Serving | {r.bringup_s:.1f} s "
            f"({r.n / r.bringup_s:.0f}/s, {r.bringup_cpu_s:.0f} CPU-s; apply {r.apply_s:.1f} s) | "
            f"{g(r.bringup_s, base.bringup_s)} | — | linear | — |",
            f"| {k}: steady CPU ({r.steady_window_s:.0f} s window, "
            f"{r.steady_reconciles_per_s:.0f} reconciles/s) | {r.steady_cores:.3f} cores | "
            f"{g(r.steady_cores, base.steady_cores)} | {r.steady_cores / 0.5:.2f} | "
            f"< 0.5 core | {verdict(r.steady_cores < 0.5)} |",
            f"| {k}: RSS (max in window) | {r.rss_mib:.0f} MiB | "
            f"{g(r.rss_mib, base.rss_mib)} | {r.rss_mib / 1024:.2f} | < 1 GiB | "
            f"{verdict(r.rss_mib < 1024)} |",
            f"| {k}: fog wakes (bring-up; steady state) | {r.bringup_fog_wakes:.0f}; "
            f"{r.steady_fog_wakes:.0f} | — | — | 0 | "
            f"{verdict(r.bringup_fog_wakes + r.steady_fog_wakes == 0)} |",
            f"| {k}: etcd writes/min at steady state | {r.writes_per_min:.0f} "
            f"({_events(r.steady_events)}) | — | — | 0 | {verdict(r.writes_per_min == 0)} |",
            f"| {k}: restart: re-list (readyz) | {r.relist_s:.1f} s (old stopped in "
            f"{r.stop_s:.1f} s) | {g(r.relist_s, base.relist_s)} | — | — | — |",
            f"| {k}: restart: every strategy reconciled once | {r.resync_s:.1f} s "
            f"({r.resync_cpu_s:.0f} CPU-s, {r.resync_writes} etcd writes) | "
            f"{g(r.resync_s, base.resync_s)} | {r.resync_s / 30:.2f} | < 30 s | "
            f"{verdict(r.resync_s < 30)} |",
        ]
    return rows


def _events(events: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(events.items())) or "no events"


def table(rows: list[str]) -> str:
    head = ["| measurement | value | limit / growth | ratio | target | |",
            "|---|---|---|---:|---|---|"]
    return "\n".join(head + rows) + "\n"


# --- running -----------------------------------------------------------------------------


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so every ``with`` below cleans up."""
    def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@dataclass
class Bench:
    """One run: where it writes and what it has measured so far."""

    opts: Options
    stamp: str
    out_dir: Path
    nodes_file: Path
    started: float = field(default_factory=time.monotonic)
    rows: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scale_results: list[ScaleResult] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)
    failed: bool = False

    def phase(self, what: str) -> None:
        print(f"[{self.elapsed():6.0f}s] {what}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def prefix(self, what: str) -> str:
        """This run's etcd prefix for one measurement (they share one etcd)."""
        return f"/bench-{self.stamp}/{what}"

    def save(self, name: str, figures: object) -> None:
        (self.out_dir / name).write_text(json.dumps(figures))

    def fogsim(self) -> FogsimServer:
        """A fresh fog for one measurement."""
        return FogsimServer(self.nodes_file, no_processes=True)


def new_bench(opts: Options) -> Bench:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = REPO / ".bench" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes_file = world.write_nodes_file(out_dir / "nodes.yaml", opts.nodes)
    return Bench(opts, stamp, out_dir, nodes_file)


def event_latency(b: Bench, etcd: EtcdServer) -> None:
    with b.fogsim() as sim:
        b.phase("event latency")
        lat = measure_latency(etcd.endpoint, b.prefix("latency"), sim.url,
                              b.opts.latency_samples, b.out_dir / "latency.log")
        b.rows += latency_rows(lat)
        b.save("latency.json", {"watch_ms": lat.watch_ms, "reconcile_ms": lat.reconcile_ms,
                                "reconcile_durations_ms": lat.reconcile_durations_ms})
    d = lat.reconcile_durations_ms
    slow = sum(1 for x in lat.reconcile_ms if x > 50)
    b.notes.append(
        f"event latency: {slow}/{lat.samples} samples over 50 ms; a reconcile "
        f"of the key took median {statistics.median(d):.1f} ms, p99 "
        f"{quantile(d, 0.99):.0f} ms, max {max(d):.0f} ms (a change arriving "
        "during a reconcile waits for it)")


def spec_status(b: Bench, etcd: EtcdServer) -> None:
    profile_to = b.out_dir / "spec-status.txt" if b.opts.profile else None
    with b.fogsim() as sim:
        b.phase("spec change -> status, against raw etcd put -> watch")
        spec = measure_spec_status(etcd.endpoint, b.prefix("spec-status"), sim.url,
                                   b.opts.spec_status_samples, b.out_dir / "spec-status.log",
                                   profile=profile_to)
        b.rows.append(spec.row())
        b.save("spec-status.json", {"raw_ms": spec.raw_ms, "ours_ms": spec.ours_ms})
        if profile_to is not None:
            b.profiles.append(profile_to)


def fog_event_and_failover(b: Bench, etcd: EtcdServer) -> None:
    """Row (a) and the failover overhead, on one fog."""
    with b.fogsim() as sim:
        b.phase("fog event latency")
        fev = measure_fog_event(etcd.endpoint, b.prefix("fog-event"), sim.url,
                                max(20, b.opts.latency_samples // 2),
                                b.out_dir / "fog-event.log")
        b.rows.append(fev.row())
        b.save("fog-event.json", {"feed_ms": fev.feed_ms, "reconcile_ms": fev.reconcile_ms})
        b.phase("failover overhead")
        fo = measure_failover(etcd.endpoint, b.prefix("failover"), sim.url,
                              b.opts.failover_trials, b.out_dir / "failover.log")
        b.rows += failover_rows(fo)
        b.notes.append("failover limit breakdown (median ms): " + ", ".join(
            f"{op} {ms:.1f}" for op, ms in fo.limit_breakdown_ms.items()))


def slow_fog_failovers(b: Bench, etcd: EtcdServer) -> None:
    """The context rows: failovers on a fog whose calls take as long as a real one's."""
    with b.fogsim() as sim:
        b.phase(f"failover overhead, {FOG_LATENCY_MS} ms per fog call")
        fo = measure_failover(etcd.endpoint, b.prefix("failover-slow"), sim.url,
                              b.opts.failover_trials, b.out_dir / "failover-slow.log",
                              fog_latency_ms=FOG_LATENCY_MS)
        b.rows += failover_rows(fo, FOG_LATENCY_MS)
    with b.fogsim() as sim:
        b.phase(f"failover after a quiet spell, {FOG_LATENCY_MS} ms per fog call")
        quiet = measure_quiet_failover(etcd.endpoint, b.prefix("failover-quiet"), sim.url,
                                       b.opts.quiet_trials, b.out_dir / "failover-quiet.log",
                                       fog_latency_ms=FOG_LATENCY_MS)
        b.rows.append(quiet_failover_row(quiet, FOG_LATENCY_MS))


def small_rows(b: Bench, etcd: EtcdServer) -> None:
    """Everything but the story and the scale rows."""
    event_latency(b, etcd)
    spec_status(b, etcd)
    fog_event_and_failover(b, etcd)
    slow_fog_failovers(b, etcd)
    b.phase("memory under a churn of odd documents")
    b.rows.append(churn.measure(20.0 if b.opts.quick else 60.0).row())


def story_rows(b: Bench, etcd: EtcdServer) -> bool:
    """Add the story's rows (or why it stopped); False if it failed. A failed story
    leaves the scale rows to run."""
    try:
        story = measure_story(etcd.endpoint, b.prefix("story"), b.opts.story_trials,
                              b.out_dir / "story.log")
    except (TimeoutError, RuntimeError, OSError) as exc:
        b.notes.append(f"story stopped early: {type(exc).__name__}: {exc}")
        return False
    b.rows += story.rows()
    b.notes.append(f"story: the endpoint-following client got {story.answered} of "
                   f"{story.requests} requests answered; took {story.seconds:.0f} s")
    b.save("story.json", story.figures())
    return True


def scale_skipped(b: Bench, n: int, remaining: float) -> str | None:
    """Why scale ``n`` would not fit in the budget, projected from the last bring-up rate
    (plus ~2 min fixed); None if it fits."""
    if not b.scale_results:
        return None
    last = b.scale_results[-1]
    projected = n * last.bringup_s / last.n + 120
    if projected <= remaining:
        return None
    return (f"scale {n} skipped: projected {projected:.0f} s at "
            f"{last.n / last.bringup_s:.1f} strategies/s, "
            f"{remaining:.0f} s of the 20 min budget left")


def one_scale(b: Bench, etcd: EtcdServer, n: int) -> None:
    remaining = BUDGET_S - b.elapsed()
    skipped = scale_skipped(b, n, remaining)
    if skipped is not None:
        b.notes.append(skipped)
        b.phase(skipped)
        return
    b.phase(f"scale {n} ({remaining:.0f}s of the 20 min budget left)")
    with b.fogsim() as sim:
        r = run_scale(etcd.endpoint, b.prefix(f"scale-{n}"), sim.url, n, b.out_dir,
                      steady_window=b.opts.steady_window, profile=b.opts.profile,
                      probe_interval=b.opts.probe_interval,
                      bringup_timeout=max(120.0, remaining - 120),
                      others={"fogsim": sim.pid, "etcd": etcd.pid})
    b.scale_results.append(r)
    b.notes += [f"{n}: {note}" for note in r.notes]
    b.profiles += sorted(b.out_dir.glob(f"*-{n}.txt"))


def measure_all(b: Bench, etcd: EtcdServer) -> None:
    if not b.opts.skip_small:
        small_rows(b, etcd)
    if not b.opts.skip_small or b.opts.story_only:
        b.phase("the seed's story: node down, crash, failback, as its user sees them")
        b.failed = not story_rows(b, etcd) or b.failed
    for n in b.opts.scales:
        one_scale(b, etcd, n)


def report(b: Bench) -> str:
    elapsed = b.elapsed()
    lines = [
        f"# fogstrat bench {b.stamp}", "",
        f"{os.cpu_count()} CPUs, {b.opts.nodes} fogsim nodes (--no-processes), scales "
        f"{', '.join(map(str, b.opts.scales))}; took {elapsed:.0f} s "
        f"({'within' if elapsed < BUDGET_S else '**over**'} the 20 min budget).", "",
        table(b.rows),
        *(f"- {note}" for note in b.notes),
    ]
    if b.profiles:
        lines += ["", "## Profiles (py-spy, busy threads only)", ""]
        lines += [profile.summary(p) for p in b.profiles if p.exists()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.profile and not have_py_spy():
        print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    b = new_bench(opts)
    with interruptible(), contextlib.ExitStack() as stack:
        try:
            measure_all(b, stack.enter_context(EtcdServer(name="fogstrat-bench")))
        except KeyboardInterrupt:
            print("interrupted: stopping everything", file=sys.stderr)
            b.failed = True
        except Exception as exc:  # report what was measured so far
            traceback.print_exc()
            b.notes.append(f"stopped early: {type(exc).__name__}: {exc}")
            b.failed = True
    if b.scale_results:
        b.rows += scale_rows(b.scale_results)
    text = report(b)
    print(text)
    (b.out_dir / "bench.md").write_text(text)
    shutil.copyfile(b.out_dir / "bench.md", REPO / ".bench" / "latest.md")
    print(f"saved {b.out_dir / 'bench.md'}")
    return 1 if b.failed else 0


if __name__ == "__main__":
    sys.exit(main())
