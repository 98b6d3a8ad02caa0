"""Spec change → status written, against raw etcd put → watch, in one run.

A ``fogstrat controller`` process runs one ActiveStrategy on fogsim. Each sample puts a
plain key and sees it arrive on a watch (raw), then flips the strategy's ``spec.paused``
and sees its status key arrive on a watch with the phase that says so (ours); both are
timed from the put in this process, on the same etcd client, so what etcd and the client
cost is the same on both sides. The ratio of the medians is bench row (c).
"""

from __future__ import annotations

import json
import random
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyetcd

from hack.bench import world
from hack.bench.scale import PY_SPY, Controller
from hack.bench.small import quantile
from hack.bench.stack import OneStrategy, controller_process, serving_one

NAME = "spec-status"
SS = OneStrategy(NAME, "ss", "ss-arch", {"interval": "10s"})


@dataclass(frozen=True)
class SpecStatusResult:
    raw_ms: list[float]  # put a key -> its event on a watch
    ours_ms: list[float]  # put a spec change -> its status on a watch

    def ratio(self) -> float:
        return statistics.median(self.ours_ms) / statistics.median(self.raw_ms)

    def row(self) -> str:
        ratio = self.ratio()
        verdict = "ok" if ratio <= 2 else "**over**"
        return (f"| (c) spec change → status written, median (n={len(self.ours_ms)}; p90 "
                f"{quantile(self.ours_ms, 0.9):.2f} ms) | "
                f"{statistics.median(self.ours_ms):.2f} ms | raw etcd put → watch "
                f"{statistics.median(self.raw_ms):.2f} ms | {ratio:.2f} | ≤ 2 | {verdict} |")


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic()
    revision: int
    value: bytes


class KeyWatch:
    """A raw etcd watch on some keys (pyetcd's own callback: no informer, no queue);
    records every event's arrival, in order."""

    def __init__(self, endpoint: str, keys: list[str], start_revision: int) -> None:
        host, port = endpoint.rsplit(":", 1)
        self._client = pyetcd.client(host, int(port))
        self.arrivals: dict[str, list[Arrival]] = {k: [] for k in keys}
        self._cond = threading.Condition()
        self._ids = [self._client.add_watch_callback(
            k.encode(), self._on_response, start_revision=start_revision) for k in keys]

    def _on_response(self, response: Any) -> None:
        now = time.monotonic()
        with self._cond:
            for event in getattr(response, "events", ()):
                key = event.key.decode()
                if key in self.arrivals:
                    self.arrivals[key].append(Arrival(now, int(event.mod_revision),
                                                      bytes(event.value)))
            self._cond.notify_all()

    def wait(self, key: str, pred: Callable[[Arrival], bool], timeout: float) -> Arrival:
        def found() -> Arrival | None:
            return next((a for a in self.arrivals[key] if pred(a)), None)

        with self._cond:
            got = self._cond.wait_for(found, timeout)
        if got is None:
            raise TimeoutError(f"no watch event on {key} within {timeout:g}s")
        return got

    def close(self) -> None:
        for watch_id in self._ids:
            self._client.cancel_watch(watch_id)
        self._client.close()


def _at(revision: int) -> Callable[[Arrival], bool]:
    return lambda a: a.revision == revision


def _after(revision: int, phase: str) -> Callable[[Arrival], bool]:
    """A status written after ``revision`` with ``phase``: the spec change's own."""
    return lambda a: a.revision > revision and _phase(a.value) == phase


def _phase(value: bytes) -> str:
    try:
        doc = json.loads(value)
    except ValueError:
        return ""
    return str(doc.get("phase", "")) if isinstance(doc, dict) else ""


def measure_spec_status(endpoint: str, prefix: str, fog_url: str, samples: int,
                        log_file: Path, profile: Path | None = None) -> SpecStatusResult:
    """``samples`` pairs of (raw put → watch, pause flip → status on a watch)."""
    process = partial(controller_process, endpoint, prefix, log_file)
    with serving_one(endpoint, prefix, fog_url, SS, process) as (store, ctl):
        time.sleep(0.5)  # the first probe cycle passes
        return _samples(store, endpoint, prefix, samples, ctl, profile)


def _samples(store: Any, endpoint: str, prefix: str, samples: int, ctl: Controller,
             profile: Path | None) -> SpecStatusResult:
    raw_key = f"{prefix}/bench-raw/ping"  # not a document: the controller ignores it
    spec_key = world.spec_key(prefix, "ActiveStrategy", NAME)
    status_key = world.status_key(prefix, "ActiveStrategy", NAME)
    watch = KeyWatch(endpoint, [raw_key, spec_key, status_key], store.revision() + 1)
    spy = None if profile is None else _spy(ctl, profile, seconds=samples * 0.12 + 1)
    raw_ms: list[float] = []
    ours_ms: list[float] = []
    try:
        time.sleep(0.2)  # the watch streams are up
        for i in range(samples):
            t0 = time.monotonic()
            rev = store.put(raw_key, str(i).encode())
            raw_ms.append((watch.wait(raw_key, _at(rev), 5).at - t0) * 1000)
            time.sleep(0.01 + random.random() * 0.02)
            paused = i % 2 == 0
            doc = world.active_strategy(NAME, "ss", "bench")
            doc["spec"]["paused"] = paused
            want = "Paused" if paused else "Serving"
            t0 = time.monotonic()
            rev = store.put(spec_key, json.dumps(doc).encode())
            got = watch.wait(status_key, _after(rev, want), 5)
            ours_ms.append((got.at - t0) * 1000)
            time.sleep(0.03 + random.random() * 0.05)  # the reconcile finishes
    finally:
        watch.close()
        if spy is not None:
            _reap(spy)
    return SpecStatusResult(raw_ms, ours_ms)


def _spy(ctl: Controller, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy at 1 kHz: a spec change is a few milliseconds of work, which the scale
    profiles' 50 Hz would sample once in ten changes."""
    log = open(out.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
    try:
        return subprocess.Popen(
            [PY_SPY, "record", "--pid", str(ctl.running_pid), "--duration",
             str(max(1, round(seconds))), "--rate", "1000", "--format", "raw",
             "--output", str(out), "--nonblocking"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def _reap(spy: subprocess.Popen[bytes]) -> None:
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(5)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def main(argv: list[str] | None = None) -> int:
    """Row (c) alone: ``python -m hack.bench.spec_status [--samples N] [--runs N]``, each
    run on a fresh etcd, fogsim and controller."""
    import argparse
    import tempfile

    from tests.support.etcd import EtcdServer
    from tests.support.fogsim import FogsimServer

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--profile", type=Path, help="py-spy raw output of the last run")
    a = p.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="fogstrat-spec-status-"))
    nodes = world.write_nodes_file(out / "nodes.yaml", 12)
    for run in range(a.runs):
        with EtcdServer(name="fogstrat-bench") as etcd, FogsimServer(
                nodes, no_processes=True) as sim:
            result = measure_spec_status(
                etcd.endpoint, f"/bench/spec-status-{run}", sim.url, a.samples,
                out / f"spec-status-{run}.log",
                profile=a.profile if run == a.runs - 1 else None)
        print(result.row(), flush=True)
        (out / f"spec-status-{run}.json").write_text(json.dumps(
            {"raw_ms": result.raw_ms, "ours_ms": result.ours_ms}))
    print(f"logs and samples in {out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
