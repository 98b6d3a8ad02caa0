"""N one-entity ActiveStrategies on one ``fogstrat controller`` process.

The controller runs as its own process (``fogstrat controller``) so that its CPU and RSS
are its own. Bring-up and resync are seen from outside: a watch on the status prefix
(phase per strategy), ``/readyz`` and ``fogstrat_reconcile_total``; etcd writes are
revision deltas.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from controller.store import Store, connect
from hack.bench import world
from tests.support.controller import ControllerProcess

REPO = Path(__file__).resolve().parents[2]
PY_SPY = str(REPO / ".venv" / "bin" / "py-spy")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the controller process ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Controller(ControllerProcess):
    """The controller under test (``tests.support.controller``) plus what the bench needs:
    reconcile counts from /metrics and py-spy attached to it; ``stop`` also reaps py-spy
    and says how long the controller took to exit."""

    def __init__(self, endpoint: str, prefix: str, log_path: Path, *, workers: int = 4) -> None:
        super().__init__(endpoint, prefix, lease_ttl=5, resync=300, workers=workers,
                         log_path=log_path)
        self.spies: list[subprocess.Popen[bytes]] = []
        self.scrape_s = 0.0
        """How long the last /metrics scrape took."""
        self.fog_wakes = 0.0
        """``fogstrat_fog_wakes_total`` at the last scrape."""

    def start(self, wait: bool = False) -> Self:
        return super().start(wait=wait)

    @property
    def running_pid(self) -> int:
        pid = self.pid
        assert pid is not None, "controller not started"
        return pid

    def reconciles(self) -> float:
        """Sum of ``fogstrat_reconcile_total{kind="ActiveStrategy"}`` over results (a
        scrape of 10,000 strategies' series takes seconds: it gets a minute)."""
        started = time.monotonic()
        text = self.get("/metrics", timeout=60)
        if text is None:
            raise RuntimeError("the controller's /metrics did not answer within 60 s")
        self.scrape_s = time.monotonic() - started
        wakes = re.search(r"^fogstrat_fog_wakes_total (\S+)$", text, re.M)
        self.fog_wakes = float(wakes.group(1)) if wakes else 0.0
        total = 0.0
        for m in re.finditer(r'^fogstrat_reconcile_total\{([^}]*)\} (\S+)$', text, re.M):
            if 'kind="ActiveStrategy"' in m.group(1):
                total += float(m.group(2))
        return total

    def profile(self, out: Path, seconds: float, fmt: str = "raw") -> None:
        """py-spy record for ``seconds`` in the background (idle threads excluded)."""
        log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
        self.spies.append(subprocess.Popen(
            [PY_SPY, "record", "--pid", str(self.running_pid), "--duration", str(int(seconds)),
             "--rate", "50", "--format", fmt, "--output", str(out), "--nonblocking"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()

    def wait_profiles(self, timeout: float = 30) -> None:
        for spy in self.spies:
            try:
                spy.wait(timeout)
            except subprocess.TimeoutExpired:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(5)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
        self.spies.clear()

    def stop(self, timeout: float = 30.0) -> float:  # type: ignore[override]
        """SIGTERM and wait; seconds it took to exit."""
        for spy in self.spies:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        self.spies.clear()
        started = time.monotonic()
        super().stop(timeout)
        return time.monotonic() - started



class ReconcileLog:
    """Strategies the controller has logged a decision for since ``offset`` in its log.

    A controller logs one line for a strategy's first reconcile after it starts (and
    then only when something changes), so after a restart this counts the strategies
    resynced, read from outside: polling ``/metrics`` for the count would itself load a
    controller whose metrics page has a few hundred thousand series at 10k."""

    _LINE = re.compile(rb" (?:INFO|WARNING|ERROR) +[\w.-]+/(as-\d+): ")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pos = path.stat().st_size if path.exists() else 0
        self._tail = b""
        self.names: set[bytes] = set()

    def count(self) -> int:
        with open(self._path, "rb") as fh:
            fh.seek(self._pos)
            chunk = fh.read()
        self._pos += len(chunk)
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()
        for line in lines:
            m = self._LINE.search(line)
            if m:
                self.names.add(m.group(1))
        return len(self.names)


# --- watching status from outside -------------------------------------------------------------


class StatusWatch:
    """Phase of every ActiveStrategy, and a count of etcd events by key family."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        self._store = connect(endpoint)
        self._prefix = prefix
        records, revision = self._store.list(prefix + "/")
        self.phases: dict[str, str] = {}
        self.events: dict[str, int] = {}
        self._lock = threading.Lock()
        for rec in records:
            self._note(rec.key, rec.value)
        self._watch = self._store.watch(prefix + "/", revision + 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-status", daemon=True)
        self._thread.start()

    def _note(self, key: str, value: bytes | None) -> None:
        status_root = world.status_prefix(self._prefix)
        if not key.startswith(status_root):
            return
        name = key[len(status_root):]
        phase = ""
        if value:
            try:
                phase = str(json.loads(value).get("phase", ""))
            except ValueError:
                phase = "?"
        with self._lock:
            self.phases[name] = phase

    def _run(self) -> None:
        rest = len(self._prefix) + 1
        while not self._stop.is_set():
            event = self._watch.get(timeout=0.2)
            if event is None:
                continue
            family = "/".join(event.key[rest:].split("/")[:2]) or event.key
            with self._lock:
                self.events[family] = self.events.get(family, 0) + 1
            self._note(event.key, None if event.type == "DELETE" else event.value)

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(1 for p in self.phases.values() if p == phase)

    def event_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.events)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._watch.close()
        self._store.close()


# --- the scenario ---------------------------------------------------------------------------


@dataclass
class ScaleResult:
    n: int
    apply_s: float = 0.0
    bringup_s: float = 0.0
    bringup_cpu_s: float = 0.0
    bringup_others_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU-s the other processes (fogsim, etcd) spent during the bring-up: where its time
    goes when the controller's own CPU does not fill it."""
    steady_window_s: float = 0.0
    steady_cores: float = 0.0
    steady_reconciles_per_s: float = 0.0
    rss_mib: float = 0.0
    writes_per_min: float = 0.0
    steady_events: dict[str, int] = field(default_factory=dict)
    stop_s: float = 0.0
    relist_s: float = 0.0
    resync_s: float = 0.0
    resync_cpu_s: float = 0.0
    resync_writes: int = 0
    bringup_fog_wakes: float = 0.0
    """Strategies the fog's change feed woke from the bring-up's start to the steady
    window's (nothing fails in the bench, so each is spurious)."""
    steady_fog_wakes: float = 0.0
    notes: list[str] = field(default_factory=list)


def _wait(pred: object, timeout: float, what: str, interval: float = 0.5) -> float:
    assert callable(pred)
    started = time.monotonic()
    while not pred():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def _progress(label: str, watch: StatusWatch, n: int) -> None:
    print(f"  {label}: {watch.count('Serving')}/{n} Serving", flush=True)


def _cpu_of(pids: Mapping[str, int | None]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items() if pid is not None}


@dataclass
class ScaleRun:
    """One scale's controller, its outside view and its figures so far."""

    n: int
    out_dir: Path
    profile: bool
    ctl: Controller
    watch: StatusWatch
    store: Store
    result: ScaleResult

    def spy(self, phase: str, seconds: float) -> None:
        """py-spy the controller for ``seconds`` when the run profiles."""
        if self.profile:
            self.ctl.profile(self.out_dir / f"{phase}-{self.n}.txt", seconds=seconds)


def run_scale(endpoint: str, prefix: str, fog_url: str, n: int, out_dir: Path, *,
              steady_window: float, profile: bool, bringup_timeout: float,
              probe_interval: str = "10s",
              others: Mapping[str, int | None] | None = None) -> ScaleResult:
    """``others``: name -> pid of the processes serving the controller (fogsim, etcd),
    whose CPU during the bring-up is reported beside the controller's."""
    store: Store = connect(endpoint, timeout=30)
    watch = StatusWatch(endpoint, prefix)
    ctl = Controller(endpoint, prefix, out_dir / f"controller-{n}.log")
    run = ScaleRun(n, out_dir, profile, ctl, watch, store, ScaleResult(n))
    try:
        _start(run, prefix, fog_url, probe_interval)
        _bring_up(run, prefix, bringup_timeout, others or {})
        _settle(watch)
        _steady_state(run, steady_window)
        _restart(run)
        return run.result
    finally:
        ctl.stop()
        watch.close()
        store.close()


def _start(run: ScaleRun, prefix: str, fog_url: str, probe_interval: str) -> None:
    """The controller, ready, and the documents every ActiveStrategy refers to."""
    run.ctl.start()
    _wait(lambda: run.ctl.get("/readyz") is not None, 30, "controller ready")
    world.put_all(run.store, prefix, [
        world.environment("bench", fog_url),
        world.architecture("svc", interval=probe_interval),
        world.strategy("svc", "svc"),
    ])
    time.sleep(0.5)


def _bring_up(run: ScaleRun, prefix: str, timeout: float,
              others: Mapping[str, int | None]) -> None:
    """From the first ActiveStrategy written to all Serving."""
    result, pid = run.result, run.ctl.running_pid
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    others0 = _cpu_of(others)
    run.spy("bringup", min(60, timeout))
    result.apply_s = world.put_all(run.store, prefix, (
        world.active_strategy(f"as-{i:05d}", "svc", "bench") for i in range(run.n)))
    _wait_all_serving(run, t0, timeout)
    result.bringup_s = time.monotonic() - t0
    result.bringup_cpu_s = cpu_seconds(pid) - cpu0
    result.bringup_others_cpu_s = {name: cpu - others0[name]
                                   for name, cpu in _cpu_of(others).items()}
    result.notes.append("bring-up CPU-s: " + ", ".join(
        [f"controller {result.bringup_cpu_s:.0f}",
         *(f"{name} {cpu:.0f}" for name, cpu in result.bringup_others_cpu_s.items())]))
    run.ctl.wait_profiles(timeout=max(1.0, 65 - result.bringup_s))


def _wait_all_serving(run: ScaleRun, t0: float, timeout: float) -> None:
    n, watch = run.n, run.watch
    last = time.monotonic()
    while watch.count("Serving") < n:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{n}: only {watch.count('Serving')} Serving after "
                               f"{timeout:.0f}s")
        if time.monotonic() - last > 15:
            _progress(f"{n} bring-up {time.monotonic() - t0:.0f}s", watch, n)
            last = time.monotonic()
        time.sleep(0.2)


def _settle(watch: StatusWatch) -> None:
    """Before the steady state: first a probe interval for the last strategies to settle
    (their first cycle after Serving writes the settled message), then until status has
    been quiet for 5 s (at most a minute: a controller that never stops writing shows it
    in the window)."""
    time.sleep(12)
    quiet_since, last_total, settle_t0 = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - quiet_since < 5 and time.monotonic() - settle_t0 < 60:
        total = sum(watch.event_counts().values())
        if total != last_total:
            quiet_since, last_total = time.monotonic(), total
        time.sleep(0.5)


def _steady_state(run: ScaleRun, window: float) -> None:
    """Every strategy probed every interval, nothing else changes: CPU, RSS, writes."""
    ctl, result, pid = run.ctl, run.result, run.ctl.running_pid
    run.spy("steady", min(window, 60))
    rec0 = ctl.reconciles()  # first: the scrape's own CPU stays out of the window
    result.bringup_fog_wakes = ctl.fog_wakes
    rec_t0, cpu0 = time.monotonic(), cpu_seconds(pid)
    ev0, t0 = run.watch.event_counts(), time.monotonic()
    rss = rss_bytes(pid)
    while time.monotonic() - t0 < window:
        time.sleep(2)
        rss = max(rss, rss_bytes(pid))
    elapsed = time.monotonic() - t0
    result.steady_window_s = elapsed
    result.steady_cores = (cpu_seconds(pid) - cpu0) / elapsed
    rec_t1 = time.monotonic()
    result.steady_reconciles_per_s = (ctl.reconciles() - rec0) / (rec_t1 - rec_t0)
    result.steady_fog_wakes = ctl.fog_wakes - result.bringup_fog_wakes
    result.notes.append(f"a /metrics scrape took {ctl.scrape_s:.2f} s")
    ev1 = run.watch.event_counts()
    result.steady_events = {k: v - ev0.get(k, 0) for k, v in ev1.items()
                            if v - ev0.get(k, 0)}
    # Writes under this run's prefix only: the etcd is shared with earlier phases.
    result.writes_per_min = sum(result.steady_events.values()) * 60 / elapsed
    result.rss_mib = rss / 2**20
    ctl.wait_profiles()


def _restart(run: ScaleRun) -> None:
    """A new process re-lists everything and reconciles every strategy once."""
    ctl, result, watch, n = run.ctl, run.result, run.watch, run.n
    result.stop_s = ctl.stop()
    ev0 = watch.event_counts()
    resynced = ReconcileLog(ctl.log_path)
    ctl.start()
    run.spy("resync", 30)
    result.relist_s = _wait(lambda: ctl.get("/readyz") is not None, 120, "readyz",
                            interval=0.05)
    result.resync_s = result.relist_s + _wait(lambda: resynced.count() >= n, 300,
                                              f"{n} strategies reconciled after restart",
                                              interval=0.1)
    result.resync_cpu_s = cpu_seconds(ctl.running_pid)
    result.resync_writes = sum(watch.event_counts().values()) - sum(ev0.values())
    if watch.count("Serving") < n:
        result.notes.append(f"after restart only {watch.count('Serving')}/{n} Serving")
    ctl.wait_profiles(timeout=40)


def have_py_spy() -> bool:
    return Path(PY_SPY).exists() or shutil.which("py-spy") is not None
