"""The executor: carrying out one decision's actions on the fog, in order.

It runs the actions of a batch one after the other and stops at the first failure or at
a probe that is not healthy (the decision contract); what it finds out (probe outcomes,
action errors) waits in ``Outcomes`` for the next decision, and what the loop must do
itself (delete the status) comes back as ``Acted``. A status write still in flight is
handed in as a ``WriteGate``: the actions from its index on wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from controller.api.limits import one_line
from controller.arch import ArchitectureError, HealthReport, LifecycleState, Outcome
from controller.fog.client import FogError
from controller.reconcile.contract import acted_on
from controller.reconcile.decision import (
    Action,
    Adopt,
    Decision,
    DeleteStatus,
    Deploy,
    Probe,
    ProbeOutcome,
    Serve,
    Undeploy,
    Unserve,
)
from controller.reconcile.status import StrategyStatus
from controller.runtime.active.observer import FogView, Observer
from controller.runtime.active.reporter import Reporter
from controller.runtime.handles import Handle
from controller.runtime.informer import ObjectKey
from controller.runtime.resolve import StrategyInputs

_log = logging.getLogger("fogstrat.activestrategy")


@dataclass
class Outcomes:
    """Per ActiveStrategy: what acting found out, told to the next decision only."""

    probes: dict[str, ProbeOutcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Per architecture, why its action failed. Told to ONE decision (the one right
    after the failed batch, as the decision contract says); kept longer, it would fail
    every later attempt on that architecture before its action is even tried again."""


@dataclass(frozen=True)
class WriteGate:
    """The status write in flight that the actions from index ``before`` on wait for."""

    before: int
    write: Future[None]

    def wait(self) -> None:
        """Raises what the write raised: no later action may run."""
        self.write.result()

    def failed(self) -> bool:
        w = self.write
        return w.done() and (w.cancelled() or w.exception() is not None)


@dataclass(frozen=True, slots=True)
class Acted:
    """What a batch leaves the loop to do."""

    delete_status: bool = False
    """The batch reached ``DeleteStatus``: nothing of the strategy is left on the fog."""


_CARRY_ON = Acted()


@dataclass(frozen=True)
class _Batch:
    """One decision being carried out, and the strategy's state it acts on."""

    inputs: StrategyInputs
    decision: Decision
    view: FogView
    outcomes: Outcomes
    gate: WriteGate | None


@dataclass(frozen=True)
class _Preparing:
    """A failover target's ``prepare`` running ahead of its deploy."""

    arch: str
    handle: Handle
    done: Future[None]

    def settle(self, key: ObjectKey) -> None:
        """Wait for it; its failure is only logged: the deploy does that work again (and
        reports what fails then), and a failed write fails the batch itself."""
        try:
            self.done.result()
        except Exception as exc:  # anything: preparing is an optimisation, never a cause
            _log.debug("%s: preparing %s ahead failed: %s", key, self.arch, exc)


class Executor:
    def __init__(self, *, observer: Observer, reporter: Reporter, pool: ThreadPoolExecutor,
                 is_leader: Callable[[], bool]) -> None:
        self._observer = observer
        self._reporter = reporter
        self._pool = pool
        """Runs a failover target's ``prepare`` alongside its batch's status write."""
        self._is_leader = is_leader

    def probe(self, inputs: StrategyInputs, name: str, status: StrategyStatus, view: FogView,
              outcomes: Outcomes) -> ProbeOutcome:
        """One probe cycle of ``name``, kept for the next decision and reported."""
        handle = self._observer.handle(inputs, name, status, view)
        qos = {p.name for p in handle.blueprint.spec.health.probes if p.qos}
        outcome = outcomes.probes[name] = _outcome(handle.arch.check_status(), qos)
        self._reporter.probe(inputs, name, outcome, handle)
        return outcome

    def act(self, inputs: StrategyInputs, decision: Decision, view: FogView,
            outcomes: Outcomes, gate: WriteGate | None = None) -> Acted:
        """Run the actions in order, stopping at the first failure. ``gate``: the status
        write in flight (its failure raises here, and no later action runs)."""
        batch = _Batch(inputs, decision, view, outcomes, gate)
        preparing = self._prepare_ahead(batch)
        try:
            return self._in_order(batch, preparing)
        except BaseException:
            if preparing is not None and gate is not None and gate.failed():
                self._unprepare(inputs, preparing)
            raise
        finally:
            if preparing is not None:
                preparing.settle(inputs.key)
            if gate is not None:
                gate.wait()

    def _in_order(self, batch: _Batch, preparing: _Preparing | None) -> Acted:
        key, gate = batch.inputs.key, batch.gate
        for i, action in enumerate(batch.decision.actions):
            if gate is not None and i == gate.before:
                gate.wait()
            if preparing is not None and acted_on(action) == preparing.arch:
                preparing.settle(key)  # the deploy takes up what it did
            if not self._is_leader():
                return _CARRY_ON
            if isinstance(action, DeleteStatus):
                return Acted(delete_status=True)
            name = action.arch
            if name not in batch.inputs.blueprints:
                continue
            batch.outcomes.errors.pop(name, None)
            try:
                if isinstance(action, Probe):
                    outcome = self.probe(batch.inputs, name, batch.decision.status, batch.view,
                                         batch.outcomes)
                    if outcome.result != "Healthy":
                        return _CARRY_ON  # a probe gates the rest of its batch
                else:
                    self._change(batch, action)
            except (ArchitectureError, FogError) as exc:
                self._failed(batch, action, exc)
                return _CARRY_ON
        return _CARRY_ON

    def _failed(self, batch: _Batch, action: Action, exc: Exception) -> None:
        key, name = batch.inputs.key, acted_on(action) or ""
        error = batch.outcomes.errors[name] = one_line(exc)
        verb = type(action).__name__
        _log.warning("%s/%s: %s of %s failed: %s", key.namespace, key.name, verb.lower(),
                     name, error)
        self._reporter.event(key, "Warning", f"{verb}Failed",
                             f"{verb.lower()} of {name} failed: {error}")

    def _change(self, batch: _Batch, action: Deploy | Adopt | Serve | Unserve | Undeploy
                ) -> None:
        """One action that changes the fog, on the engine object that may do it: one whose
        lifecycle already passed the step is replaced by a fresh one."""
        inputs, status, view, name = batch.inputs, batch.decision.status, batch.view, action.arch
        handle = self._observer.handle(inputs, name, status, view)
        data = inputs.blueprints[name].data
        nothing_there = view.acting(name, undeploying=isinstance(action, Undeploy))
        if isinstance(action, Deploy | Adopt):
            if handle.running:  # make sure it really runs: a fresh object adopts and completes
                handle = self._observer.handle(inputs, name, status, view, fresh=True)
            handle.arch.deploy(data, nothing_there=nothing_there)
        elif isinstance(action, Serve):
            if handle.state is LifecycleState.SERVED:
                handle = self._observer.handle(inputs, name, status, view, fresh=True)
            if not handle.running:
                handle.arch.deploy(data, nothing_there=nothing_there)
            handle.arch.serve(data)
        elif isinstance(action, Unserve):
            if handle.running:
                handle.arch.unserve()
        else:
            if handle.state is LifecycleState.UNDEPLOYED:
                handle = self._observer.handle(inputs, name, status, view, fresh=True)
            handle.arch.undeploy()
            view.undeployed.add(name)

    def _prepare_ahead(self, batch: _Batch) -> _Preparing | None:
        """Start preparing a target this batch deploys after undeploying another (a
        break-before-make failover) if nothing of it is on the fog: its descriptors are
        onboarded while the undeploy runs and the status write naming the target is in
        flight. Not waiting for that write bends the write-ahead rule for descriptors
        alone (registrations that allocate nothing; instances still wait): their fog05 ids
        derive from the architecture's key, so the deploy after the write takes them up,
        a failed write offloads them (``_unprepare``), and should the controller die in
        between, the next failover to the target takes them up and the strategy's
        deletion, which observes every candidate, removes them."""
        decision, inputs = batch.decision, batch.inputs
        actions = decision.actions
        k, deploy = next(((i, a) for i, a in enumerate(actions) if isinstance(a, Deploy)),
                         (0, None))
        if (deploy is None or decision.write_before > k
                or not any(isinstance(a, Undeploy) for a in actions[:k])):
            return None
        name = deploy.arch
        if name not in batch.view.absent or name not in inputs.blueprints:
            return None
        try:
            handle = self._observer.handle(inputs, name, decision.status, batch.view)
        except ArchitectureError:
            return None  # the deploy reports it
        data = inputs.blueprints[name].data
        return _Preparing(name, handle, self._pool.submit(handle.arch.prepare, data))

    def _unprepare(self, inputs: StrategyInputs, preparing: _Preparing) -> None:
        """The failover was not recorded: take back what preparing it registered (as the
        leader only: a new one decides for itself, and takes them up or leaves them to
        the strategy's deletion)."""
        preparing.settle(inputs.key)
        if not self._is_leader():
            return
        try:
            preparing.handle.arch.unprepare()
        except (ArchitectureError, FogError) as exc:
            _log.warning("%s/%s: taking back what preparing %s registered failed: %s",
                         inputs.key.namespace, inputs.key.name, preparing.arch, one_line(exc))


def _outcome(report: HealthReport, qos_probes: set[str]) -> ProbeOutcome:
    """One probe cycle for the decision; a cycle failed only by QoS probes (the service
    answers, its quality does not) is told apart from one where something is down."""
    values = {r.name: r.value for r in report.results if r.value is not None}
    failed = [r for r in report.results if r.outcome is Outcome.FAILURE]
    reason = ""
    if report.health.value == "Unhealthy":
        reason = "QosBelowThreshold" if failed and all(
            r.name in qos_probes for r in failed) else "Unhealthy"
    return ProbeOutcome(result=report.health.value, message=one_line(report.message),
                        values=values, reason=reason)
