"""A story test over the reconciler's shell: random fog faults, node failures, controller
kills and leaderships lost mid-batch; at the end the history stored in etcd, the sum of
every process's counters and the log lines say the same thing, entry for entry.

Each controller "process" here is a fresh ``ActiveStrategyReconciler`` with its own
informer, ``Metrics`` and memory, on the real etcd and a real fogsim; its clock is the wall
clock plus a skew the story moves ahead (probe intervals and the failback window pass
without sleeping). Exceptions a reconcile raises (a conflicting write, a fog error) are
what the work queue would retry: the story carries on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as hs

from controller.api import kinds
from controller.metrics import Metrics
from controller.resources import Resources
from controller.runtime.active import ActiveStrategyReconciler
from controller.runtime.documents import Documents
from controller.runtime.informer import Informer, ObjectKey
from controller.runtime.status_writer import StatusWriter
from controller.store import Store, connect
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, active_strategy, wait_for

pytestmark = pytest.mark.integration

Entry = tuple[float, str, str, str, str]
"""A history entry as (time, kind, from, to, reason)."""


class Lines(logging.Handler):
    """The reconciler's log records, kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class World:
    s: Scenario
    store: Store
    skew: float = 0.0
    tick: float = 0.0
    """Seconds each look at the clock moves it on: fog calls that take their time (a
    probe cycle may come due between a batch's actions and the step after them)."""
    leader_calls: int | None = None
    """Calls to ``is_leader`` the current process has left (None: unlimited)."""
    counters: list[Metrics] = field(default_factory=list)
    seen: dict[Entry, str] = field(default_factory=dict)
    """Every history entry ever stored (the history itself is bounded), with its message."""

    def now(self) -> float:
        self.skew += self.tick
        return time.time() + self.skew

    def is_leader(self) -> bool:
        if self.leader_calls is None:
            return True
        self.leader_calls -= 1
        return self.leader_calls >= 0


class Process:
    """One controller process's reconciler."""

    def __init__(self, w: World) -> None:
        self.informer = Informer(w.store, w.s.prefix, lambda _change: None)
        self.informer.start()
        assert self.informer.wait_synced(10)
        self.metrics = Metrics(process_collectors=False)
        w.counters.append(self.metrics)
        self.reconciler = ActiveStrategyReconciler(
            docs=Documents(self.informer),
            status=StatusWriter(Resources(w.store, w.s.prefix), self.informer, lambda: None),
            metrics=self.metrics, is_leader=w.is_leader, clock=w.now)

    def close(self) -> None:
        self.reconciler.close()
        self.informer.stop()


OPS = hs.one_of(
    hs.just(("down",)), hs.just(("up",)),
    hs.tuples(hs.just("faults"), hs.sampled_from([0.0, 0.3, 0.6])),
    hs.tuples(hs.just("steps"), hs.integers(1, 6)),
    hs.just(("kill",)),
    hs.tuples(hs.just("cut"), hs.integers(0, 6)),
)


def _counted(metrics: list[Metrics], name: str) -> Counter[tuple[str, str, str, str]]:
    out: Counter[tuple[str, str, str, str]] = Counter()
    for m in metrics:
        family = m.failovers if name == "failover" else m.failbacks
        for metric in family.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    lab = sample.labels
                    out[(name, lab["from"], lab["to"], lab["reason"])] += int(sample.value)
    return out


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def test_history_counters_and_log_tell_one_story(s: Scenario) -> None:
    s.given.web_strategy(window="2s", active=False)
    store = connect(s.endpoint)
    lines = Lines()
    log = logging.getLogger("fogstrat.activestrategy")
    log.addHandler(lines)
    log.setLevel(logging.DEBUG)
    stories = iter(range(1000))
    try:
        # No shrinking: each example is seconds of real etcd and fogsim, and shrinking a
        # failure re-runs it dozens of times (past the test timeout on a loaded machine).
        # The failing example is printed as found; a failure seen once is kept below.
        @settings(max_examples=6, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @example([("down",)] * 5 + [("steps", 4)], 1.1)  # a failback aborted twice alike
        @given(hs.lists(OPS, min_size=4, max_size=12), hs.sampled_from([0.0, 0.6, 1.1]))
        def story(ops: list[tuple[object, ...]], tick: float) -> None:
            lines.records.clear()
            name = f"story-{next(stories)}"
            _tell(World(s, store, tick=tick), name, ops, lines)

        story()
    finally:
        log.removeHandler(lines)
        store.close()


def _tell(w: World, name: str, ops: list[tuple[object, ...]], lines: Lines) -> None:
    s = w.s
    key = ObjectKey(kinds.ACTIVE_STRATEGY, "default", name)
    resources = Resources(w.store, s.prefix)
    s.sim.cli("faults", "--error-rate", "0")
    s.when.node_up("cloud-1")
    s.apply(active_strategy(name, "web", "lab"))
    proc = Process(w)
    try:
        for op in [("steps", 4), *ops, ("faults", 0.0), ("up",), ("steps", 8)]:
            proc = _do(w, proc, key, resources, op)
        # before the deletion, which drops the strategy's series
        _agree(w, [r for r in lines.records if r.getMessage().startswith(f"default/{name}: ")])
        _delete(w, proc, key, name)
    finally:
        proc.close()


def _do(w: World, proc: Process, key: ObjectKey, resources: Resources,
        op: tuple[object, ...]) -> Process:
    s = w.s
    if op[0] == "down":
        s.when.node_down("cloud-1")
    elif op[0] == "up":
        s.when.node_up("cloud-1")
    elif op[0] == "faults":
        s.sim.cli("faults", "--error-rate", str(op[1]))
    elif op[0] in ("kill", "cut"):
        if op[0] == "cut":  # this process loses the lead somewhere in its next reconcile
            w.leader_calls = int(str(op[1]))
            _reconcile(w, proc, key, resources)
            w.leader_calls = None
        proc.close()
        proc = Process(w)
    else:
        for _ in range(int(str(op[1]))):
            w.skew += 1.0
            _reconcile(w, proc, key, resources)
    return proc


def _reconcile(w: World, proc: Process, key: ObjectKey, resources: Resources) -> None:
    try:
        proc.reconciler.reconcile(key)
    except Exception as exc:  # what the work queue retries (a conflict, the fog failing)
        logging.getLogger(__name__).debug("reconcile failed: %s", exc)
    status, _ = resources.get_status(key.kind, key.namespace, key.name)
    for e in (status or {}).get("history") or []:
        w.seen[(e["time"], e["kind"], e["from"], e["to"], e["reason"])] = e["message"]


def _delete(w: World, proc: Process, key: ObjectKey, name: str) -> None:
    """Delete the strategy and reconcile until nothing of it is left (the next story
    deploys on the same nodes and port)."""
    w.s.when.fogstrat("delete", "activestrategy", name)
    wait_for(lambda: proc.reconciler._docs.get(key) is None, 10, "the informer to see it")

    def gone() -> bool:
        w.skew += 1.0
        try:
            proc.reconciler.reconcile(key)
        except Exception as exc:
            logging.getLogger(__name__).debug("reconcile failed: %s", exc)
        return not w.s.state()["instances"] and proc.reconciler._status.current(key)[0] is None

    wait_for(gone, 60, f"{name} to be deleted", w.s.describe, interval=0.2)


def _agree(w: World, records: list[logging.LogRecord]) -> None:
    stored: Counter[tuple[str, str, str, str]] = Counter()
    for (_, kind, frm, to, reason) in w.seen:
        if kind in ("failover", "failback"):
            stored[(kind, frm, to, reason)] += 1
    counted = _counted(w.counters, "failover") + _counted(w.counters, "failback")
    assert counted == stored, (counted, sorted(w.seen))
    info = Counter(r.getMessage().split(": ", 1)[1] for r in records
                   if r.levelno >= logging.INFO)
    # Two entries may carry the same sentence (a failback aborted twice for the same
    # reason): each stored entry is one log line, so the counts must match per sentence.
    told = Counter(message for entry, message in w.seen.items() if entry[1] != "degraded")
    for message, times in told.items():
        assert info[message] == times, (message, times, info, sorted(w.seen))
    durations = sum(_count(m, k) for m in w.counters for k in ("failover", "failback"))
    assert durations == sum(stored.values())


def _count(m: Metrics, kind: str) -> int:
    for metric in m.transition_duration.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("kind") == kind:
                return int(sample.value)
    return 0
