"""Fog event → reconcile start, against fogsim's own change feed read directly in the same
run.

The event: the strategy's instance is stopped behind the controller's back (RUN →
CONFIGURE), then started again. The strategy is paused, so the controller observes and
probes but never acts on what it finds (it would otherwise start the instance itself,
racing the next sample); probes are a minute apart and the failure threshold is out of
reach. Per sample: from the stop request
to the bare feed reader seeing the instance in CONFIGURE (the limit), and to the start of
the strategy's reconcile that the fog informer queued for it.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import random
import statistics
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import requests

from hack.bench import world
from hack.bench.inproc import InProcessController
from hack.bench.small import _main_instance, _sim, quantile, wait_until
from hack.bench.stack import OneStrategy, serving_one

FEED_WAIT = 1.0
"""Seconds one long poll of the bare reader waits (how long closing it may take)."""


@dataclass(frozen=True)
class FogEventResult:
    samples: int
    feed_ms: list[float]
    reconcile_ms: list[float]

    def median_ratio(self) -> float:
        return statistics.median(self.reconcile_ms) / statistics.median(self.feed_ms)

    def row(self) -> str:
        ratio = self.median_ratio()
        verdict = "ok" if ratio <= 1.5 else "**over**"
        return (f"| fog event → reconcile start, median (n={self.samples}; p99 "
                f"{quantile(self.reconcile_ms, 0.99):.2f} ms) | "
                f"{statistics.median(self.reconcile_ms):.2f} ms | bare fog feed "
                f"{statistics.median(self.feed_ms):.2f} ms | {ratio:.2f} | ≤ 1.5 | {verdict} |")


class BareFeed:
    """fogsim's feed read with one long poll after another, nothing else, in a process of
    its own (sharing the benchmark's interpreter, it waited for the controller's threads):
    records when each (instance, status) arrives, on the system's monotonic clock."""

    def __init__(self, fog_url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._queue: multiprocessing.Queue[tuple[float, str, str | None]] = ctx.Queue()
        self._stop = ctx.Event()
        self._process = ctx.Process(target=_read_feed, args=(fog_url, self._queue, self._stop),
                                    name="bare-feed", daemon=True)
        self._process.start()
        self.arrivals: list[tuple[float, str, str | None]] = []
        if self._queue.get(timeout=30)[1] != "ready":
            raise RuntimeError("bare feed reader did not start")

    def wait(self, iid: str, status: str, after: float, timeout: float) -> float | None:
        until = time.monotonic() + timeout
        while True:
            seen = next((at for at, i, st in self.arrivals
                         if at >= after and i == iid and st == status), None)
            left = until - time.monotonic()
            if seen is not None or left <= 0:
                return seen
            try:
                self.arrivals.append(self._queue.get(timeout=left))
            except queue.Empty:
                return None

    def close(self) -> None:
        self._stop.set()
        self._process.join(FEED_WAIT + 5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def _read_feed(fog_url: str, out: Any, stop: Any) -> None:
    url = fog_url + "/fdu/instances/list"
    session = requests.Session()
    session.trust_env = False
    listing = session.get(url, timeout=10)
    listing.raise_for_status()
    since, epoch = int(listing.headers["X-Fogsim-Revision"]), listing.headers["X-Fogsim-Epoch"]
    out.put((time.monotonic(), "ready", None))
    while not stop.is_set():
        params: dict[str, Any] = {"since": since, "epoch": epoch, "watch": "true",
                                  "timeout": FEED_WAIT}
        body = session.get(url, params=params, timeout=10).json()
        now = time.monotonic()
        for change in body.get("changes", ()):
            out.put((now, change["id"], (change.get("record") or {}).get("status")))
        since = int(body["revision"])


FEV = OneStrategy("fev", "fev", "fev-arch", {"interval": "60s", "failure_threshold": 1000})


def measure_fog_event(endpoint: str, prefix: str, fog_url: str, samples: int,
                      log_file: Path) -> FogEventResult:
    in_process = partial(InProcessController, endpoint, prefix, log_file)
    with serving_one(endpoint, prefix, fog_url, FEV, in_process) as (store, ctl):
        status = world.read_status(store, prefix, FEV.name) or {}
        iid = _main_instance(status, FEV.arch)
        paused = world.active_strategy(FEV.name, FEV.strategy, "bench")
        paused["spec"]["paused"] = True
        store.put(world.spec_key(prefix, "ActiveStrategy", FEV.name),
                  json.dumps(paused).encode())
        wait_until(lambda: (world.read_status(store, prefix, FEV.name) or {}).get("phase")
                   == "Paused", 30, "fev to pause")
        time.sleep(0.5)  # the first probe cycle passes
        feed = BareFeed(fog_url)
        try:
            return _samples(ctl, feed, fog_url, iid, samples)
        finally:
            feed.close()


def _samples(ctl: InProcessController, feed: BareFeed, fog_url: str, iid: str,
             samples: int) -> FogEventResult:
    hooks = ctl.hooks
    feed_ms: list[float] = []
    reconcile_ms: list[float] = []
    for i in range(samples):
        seen = len(hooks.starts)
        t0 = time.monotonic()
        _sim(fog_url, f"/fdu/instances/{iid}/stop", "POST")
        arrived = feed.wait(iid, "CONFIGURE", t0, 5)

        def started(skip: int = seen) -> float | None:
            return next((s.at for s in hooks.starts[skip:] if s.name == "fev"), None)

        hooks.wait_for(lambda: started() is not None, 5)
        began = started()
        if arrived is None or began is None:
            raise TimeoutError(f"fog event sample {i}: no feed event or no reconcile")
        feed_ms.append((arrived - t0) * 1000)
        reconcile_ms.append((began - t0) * 1000)
        _run_again(fog_url, feed, iid, t0, i)
        time.sleep(0.1 + random.random() * 0.1)  # events apart: the informer reads in batches
    return FogEventResult(samples, feed_ms, reconcile_ms)


def _run_again(fog_url: str, feed: BareFeed, iid: str, since: float, sample: int) -> None:
    _sim(fog_url, f"/fdu/instances/{iid}/start", "POST", {})
    if feed.wait(iid, "RUN", since, 5) is None:
        raise TimeoutError(f"fog event sample {sample}: the instance did not run again")
