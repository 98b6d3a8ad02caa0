"""Event latency and failover overhead, each against a limit measured in the same run,
with the controller running in-process (see ``inproc``)."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyetcd

from controller.fog.client import FogClient
from controller.fog.factory import make_fog_client
from controller.store import Store, connect
from hack.bench import world
from hack.bench.inproc import FailoverEvent, Hooks, InProcessController


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (q in [0, 1])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def wait_until(pred: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def serving(store: Store, prefix: str, name: str, arch: str | None = None) -> bool:
    status = world.read_status(store, prefix, name)
    return bool(status and status.get("phase") == "Serving"
                and (arch is None or status.get("activeArchitecture") == arch))


# --- 1. event latency --------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyResult:
    samples: int
    watch_ms: list[float]
    reconcile_ms: list[float]
    reconcile_durations_ms: list[float]  # how long each reconcile of the key took

    def median_ratio(self) -> float:
        return statistics.median(self.reconcile_ms) / statistics.median(self.watch_ms)

    def p99_ratio(self) -> float:
        return quantile(self.reconcile_ms, 0.99) / quantile(self.watch_ms, 0.99)


class BareWatcher:
    """A raw etcd watch on the one key (pyetcd's own watch callback: no informer, no queue);
    records revision -> monotonic arrival time."""

    def __init__(self, endpoint: str, key: str, start_revision: int) -> None:
        host, port = endpoint.rsplit(":", 1)
        self._client = pyetcd.client(host, int(port))
        self.arrivals: dict[int, float] = {}
        self._cond = threading.Condition()
        self._watch_id = self._client.add_watch_callback(
            key.encode(), self._on_response, start_revision=start_revision)

    def _on_response(self, response: Any) -> None:
        now = time.monotonic()
        with self._cond:
            for event in getattr(response, "events", ()):
                self.arrivals.setdefault(int(event.mod_revision), now)
            self._cond.notify_all()

    def wait(self, revision: int, timeout: float) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: revision in self.arrivals, timeout)
            return self.arrivals.get(revision)

    def close(self) -> None:
        self._client.cancel_watch(self._watch_id)
        self._client.close()


def measure_latency(endpoint: str, prefix: str, fog_url: str, samples: int,
                    log_file: Path) -> LatencyResult:
    """Put a spec change (a new label) ``samples`` times; per put, time to the bare watch's
    event and to the start of the reconcile that sees that revision."""
    store = connect(endpoint)
    try:
        world.put_all(store, prefix, [
            world.environment("bench", fog_url),
            world.architecture("lat-arch", interval="10s"),
            world.strategy("lat", "lat-arch"),
            world.active_strategy("lat", "lat", "bench"),
        ])
        with InProcessController(endpoint, prefix, log_file) as ctl:
            wait_until(lambda: serving(store, prefix, "lat"), 30, "lat to serve")
            time.sleep(0.5)  # let the first probe cycle pass
            key = world.spec_key(prefix, "ActiveStrategy", "lat")
            watcher = BareWatcher(endpoint, key, store.revision() + 1)
            hooks = ctl.hooks
            watch_ms: list[float] = []
            reconcile_ms: list[float] = []
            try:
                time.sleep(0.2)  # the watch stream is up
                for i in range(samples):
                    doc = world.active_strategy("lat", "lat", "bench", {"bench-seq": str(i)})
                    body = json.dumps(doc).encode()
                    seen = len(hooks.starts)
                    t0 = time.monotonic()
                    revision = store.put(key, body)
                    arrived = watcher.wait(revision, 5)

                    def started(rev: int = revision, skip: int = seen) -> float | None:
                        for s in hooks.starts[skip:]:
                            if s.name == "lat" and s.spec_revision >= rev:
                                return s.at
                        return None

                    hooks.wait_for(lambda: started() is not None, 5)
                    began = started()
                    if arrived is None or began is None:
                        raise TimeoutError(f"sample {i}: no watch event or no reconcile")
                    watch_ms.append((arrived - t0) * 1000)
                    reconcile_ms.append((began - t0) * 1000)
                    time.sleep(0.05 + random.random() * 0.1)  # the reconcile finishes
            finally:
                watcher.close()
        durations = [d * 1000 for d in hooks.durations]
        return LatencyResult(samples, watch_ms, reconcile_ms, durations)
    finally:
        store.close()


# --- 2. failover overhead ------------------------------------------------------------------


@dataclass(frozen=True)
class FailoverResult:
    controller_s: list[float]  # detection (transition startedAt) -> replacement serving
    crash_to_done_s: list[float]  # node down -> failover recorded (context only)
    limit_s: list[float]  # the same fog operations and readiness probe, done directly
    limit_breakdown_ms: dict[str, float]  # median per operation

    def ratio(self) -> float:
        return statistics.median(self.controller_s) / statistics.median(self.limit_s)


def _sim(fog_url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fog_url + path, method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _main_instance(status: dict[str, Any], arch: str) -> str:
    """The fog05 instance id of ``arch``'s single entity, from status
    (``architectures.<arch>.instances.entities.<entity>.<replica>.instanceId``)."""
    entities = status["architectures"][arch]["instances"]["entities"]
    for replicas in entities.values():
        for replica in replicas.values():
            if replica.get("instanceId"):
                return str(replica["instanceId"])
    raise RuntimeError(f"no instance id in status of {arch}: {entities}")


def _timed(ops: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = fn()
    ops[name] = ops.get(name, 0.0) + time.monotonic() - started
    return result


def direct_failover_ops(fog: FogClient, fog_url: str, trial: int) -> dict[str, float]:
    """The fog operations one failover needs, done directly: bring up a replacement
    (onboard/define/configure/start/wait RUN/probe ready) and tear down a crashed instance
    (stop is not allowed from ERROR: clean/undefine/offload)."""
    nodes = {n.name: n.uuid for n in (fog.node_info(u) for u in fog.list_nodes()[-2:])}
    up, backup = sorted(nodes)
    did = f"bench-direct-{trial}-{random.randrange(1 << 30)}"
    descriptor: dict[str, Any] = {"id": did, "name": "svc",
                  "hypervisor": "BARE", "migration_kind": "COLD",
                  "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 1},
                  "command": {"binary": "/bin/true", "args": []}}
    # Set up the failed architecture (not timed): an instance, crashed. (The controller's
    # failed main is on a down node, where these calls are cheap 404s: this limit is generous.)
    failed_fdu = fog.onboard({**descriptor, "id": did + "-failed"})
    failed = fog.define(failed_fdu, nodes[up])
    fog.configure(failed.instance_id)
    fog.start(failed.instance_id, {})
    _sim(fog_url, f"/sim/instances/{failed.instance_id}/crash", "POST")

    ops: dict[str, float] = {}
    fdu = _timed(ops, "onboard", lambda: fog.onboard(descriptor))
    inst = _timed(ops, "define", lambda: fog.define(fdu, nodes[backup]))
    _timed(ops, "configure", lambda: fog.configure(inst.instance_id))
    _timed(ops, "start", lambda: fog.start(inst.instance_id, {}))

    def running() -> bool:
        return str(fog.instance_info(inst.instance_id).state.value) == "RUN"

    _timed(ops, "wait RUN", lambda: wait_until(running, 10, "RUN", interval=0.005))
    _timed(ops, "probe ready", running)
    _timed(ops, "observe failed", lambda: fog.instance_info(failed.instance_id))
    _timed(ops, "clean", lambda: fog.clean(failed.instance_id))
    _timed(ops, "undefine", lambda: fog.undefine(failed.instance_id))
    _timed(ops, "offload", lambda: fog.offload(failed_fdu))
    # Leave nothing behind.
    fog.stop(inst.instance_id)
    fog.clean(inst.instance_id)
    fog.undefine(inst.instance_id)
    fog.offload(fdu)
    return ops


def _failed_over(hooks: Hooks, seen: int, name: str) -> bool:
    return any(e.name == name for e in hooks.failovers[seen:])


def _failover_world(fog_url: str, stem: str, names: list[str],
                    backup_selector: dict[str, str] | None) -> list[dict[str, Any]]:
    """Strategy ``names[i]``: main ``<stem>-main-i`` pinned to slot ``s<i>`` (node
    ``n-00i``), one replacement ``<stem>-backup``; probes every second, two failures to
    fail over. ActiveStrategies are left to the caller (when to start them matters)."""
    backup = f"{stem}-backup"
    documents = [world.environment("bench", fog_url),
                 world.architecture(backup, interval="1s", timeout="500ms",
                                    failure_threshold=2, selector=backup_selector)]
    for i, name in enumerate(names):
        documents += [
            world.architecture(f"{stem}-main-{i}", interval="1s", timeout="500ms",
                               failure_threshold=2, selector={"slot": f"s{i}"}),
            world.strategy(name, f"{stem}-main-{i}", [backup])]
    return documents


def _fail_over(ctl: InProcessController, fog_url: str, slot: int, name: str
               ) -> FailoverEvent:
    """Take node ``n-<slot>`` (``name``'s main) down; the failover the controller records."""
    seen = len(ctl.hooks.failovers)
    _sim(fog_url, f"/sim/nodes/n-{slot:03d}/down", "POST")
    ctl.hooks.wait_for(partial(_failed_over, ctl.hooks, seen, name), 60)
    event = next((e for e in ctl.hooks.failovers[seen:] if e.name == name), None)
    if event is None:
        raise TimeoutError(f"{name}: no failover within 60s")
    return event


def measure_failover(endpoint: str, prefix: str, fog_url: str, trials: int,
                     log_file: Path, *, fog_latency_ms: int = 0) -> FailoverResult:
    """Trial i: main ``fo-main-i`` pinned to node ``n-00i``, replacement ``fo-backup`` on
    ``n-010``; the main's node goes down (a crashed instance alone is repaired in place,
    not failed over). The controller's own duration (transition startedAt -> replacement
    serving) is compared with the same fog operations done directly. ``fog_latency_ms``
    (fogsim fault injection) is added to every fog call of both, once all serve."""
    if trials > 10:
        raise ValueError("at most 10 failover trials (nodes n-000..n-009 are their slots)")
    store = connect(endpoint)
    fog = make_fog_client("fogsim", fog_url, timeout=5.0)
    names = [f"fo-{i}" for i in range(trials)]
    try:
        world.put_all(store, prefix, _failover_world(fog_url, "fo", names,
                                                     {"bench": "backup"}))
        # Started a tenth of the probe interval apart: started together, their probe
        # cycles fall due in the same 50 ms slot of the work queue, so every failover
        # was detected while all the others' cycles ran (strategies started at different
        # times, as they are, are not in step).
        for name in names:
            world.put_all(store, prefix, [world.active_strategy(name, name, "bench")])
            time.sleep(1.0 / trials)
        controller_s: list[float] = []
        down_to_done: list[float] = []
        limits: list[float] = []
        per_op: dict[str, list[float]] = {}
        with InProcessController(endpoint, prefix, log_file) as ctl:
            for i, name in enumerate(names):
                wait_until(partial(serving, store, prefix, name, f"fo-main-{i}"), 60,
                           f"{name} to serve on its main")
            time.sleep(1.5)
            _sim(fog_url, "/sim/faults", "PUT", {"latency_ms": fog_latency_ms})
            for i, name in enumerate(names):
                t0 = time.monotonic()
                event = _fail_over(ctl, fog_url, i, name)
                wait_until(partial(serving, store, prefix, name, "fo-backup"), 30,
                           f"{name} to serve on fo-backup")
                controller_s.append(event.duration)
                down_to_done.append(event.at - t0)
                ops = direct_failover_ops(fog, fog_url, i)
                limits.append(sum(ops.values()))
                for op, secs in ops.items():
                    per_op.setdefault(op, []).append(secs)
        breakdown = {op: statistics.median(v) * 1000 for op, v in per_op.items()}
        return FailoverResult(controller_s, down_to_done, limits, breakdown)
    finally:
        fog.close()
        store.close()


def _deleted(store: Store, prefix: str, name: str) -> bool:
    return world.read_status(store, prefix, name) is None


def measure_quiet_failover(endpoint: str, prefix: str, fog_url: str, trials: int,
                           log_file: Path, *, fog_latency_ms: int, quiet_s: float = 11.0
                           ) -> list[float]:
    """The controller's own failover duration (seconds per trial) when the failover comes
    after a quiet spell, as real ones do: nothing placed for ``quiet_s`` (longer than node
    capacity is cached), onto a replacement any node may run, so its deploy must ask every
    node how full it is. Each trial's strategy is deleted after it: a failed-over one
    keeps checking whether its main fits again, which would keep capacity fresh."""
    if trials > 10:
        raise ValueError("at most 10 trials (nodes n-000..n-009 are their slots)")
    store = connect(endpoint)
    names = [f"quiet-{i}" for i in range(trials)]
    try:
        world.put_all(store, prefix, _failover_world(fog_url, "quiet", names, None))
        durations: list[float] = []
        with InProcessController(endpoint, prefix, log_file) as ctl:
            for i, name in enumerate(names):
                world.put_all(store, prefix, [world.active_strategy(name, name, "bench")])
                wait_until(partial(serving, store, prefix, name, f"quiet-main-{i}"), 60,
                           f"{name} to serve on its main")
                _sim(fog_url, "/sim/faults", "PUT", {"latency_ms": fog_latency_ms})
                time.sleep(quiet_s)
                durations.append(_fail_over(ctl, fog_url, i, name).duration)
                _sim(fog_url, "/sim/faults", "PUT", {"latency_ms": 0})
                store.delete(world.spec_key(prefix, "ActiveStrategy", name))
                wait_until(partial(_deleted, store, prefix, name), 60, f"{name} to be deleted")
        return durations
    finally:
        store.close()
