"""The ActiveStrategy reconciler's loop: the imperative shell around ``reconcile.decide``.

Each reconcile reads the stored status, resolves the documents the strategy needs
(``inputs``), runs the probe cycles that are due, and then steps: observe the fog
(``observer``), ask the pure decision what to do, write the new status (write-ahead, so a
restarted controller finds an interrupted transition), tell what happened (``reporter``)
and carry out the actions (``executor``), until the decision has nothing more to do right
now. Everything that can go wrong with a user's documents or the fog ends up in status
and in the one sentence logged per step; nothing here raises for bad input.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.arch import ArchitectureError
from controller.fog.client import FogError
from controller.metrics import Metrics
from controller.reconcile.decision import (
    Decision,
    DecisionInput,
    Probe,
    decide,
    probes_due,
    quiet_probe,
)
from controller.reconcile.evolve import evolve
from controller.reconcile.status import StrategyStatus
from controller.reconcile.times import rfc3339
from controller.runtime.active.executor import Executor, Outcomes, WriteGate
from controller.runtime.active.inputs import (
    InputResolver,
    Resolved,
    held,
    remembered,
    remembered_unchanged,
)
from controller.runtime.active.observer import FogView, Observation, Observer
from controller.runtime.active.reporter import Reporter, ReportState
from controller.runtime.crashpoints import crash_point
from controller.runtime.documents import Documents, Parsed
from controller.runtime.endpoints import EndpointPublisher, decided_endpoint
from controller.runtime.events import EventRecorder
from controller.runtime.fogs import Fogs
from controller.runtime.informer import ObjectKey
from controller.runtime.resolve import StrategyInputs, Unresolved
from controller.runtime.status_writer import StatusWriter

_log = logging.getLogger("fogstrat.activestrategy")

MAX_STEPS = 12
"""Decision steps per reconcile before yielding the worker to other objects."""
RETRY_UNRESOLVED = 30.0


@dataclass
class StoredStatus:
    """Per ActiveStrategy: the status last decided, and the stored document it matches."""

    status: StrategyStatus | None = None
    """The last decided status; it may hold volatile probe fields the store does not."""
    basis: int = -1
    """Mod revision of the stored status ``status`` was decided from (or written as)."""
    raw: dict[str, Any] | None = None
    """The status document ``status`` was written as (or found equal to, volatile fields
    aside)."""


@dataclass(frozen=True, slots=True)
class Resting:
    """From the last decision (``Decision.steady_until``): the strategy rests until
    ``until`` on these very inputs."""

    until: float
    inputs: StrategyInputs


@dataclass
class Pacing:
    """Per ActiveStrategy: when the loop must look again, from the last decision."""

    probes_due: Mapping[str, float] | None = None
    """When each architecture's next probe cycle is due. None: no decision of ours since
    the status was read from the store (a restart, a new leader, someone else's write);
    the stored status says what is due."""
    resting: Resting | None = None


@dataclass
class Memory:
    """What the controller remembers of one ActiveStrategy between reconciles, one part
    per room that uses it."""

    stored: StoredStatus = field(default_factory=StoredStatus)
    pacing: Pacing = field(default_factory=Pacing)
    resolved: Resolved | None = None
    view: FogView = field(default_factory=FogView)
    outcomes: Outcomes = field(default_factory=Outcomes)
    report: ReportState = field(default_factory=ReportState)


class ActiveStrategyReconciler:
    def __init__(self, *, docs: Documents, status: StatusWriter, metrics: Metrics,
                 is_leader: Callable[[], bool], clock: Callable[[], float],
                 fogs: Fogs | None = None, workdir: Path | None = None,
                 events: EventRecorder | None = None,
                 endpoints: EndpointPublisher | None = None,
                 woken: Callable[[ObjectKey], Collection[str]] | None = None,
                 on_stored: Callable[[ObjectKey, Mapping[str, Any] | None], None] | None = None
                 ) -> None:
        self._docs = docs
        self._endpoints = endpoints
        self._woken = woken
        """The architectures of a key that fog events concerned since its last reconcile
        (the fog informers' wakes), taken on the worker that reconciles the key."""
        self._on_stored = on_stored
        """Told of each stored status this reconciler decodes (the fog informers' owner
        index learns the instances from it: one decode of a status, not two)."""
        self._status = status
        self._is_leader = is_leader
        self._clock = clock
        self._fogs = fogs or Fogs()
        self._inputs = InputResolver(docs, workdir or Path.cwd())
        self._reporter = Reporter(metrics, events)
        self._observer = Observer(self._fogs)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="fogstrat-status")
        """Status writes that may overlap the actions before ``Decision.write_before``, and
        a failover target's ``prepare`` (alongside its batch's write)."""
        self._executor = Executor(observer=self._observer, reporter=self._reporter,
                                  pool=self._pool, is_leader=is_leader)
        self._lock = threading.Lock()
        self._memory: dict[ObjectKey, Memory] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._fogs.close()

    def _mem(self, key: ObjectKey) -> Memory:
        mem = self._memory.get(key)  # one worker per key: only a new key needs the lock
        if mem is None:
            with self._lock:
                mem = self._memory.setdefault(key, Memory())
        return mem

    def _forget(self, key: ObjectKey) -> None:
        with self._lock:
            self._memory.pop(key, None)
        self._reporter.forget(key)
        if self._endpoints is not None:
            self._endpoints.remove(key)

    def reconcile(self, key: ObjectKey) -> float | None:
        parsed = self._docs.get(key)
        mem = self._mem(key)
        if self._woken is not None:
            _wake(mem.pacing, self._woken(key), self._clock)
        raw, status = self._stored(key, mem)
        if parsed is None and raw is None:
            self._forget(key)
            return None
        if parsed is None and _never_deployed(status):
            # Deleted while invalid, before it ever ran: nothing to tear down, so its status
            # goes with it rather than being held as invalid for ever. (A valid one may have
            # started deploying before its status recorded it: it keeps the teardown path.)
            self._status.delete(key)
            self._forget(key)
            return None
        try:
            inputs = self._resolve(key, parsed, raw or {}, mem)
        except Unresolved as exc:
            return self._hold_unresolved(key, parsed, raw, status, exc, mem)
        pacing = mem.pacing
        due = pacing.probes_due
        if due is None:
            # No decision of ours to go by (a restart, another writer): what the stored
            # status says is due runs first, so a resync is one step per strategy, not two.
            due, pacing.resting = probes_due(status, inputs.health), None
        rest = self._probe_due(inputs, status, mem, due)
        if rest is not None:
            return rest
        return self._steps(inputs, status, raw, mem)

    def _steps(self, inputs: StrategyInputs, status: StrategyStatus,
               raw: dict[str, Any] | None, mem: Memory) -> float | None:
        """Decide, write, report and act until the decision has nothing to do right now."""
        observation: Observation | None = None
        for _ in range(MAX_STEPS):
            if not self._is_leader():
                return None
            decision, observation = self._step(inputs, status, mem, observation)
            mem.pacing.probes_due = decision.probes_due
            mem.pacing.resting = (None if decision.steady_until is None
                                  else Resting(decision.steady_until, inputs))
            probing = bool(decision.actions) and all(isinstance(a, Probe)
                                                     for a in decision.actions)
            gate: WriteGate | None = None
            if not probing:
                # A step that only asks for probes changes nothing on the fog: nothing to
                # write ahead of, and the next step (right after the probes, on the same
                # observation: probes read the fog, they do not change it) writes and
                # reports what it carries, so such a cycle compares and writes once.
                gate = self._write_ahead(inputs, decision, raw or {}, mem)
                self._reporter.step(inputs, decision, mem.report)
            if not probing or observation.has_errors:
                observation = None  # errors are told to one decision only
            if not decision.actions:
                return decision.requeue_after
            acted = self._executor.act(inputs, decision, mem.view, mem.outcomes, gate)
            if acted.delete_status:
                self._status.delete(inputs.key)
                self._forget(inputs.key)
                _log.info("%s/%s: deleted, nothing left in the fog", inputs.key.namespace,
                          inputs.key.name)
                return None
            status = decision.status
            raw = self._stored(inputs.key, mem)[0]
        return 0.05

    def _stored(self, key: ObjectKey, mem: Memory
                ) -> tuple[dict[str, Any] | None, StrategyStatus]:
        """The stored status document and the status to decide from: our own last decision
        while the store still holds what it was based on (no parsing), else the store's (a
        restart, a new leader, or someone else's write)."""
        stored = mem.stored
        revision = self._status.revision(key)
        if stored.status is not None and stored.raw is not None and revision == stored.basis:
            return stored.raw, stored.status
        raw, revision = self._status.current(key)
        if self._on_stored is not None:
            self._on_stored(key, raw)
        status = StrategyStatus.from_json(raw or {})
        self._reporter.found(key, mem.report, status)
        mem.pacing.probes_due = None
        if raw is None:
            return raw, status
        # what the store holds: a decision equal to it writes nothing
        stored.status, stored.basis, stored.raw = status, revision, raw
        if status.unreported and self._is_leader():
            self._settle(key, mem)  # a predecessor died before reporting these
        return stored.raw, stored.status

    def _probe_due(self, inputs: StrategyInputs, status: StrategyStatus, mem: Memory,
                   due_at: Mapping[str, float]) -> float | None:
        """Run the probe cycles due by now (``due_at``: the last decision's word).

        While the strategy rests on these same inputs, cycles that are no news (healthy
        after healthy) are folded here (``quiet_probe``) and no step follows: returns when
        to come back. None: a step must follow, with the outcomes in ``mem.outcomes``. At
        ten thousand strategies this is most of what a steady controller does, so the
        step it saves (observe, decide, compare) is most of each cycle's cost."""
        now = self._clock()
        pacing, outcomes = mem.pacing, mem.outcomes
        rest = pacing.resting
        quiet: StrategyStatus | None = None
        if rest is not None and now < rest.until and rest.inputs is inputs and not outcomes.errors:
            quiet = status
        due_next = dict(due_at)
        for name, due in due_at.items():
            if due <= now and name in inputs.blueprints:
                try:
                    outcome = self._executor.probe(inputs, name, status, mem.view, outcomes)
                except (ArchitectureError, FogError):
                    outcomes.probes.pop(name, None)  # the decision asks again, and sees why
                    quiet = None
                    continue
                health = inputs.blueprints[name].spec.health
                if quiet is not None:
                    quiet = quiet_probe(quiet, name, outcome, now=now,
                                        strategy=inputs.strategy, health=health)
                due_next[name] = now + health.interval
        if quiet is None or rest is None:
            pacing.probes_due = {}
            return None
        # Resting: no step, whether cycles ran or nothing was due (the manager's periodic
        # resync; the decision's own, ``steady_until``, comes in its time -- a step here
        # would be a full step for every strategy in one burst every resync period).
        mem.stored.status, outcomes.probes, pacing.probes_due = quiet, {}, due_next
        return max(0.0, min(rest.until, *due_next.values()) - now)

    def _step(self, inputs: StrategyInputs, status: StrategyStatus, mem: Memory,
              observation: Observation | None = None) -> tuple[Decision, Observation]:
        outcomes = mem.outcomes
        if observation is None:
            observation = self._observer.observe(inputs, status, mem.view, outcomes.errors)
        probes, outcomes.probes = (outcomes.probes or None), {}
        outcomes.errors.clear()  # told to this decision only (``Outcomes.errors``)
        return decide(DecisionInput(
            spec=inputs.spec, generation=inputs.generation, strategy=inputs.strategy,
            status=status, observed=observation.observed, now=self._clock(),
            health=inputs.health,
            fingerprints={n: bp.fingerprint for n, bp in inputs.blueprints.items() if bp.known},
            probes=probes, deletion_requested=inputs.deletion,
            fog_reachable=observation.reachable, fog_message=observation.message,
            key=f"{inputs.key.namespace}/{inputs.key.name}",
            using_last_valid=inputs.using_last_valid,
        )), observation

    def _resolve(self, key: ObjectKey, parsed: Parsed | None, raw: Mapping[str, Any],
                 mem: Memory) -> StrategyInputs:
        last = mem.resolved
        resolved = self._inputs.resolved(key, parsed, raw, last)
        if resolved is not last:
            mem.resolved = resolved
            if resolved.inputs.using_last_valid:
                self._reporter.warn_once(key, mem.report, resolved.inputs.using_last_valid)
        return resolved.inputs

    def _hold_unresolved(self, key: ObjectKey, parsed: Parsed | None,
                         raw: Mapping[str, Any] | None, status: StrategyStatus,
                         exc: Unresolved, mem: Memory) -> float:
        """Invalid input: report it, touch nothing, look again later (and on any change)."""
        holding = held(parsed, raw, status, exc, self._clock())
        self._status.write(key, holding.document)
        self._reporter.held(key, mem.report, holding.sentence, holding.phase)
        return RETRY_UNRESOLVED

    def _write_ahead(self, inputs: StrategyInputs, decision: Decision,
                     previous: Mapping[str, Any], mem: Memory) -> WriteGate | None:
        """Store the decision's status before the action ``write_before`` runs: now, or in
        the background while the actions before it run (the gate they hand on waits)."""
        if decision.write_before == 0:
            self._write(inputs, decision, previous, mem)
        elif decision.write_before < len(decision.actions):
            # e.g. a failover undeploys the recorded architecture while its transition is
            # written: the deploy after it waits for the write
            return WriteGate(decision.write_before,
                             self._pool.submit(self._write, inputs, decision, previous, mem))
        return None

    def _write(self, inputs: StrategyInputs, decision: Decision, previous: Mapping[str, Any],
               mem: Memory) -> None:
        stored = mem.stored
        status = _unreported(decision.status, len(mem.report.reported.pending(
            decision.status.history)))
        endpoint = decided_endpoint(inputs, status, previous, self._clock())
        based = (stored.status is not None and stored.raw is not None
                 and stored.basis == self._status.revision(inputs.key))
        same = based and stored.status is not None and status.same_but_volatile(stored.status)
        if (same and stored.raw is not None and stored.raw.get("endpoint") == endpoint
                and remembered_unchanged(inputs, stored.raw)):
            stored.status = status  # nothing to write: no document to build either
            self._publish(inputs, endpoint, previous)
            self._settle(inputs.key, mem)  # (a report that failed before is tried again)
            return
        doc = status.to_json()
        if endpoint is not None:
            doc["endpoint"] = endpoint
        doc["createdAt"] = previous.get("createdAt") or rfc3339(self._clock())
        doc["strategy"] = inputs.spec.strategy
        doc["environment"] = inputs.environment_name
        kept = remembered(inputs, previous)
        if kept is not None:
            doc["inputs"] = kept
        self._status.write(inputs.key, doc, changed=based and not same)
        stored.status, stored.basis = status, self._status.revision(inputs.key)
        stored.raw = doc
        self._publish(inputs, endpoint, previous)
        if status.unreported:
            crash_point("history-stored", status.history[-1].kind)
        self._reporter.stored(inputs.key, mem.report, status.history)
        self._settle(inputs.key, mem)

    def _settle(self, key: ObjectKey, mem: Memory) -> None:
        """Write the Events of the stored status's unreported history entries, then store
        it again without that mark: a controller that dies in between leaves them to its
        successor, who tells them (an Event names its entry: stored once)."""
        stored = mem.stored
        status, raw = stored.status, stored.raw
        if status is None or raw is None or not status.unreported:
            return
        if not self._reporter.tell(key, status.unreported_entries()):
            return  # etcd refused an Event: the mark stays, the next write tries again
        doc = {k: v for k, v in raw.items() if k != _UNREPORTED}
        self._status.write(key, doc, changed=True)
        stored.status, stored.raw = evolve(status, unreported=None), doc
        stored.basis = self._status.revision(key)
        mem.report.reported.settle(status.history)

    def _publish(self, inputs: StrategyInputs, endpoint: Mapping[str, Any] | None,
                 previous: Mapping[str, Any]) -> None:
        """The endpoint key follows the status just written (or found unchanged)."""
        if self._endpoints is not None:
            self._endpoints.publish(inputs.key, endpoint, previous.get("endpoint"))


_UNREPORTED = "unreportedHistory"


def _unreported(status: StrategyStatus, count: int) -> StrategyStatus:
    """``status`` marking its newest ``count`` history entries as not yet reported."""
    mark = count or None
    return status if status.unreported == mark else evolve(status, unreported=mark)


def _never_deployed(status: StrategyStatus) -> bool:
    """Invalid, with no architecture and no transition on record: nothing was deployed."""
    return status.phase == "Invalid" and not status.architectures and status.transition is None


def _wake(pacing: Pacing, architectures: Collection[str], clock: Callable[[], float]) -> None:
    """A fog event concerned ``architectures``: their probe cycle is due now and a full
    step follows it. A strategy at rest would otherwise reconcile to nothing until its
    next cycle, and a definite failure the fog already told of would wait for it."""
    if not architectures:
        return
    if pacing.probes_due is not None:
        pacing.probes_due = {**pacing.probes_due, **dict.fromkeys(architectures, clock())}
    pacing.resting = None
