"""The ActiveStrategy reconciler: the imperative shell around ``reconcile.decide``.

Each reconcile resolves the documents an ActiveStrategy needs, observes its architectures
on the fog, asks the pure decision what to do, writes the new status (write-ahead, so a
restarted controller finds an interrupted transition), carries out the actions and loops
until the decision has nothing more to do right now. Everything that can go wrong with a
user's documents or the fog ends up in status and in the one sentence logged per step;
nothing here raises for bad input.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controller.arch import (
    ArchitectureError,
    ArchitectureRecord,
    ArchitectureSnapshot,
    HealthReport,
    LifecycleState,
    Outcome,
)
from controller.arch.placement import effective_requirements
from controller.fog.cache import CachedFog
from controller.fog.client import FogError, FogTimeout, FogUnavailable, NodeStatus
from controller.metrics import Metrics
from controller.reconcile.decision import (
    Action,
    Adopt,
    Decision,
    DecisionInput,
    DeleteStatus,
    Deploy,
    Observed,
    Probe,
    ProbeOutcome,
    Serve,
    Undeploy,
    Unserve,
    decide,
    probes_due,
    quiet_probe,
)
from controller.reconcile.status import StrategyStatus
from controller.reconcile.times import rfc3339
from controller.runtime.documents import Documents, Parsed
from controller.runtime.endpoints import EndpointPublisher, decided_endpoint
from controller.runtime.events import EventRecorder, EventType
from controller.runtime.fogs import Fogs, NodeView
from controller.runtime.handles import Handle, build, restore
from controller.runtime.informer import ObjectKey
from controller.runtime.remembered import stored_revisions
from controller.runtime.reporting import HistoryReporter, Reported, Seen, notices
from controller.runtime.resolve import Inputs, Unresolved, resolve
from controller.runtime.status_writer import StatusWriter

_log = logging.getLogger("fogstrat.activestrategy")

MAX_STEPS = 12
"""Decision steps per reconcile before yielding the worker to other objects."""
RETRY_UNRESOLVED = 30.0

_HEALTH_RESULT = {"Healthy": "success", "Unhealthy": "failure", "Unknown": "unknown"}


Observation = tuple[dict[str, Observed], bool, str]
"""What one look at the fog found: per architecture, whether the fog answered, and why not."""


@dataclass
class Memory:
    """What the controller remembers of one ActiveStrategy between reconciles."""

    handles: dict[str, Handle] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    probes: dict[str, ProbeOutcome] = field(default_factory=dict)
    last_message: str = ""
    status: StrategyStatus | None = None
    """The last decided status; it may hold volatile probe fields the store does not."""
    basis: int = -1
    """Mod revision of the stored status ``status`` was decided from (or written as)."""
    raw: dict[str, Any] | None = None
    """The status document ``status`` was written as (or found equal to, volatile fields
    aside)."""
    undeployed: set[str] = field(default_factory=set)
    """Architectures this process has undeployed (and not deployed since): known to be
    gone from the fog without asking it."""
    probes_due: Mapping[str, float] | None = None
    """From the last decision: when each architecture's next probe cycle is due. None:
    no decision of ours since the status was read from the store (a restart, a new
    leader, someone else's write); the stored status says what is due."""
    resting: tuple[float, Inputs] | None = None
    """From the last decision, if the strategy rests: until when, and the inputs it rests
    on (``Decision.steady_until``)."""
    inputs: tuple[tuple[Any, ...], Inputs] | None = None
    """The last resolved inputs and the signature they were resolved at."""
    gauges: tuple[Any, ...] = ()
    """What the metrics gauges were last set to."""
    placements: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Per architecture: the last placement check and what it was planned on."""
    absent: set[str] = field(default_factory=set)
    """Architectures the last observation knew to have nothing on the fog without asking
    it (``_worth_observing``): their deploy has nothing to adopt."""
    reported: Reported = field(default_factory=Reported)
    """The newest history entry reported (or found stored by someone else)."""
    seen: Seen | None = None
    """What the last reported step saw (``reporting.notices``)."""


class ActiveStrategyReconciler:
    def __init__(self, *, docs: Documents, status: StatusWriter, metrics: Metrics,
                 is_leader: Callable[[], bool], clock: Callable[[], float],
                 fogs: Fogs | None = None, workdir: Path | None = None,
                 events: EventRecorder | None = None,
                 endpoints: EndpointPublisher | None = None) -> None:
        self._docs = docs
        self._endpoints = endpoints
        self._status = status
        self._metrics = metrics
        self._events = events
        self._history = HistoryReporter(metrics, events)
        self._is_leader = is_leader
        self._clock = clock
        self._fogs = fogs or Fogs()
        self._workdir = workdir or Path.cwd()
        self._lock = threading.Lock()
        self._memory: dict[ObjectKey, Memory] = {}
        self._writer = ThreadPoolExecutor(4, thread_name_prefix="fogstrat-status")
        """Status writes that may overlap the actions before ``Decision.write_before``, and
        a failover target's ``prepare`` (alongside its batch's write)."""

    def close(self) -> None:
        self._writer.shutdown(wait=True)
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
        self._metrics.forget(key.namespace, key.name)
        if self._endpoints is not None:
            self._endpoints.remove(key)

    # --- the reconcile -----------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> float | None:
        parsed = self._docs.get(key)
        mem = self._mem(key)
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
            return self._hold_unresolved(key, parsed, raw, status, exc)
        observation = None
        due = mem.probes_due
        if due is None:
            # No decision of ours to go by (a restart, another writer): what the stored
            # status says is due runs first, so a resync is one step per strategy, not two.
            due, mem.resting = probes_due(status, inputs.health), None
        rest = self._probe_due(inputs, status, mem, due)
        if rest is not None:
            return rest
        for _ in range(MAX_STEPS):
            if not self._is_leader():
                return None
            decision, observation = self._step(inputs, status, mem, observation)
            mem.probes_due = decision.probes_due
            mem.resting = (None if decision.steady_until is None
                           else (decision.steady_until, inputs))
            probing = bool(decision.actions) and all(isinstance(a, Probe)
                                                     for a in decision.actions)
            writing: Future[None] | None = None
            if not probing:
                # A step that only asks for probes changes nothing on the fog: nothing to
                # write ahead of, and the next step (right after the probes, on the same
                # observation: probes read the fog, they do not change it) writes and
                # reports what it carries. Half the work of a steady probe cycle.
                if decision.write_before == 0:
                    self._write(inputs, decision, raw or {}, mem)
                elif decision.write_before < len(decision.actions):
                    # e.g. a failover undeploys the recorded architecture while its
                    # transition is written: the deploy after it waits for the write
                    writing = self._writer.submit(self._write, inputs, decision, raw or {},
                                                  mem)
                self._report(inputs, decision, mem)
            if not probing or any(o.error for o in observation[0].values()):
                observation = None  # errors are told to one decision only
            if not decision.actions:
                return decision.requeue_after
            if not self._act(inputs, decision, mem, writing):
                return None  # status deleted: the object is gone
            status = decision.status
            raw = self._stored(key, mem)[0]
        return 0.05

    def _stored(self, key: ObjectKey, mem: Memory
                ) -> tuple[dict[str, Any] | None, StrategyStatus]:
        """The stored status document and the status to decide from: our own last decision
        while the store still holds what it was based on (no parsing), else the store's (a
        restart, a new leader, or someone else's write)."""
        revision = self._status.revision(key)
        if mem.status is not None and mem.raw is not None and revision == mem.basis:
            return mem.raw, mem.status
        raw, revision = self._status.current(key)
        status = StrategyStatus.from_json(raw or {})
        mem.reported.found(status.history)
        if raw is not None:  # what the store holds: a decision equal to it writes nothing
            mem.status, mem.basis, mem.raw = status, revision, raw
        mem.probes_due = None
        return raw, status

    def _probe_due(self, inputs: Inputs, status: StrategyStatus, mem: Memory,
                   due_at: Mapping[str, float]) -> float | None:
        """Run the probe cycles due by now (``due_at``: the last decision's word).

        While the strategy rests on these same inputs, cycles that are no news (healthy
        after healthy) are folded here (``quiet_probe``) and no step follows: returns when
        to come back. None: a step must follow, with the outcomes in ``mem.probes``. At ten
        thousand strategies this is most of what a steady controller does, and the step
        it saves (observe, decide, compare) was two thirds of each cycle's CPU."""
        now = self._clock()
        rest = mem.resting
        quiet: StrategyStatus | None = None
        if rest is not None and now < rest[0] and rest[1] is inputs and not mem.errors:
            quiet = status
        due_next = dict(due_at)
        for name, due in due_at.items():
            if due <= now and name in inputs.blueprints:
                try:
                    self._run(inputs, Probe(name), status, mem)
                except (ArchitectureError, FogError):
                    mem.probes.pop(name, None)  # the decision asks again, and sees why
                    quiet = None
                    continue
                health = inputs.blueprints[name].spec.health
                if quiet is not None:
                    quiet = quiet_probe(quiet, name, mem.probes[name], now=now,
                                        strategy=inputs.strategy, health=health)
                due_next[name] = now + health.interval
        if quiet is None or rest is None:
            mem.probes_due = {}
            return None
        # Resting: no step, whether cycles ran or nothing was due (the manager's periodic
        # resync; the decision's own, ``steady_until``, comes in its time -- a step here
        # was 10,000 full steps in one burst every resync period at 10k).
        mem.status, mem.probes, mem.probes_due = quiet, {}, due_next
        return max(0.0, min(rest[0], *due_next.values()) - now)

    def _step(self, inputs: Inputs, status: StrategyStatus, mem: Memory,
              observation: Observation | None = None) -> tuple[Decision, Observation]:
        if observation is None:
            observation = self._observe(inputs, status, mem)
        observed, reachable, fog_message = observation
        probes, mem.probes = (mem.probes or None), {}
        # An action's error is reported to ONE decision (the one right after the failed
        # batch, as the decision contract says); kept longer, it would fail every later
        # attempt on that architecture before its action is even tried again.
        mem.errors.clear()
        return decide(DecisionInput(
            spec=inputs.spec, generation=inputs.generation, strategy=inputs.strategy,
            status=status, observed=observed, now=self._clock(), health=inputs.health,
            fingerprints={n: bp.fingerprint for n, bp in inputs.blueprints.items() if bp.known},
            probes=probes, deletion_requested=inputs.deletion, fog_reachable=reachable,
            fog_message=fog_message, key=f"{inputs.key.namespace}/{inputs.key.name}",
            using_last_valid=inputs.using_last_valid,
        )), observation

    # --- resolving documents -----------------------------------------------------------

    def _resolve(self, key: ObjectKey, parsed: Parsed | None, raw: Mapping[str, Any],
                 mem: Memory) -> Inputs:
        """The documents this strategy needs, resolved again only when a spec changed (or
        the architectures its status records did): a steady probe cycle reuses them."""
        recorded = tuple((raw.get("architectures") or {}).keys())
        signature = (self._docs.version, parsed is None, recorded)
        if mem.inputs is not None and mem.inputs[0] == signature:
            return mem.inputs[1]
        inputs = resolve(self._docs, key, parsed, raw, self._workdir)
        mem.inputs = (signature, inputs)
        if inputs.using_last_valid:
            line = f"{key.namespace}/{key.name}: {inputs.using_last_valid}"
            if line != mem.last_message:
                _log.warning(line)
                mem.last_message = line
        return inputs

    def _hold_unresolved(self, key: ObjectKey, parsed: Parsed | None,
                         raw: Mapping[str, Any] | None, status: StrategyStatus,
                         exc: Unresolved) -> float:
        """Invalid input: report it, touch nothing, look again later (and on any change)."""
        now = self._clock()
        new = status.set_condition("Valid", "False", exc.reason, str(exc), now)
        new = replace(new, message=f"invalid: {exc}; no action")
        if parsed is not None:
            new = replace(new, observed_generation=parsed.generation)
            new = new.with_phase("Invalid", now)
        doc = {**dict(raw or {}), **new.to_json()}
        doc.setdefault("createdAt", rfc3339(now))
        self._status.write(key, doc)
        mem = self._mem(key)
        line = f"{key.namespace}/{key.name}: invalid: {exc}; no action"
        if line != mem.last_message:
            _log.warning(line)
            mem.last_message = line
        self._metrics.set_phase(key.namespace, key.name, new.phase)
        return RETRY_UNRESOLVED

    # --- observing ---------------------------------------------------------------------

    def _fog(self, inputs: Inputs) -> CachedFog:
        return self._fogs.client(inputs.environment)

    def _handle(self, inputs: Inputs, name: str, status: StrategyStatus, mem: Memory,
                fresh: bool = False) -> Handle:
        bp = inputs.blueprints[name]
        old = mem.handles.get(name)
        if old is not None and not fresh and old.blueprint == bp:
            return old
        handle = build(bp, self._fog(inputs))
        if old is not None:
            handle.arch.record = old.arch.record
            if not fresh:
                restore(handle, old.state.value, old.arch.record.to_dict())
        else:
            recorded = status.architectures.get(name)
            if recorded is not None:
                restore(handle, recorded.state or "", recorded.instances)
        mem.handles[name] = handle
        return handle

    def _observe(self, inputs: Inputs, status: StrategyStatus, mem: Memory) -> Observation:
        fog = self._fog(inputs)
        views: list[NodeView] = []

        def view() -> NodeView:
            """The fog's nodes, read only when something must be placed: an architecture
            running whole needs no placement, so a steady strategy reads no node."""
            if not views:
                views.append(self._fogs.nodes(fog, timeout=inputs.environment.timeout))
            return views[0]

        observed: dict[str, Observed] = {}
        snapshots: dict[str, ArchitectureSnapshot | None] = {}
        handles: dict[str, Handle] = {}
        mem.absent.clear()
        for name, bp in inputs.blueprints.items():
            try:
                handles[name] = self._handle(inputs, name, status, mem)
            except ArchitectureError as exc:  # bad config or plugin: that candidate can't run
                mem.errors[name] = _one_line(exc)
                observed[name] = Observed(error=mem.errors[name],
                                          placement_message=_one_line(exc))
                continue
            if not bp.known or name in mem.undeployed or not self._worth_observing(
                    name, handles[name], status, inputs.deletion):
                snapshots[name] = None
                if bp.known and not handles[name].running:
                    mem.absent.add(name)
                continue
            try:
                snapshots[name] = handles[name].arch.observe()
            except (ArchitectureError, FogError) as exc:
                if isinstance(exc, FogUnavailable | FogTimeout) or isinstance(
                        exc.__cause__, FogUnavailable | FogTimeout):
                    return {}, False, _one_line(exc)
                mem.errors[name] = _one_line(exc)
                snapshots[name] = None
        usage = {n: _usage(h) for n, h in handles.items() if h.running}
        try:
            for name, handle in handles.items():
                observed[name] = self._observed(name, handle, snapshots.get(name), view,
                                                usage, mem)
        except (FogError, ArchitectureError) as exc:
            return {}, False, _one_line(exc)
        return observed, True, ""

    @staticmethod
    def _worth_observing(name: str, handle: Handle, status: StrategyStatus,
                         deletion: bool) -> bool:
        """Read the fog only for architectures that may have something there: running ones,
        those status says are deployed, and both ends of a transition (its target may have
        been half-deployed when a previous controller died). Status is written before every
        action, so nothing of this strategy exists on the fog that none of these cover, and
        an idle replacement costs no fog call per probe cycle."""
        if deletion or handle.running:
            return True
        recorded = status.architectures.get(name)
        if recorded is not None and recorded.state in ("deployed", "served"):
            return True
        t = status.transition
        return t is not None and name in (t.from_, t.to)

    def _observed(self, name: str, handle: Handle, snap: ArchitectureSnapshot | None,
                  view: Callable[[], NodeView],
                  usage: Mapping[str, Mapping[str, tuple[float, float]]],
                  mem: Memory) -> Observed:
        record = handle.arch.record
        if snap is None:
            exists = complete = handle.running
            vanished, served = False, handle.state is LifecycleState.SERVED
            instance_error = ""
        else:
            exists = snap.exists
            complete = snap.complete_phase("deploy") if snap.phase("deploy") else exists
            if complete and not _record_knows(record, snap):
                # Running, but not as far as our record knows (a deploy interrupted by a
                # crash after its instances started): incomplete, so the decision deploys
                # again, which adopts them and fills the record probes and undeploy use.
                complete = False
            vanished = bool(snap.vanished or snap.missing_nodes)
            instance_error = snap.error_summary()
            if snap.phase("serve"):
                served = snap.complete_phase("serve")
            else:
                served = handle.state is LifecycleState.SERVED and complete
        if complete and not vanished and handle.running:
            # It runs, whole, where it was placed: it fits by definition, and planning it
            # again on every probe cycle was a fifth of a steady controller's CPU.
            check_all = check_alone = (True, "")
        else:
            check_all, check_alone = self._placements(name, handle, view(), usage, mem)
        placement = {entity: tuple(n for n in nodes if n)
                     for entity, nodes in record.placement().items()}
        return Observed(
            exists=exists, complete=complete, served=served, vanished=vanished,
            instance_error=instance_error,
            placeable=check_all[0], placeable_alongside=check_alone[0],
            placement_message=check_all[1], error=mem.errors.get(name),
            placement=placement, instances=record.to_dict() if exists else {},
        )

    @staticmethod
    def _placements(name: str, handle: Handle, nodes: NodeView,
                    usage: Mapping[str, Mapping[str, tuple[float, float]]], mem: Memory
                    ) -> tuple[tuple[bool, str], tuple[bool, str]]:
        """Whether ``name`` can be placed alongside what runs, and alone; planned again only
        when the nodes, the architecture or what the others hold changed (a main waiting
        on a replacement is checked every probe cycle; a plan over 120 nodes is 1.5 ms).
        An architecture's ``placement_check`` is taken to depend on its spec and the nodes
        alone, as the declarative engine's does."""
        held = tuple(sorted((n, tuple(sorted(u.items()))) for n, u in usage.items()))
        last = mem.placements.get(name)
        if last is not None and last[0] is nodes and last[1] is handle and last[2] == held:
            return last[3], last[4]
        check_all = _placement(handle, nodes, _free(nodes.statuses, usage.values()))
        check_alone = check_all if not check_all[0] else _placement(
            handle, nodes, _free(nodes.statuses, [usage[name]] if name in usage else []))
        mem.placements[name] = (nodes, handle, held, check_all, check_alone)
        return check_all, check_alone

    # --- acting ------------------------------------------------------------------------

    def _act(self, inputs: Inputs, decision: Decision, mem: Memory,
             writing: Future[None] | None = None) -> bool:
        """Run the actions in order, stopping at the first failure; False once deleted.
        ``writing``: the status write in flight, stored before action ``write_before``
        (its failure raises here, and no later action runs)."""
        preparing = self._prepare_ahead(inputs, decision, mem)
        try:
            return self._act_in_order(inputs, decision, mem, writing, preparing)
        except BaseException:
            if preparing is not None and writing is not None and writing.done() and (
                    writing.cancelled() or writing.exception() is not None):
                self._unprepare(inputs, preparing)
            raise
        finally:
            if preparing is not None:
                preparing.settle(inputs.key)
            if writing is not None:
                writing.result()

    def _prepare_ahead(self, inputs: Inputs, decision: Decision, mem: Memory
                       ) -> _Preparing | None:
        """Start preparing a target this batch deploys after undeploying another (a
        break-before-make failover) if nothing of it is on the fog: its descriptors are
        onboarded while the undeploy runs and the status write naming the target is in
        flight. Not waiting for that write bends the write-ahead rule for descriptors
        alone (registrations that allocate nothing; instances still wait): their fog05 ids
        derive from the architecture's key, so the deploy after the write takes them up,
        a failed write offloads them (``_unprepare``), and should the controller die in
        between, the next failover to the target takes them up and the strategy's
        deletion, which observes every candidate, removes them. The status write was a
        tenth of a failover."""
        actions = decision.actions
        k, deploy = next(((i, a) for i, a in enumerate(actions) if isinstance(a, Deploy)),
                         (0, None))
        if (deploy is None or decision.write_before > k
                or not any(isinstance(a, Undeploy) for a in actions[:k])):
            return None
        name = deploy.arch
        if name not in mem.absent or name not in inputs.blueprints:
            return None
        try:
            handle = self._handle(inputs, name, decision.status, mem)
        except ArchitectureError:
            return None  # the deploy reports it
        data = inputs.blueprints[name].data
        return _Preparing(name, handle, self._writer.submit(handle.arch.prepare, data))

    def _unprepare(self, inputs: Inputs, preparing: _Preparing) -> None:
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
                         inputs.key.namespace, inputs.key.name, preparing.arch, _one_line(exc))

    def _act_in_order(self, inputs: Inputs, decision: Decision, mem: Memory,
                      writing: Future[None] | None,
                      preparing: _Preparing | None) -> bool:
        status = decision.status
        for i, action in enumerate(decision.actions):
            if writing is not None and i == decision.write_before:
                writing.result()
            if preparing is not None and getattr(action, "arch", None) == preparing.arch:
                preparing.settle(inputs.key)  # the deploy takes up what it did
            if not self._is_leader():
                return True
            if isinstance(action, DeleteStatus):
                self._status.delete(inputs.key)
                self._forget(inputs.key)
                _log.info("%s/%s: deleted, nothing left in the fog", inputs.key.namespace,
                          inputs.key.name)
                return False
            name = action.arch
            if name not in inputs.blueprints:
                continue
            mem.errors.pop(name, None)
            try:
                self._run(inputs, action, status, mem)
            except (ArchitectureError, FogError) as exc:
                mem.errors[name] = _one_line(exc)
                verb = type(action).__name__
                _log.warning("%s/%s: %s of %s failed: %s", inputs.key.namespace,
                             inputs.key.name, verb.lower(), name, mem.errors[name])
                self._event(inputs.key, "Warning", f"{verb}Failed",
                            f"{verb.lower()} of {name} failed: {mem.errors[name]}")
                return True
            if isinstance(action, Probe) and mem.probes[name].result != "Healthy":
                return True  # a probe gates the rest of its batch (the decision contract)
        return True

    def _run(self, inputs: Inputs, action: Action, status: StrategyStatus, mem: Memory) -> None:
        assert not isinstance(action, DeleteStatus)
        name = action.arch
        handle = self._handle(inputs, name, status, mem)
        data = inputs.blueprints[name].data
        nothing_there = name in mem.absent
        if not isinstance(action, Probe):
            mem.absent.discard(name)
        if not isinstance(action, Probe | Undeploy):
            mem.undeployed.discard(name)
        if isinstance(action, Probe):
            qos = {p.name for p in handle.blueprint.spec.health.probes if p.qos}
            mem.probes[name] = _outcome(handle.arch.check_status(), qos)
            self._report_probe(inputs, name, mem.probes[name], handle)
        elif isinstance(action, Deploy | Adopt):
            if handle.running:  # make sure it really runs: a fresh object adopts and completes
                handle = self._handle(inputs, name, status, mem, fresh=True)
            handle.arch.deploy(data, nothing_there=nothing_there)
        elif isinstance(action, Serve):
            if handle.state is LifecycleState.SERVED:
                handle = self._handle(inputs, name, status, mem, fresh=True)
            if not handle.running:
                handle.arch.deploy(data, nothing_there=nothing_there)
            handle.arch.serve(data)
        elif isinstance(action, Unserve):
            if handle.running:
                handle.arch.unserve()
        elif isinstance(action, Undeploy):
            if handle.state is LifecycleState.UNDEPLOYED:
                handle = self._handle(inputs, name, status, mem, fresh=True)
            handle.arch.undeploy()
            mem.undeployed.add(name)

    # --- reporting ---------------------------------------------------------------------

    def _write(self, inputs: Inputs, decision: Decision, previous: Mapping[str, Any],
               mem: Memory) -> None:
        endpoint = decided_endpoint(inputs, decision.status, previous, self._clock())
        if (mem.status is not None and mem.raw is not None
                and mem.basis == self._status.revision(inputs.key)
                and decision.status.same_but_volatile(mem.status)
                and mem.raw.get("strategy") == inputs.spec.strategy
                and mem.raw.get("environment") == inputs.environment_name
                and mem.raw.get("endpoint") == endpoint
                and stored_revisions(mem.raw.get("inputs")) == (
                    inputs.remembered.revisions if inputs.remembered else ())):
            mem.status = decision.status  # nothing to write: no document to build either
            self._publish(inputs, endpoint, previous)
            return
        doc = decision.status.to_json()
        if endpoint is not None:
            doc["endpoint"] = endpoint
        doc["createdAt"] = previous.get("createdAt") or rfc3339(self._clock())
        doc["strategy"] = inputs.spec.strategy
        doc["environment"] = inputs.environment_name
        remembered = _remembered(inputs, previous)
        if remembered is not None:
            doc["inputs"] = remembered
        self._status.write(inputs.key, doc)
        mem.status, mem.basis = decision.status, self._status.revision(inputs.key)
        mem.raw = doc
        self._publish(inputs, endpoint, previous)
        # Reported once stored, whichever step made them (see ``reporting``).
        self._history.report(inputs.key, mem.reported.take(decision.status.history))

    def _publish(self, inputs: Inputs, endpoint: Mapping[str, Any] | None,
                 previous: Mapping[str, Any]) -> None:
        """The endpoint key follows the status just written (or found unchanged)."""
        if self._endpoints is not None:
            self._endpoints.publish(inputs.key, endpoint, previous.get("endpoint"))

    def _report(self, inputs: Inputs, decision: Decision, mem: Memory) -> None:
        ns, name = inputs.key.namespace, inputs.key.name
        m = self._metrics
        st = decision.status
        roles = {ref.architecture: ("main" if i == 0 else "replacement")
                 for i, ref in enumerate(inputs.strategy.candidates)}
        gauges = (st.phase, st.active_architecture, st.active_role, tuple(roles.items()),
                  tuple((a, s.consecutive_failures) for a, s in st.architectures.items()),
                  st.last_transition_time)
        if gauges != mem.gauges:  # setting unchanged gauges was a tenth of a probe cycle
            m.set_phase(ns, name, st.phase)
            m.set_active_architecture(ns, name, st.active_architecture,
                                      st.active_role or "main", roles)
            for arch_name, arch in st.architectures.items():
                m.set_consecutive_failures(ns, name, arch_name, arch.consecutive_failures)
            if st.last_transition_time:
                m.set_last_transition(ns, name, st.last_transition_time)
            mem.gauges = gauges
        line = f"{ns}/{name}: {decision.message}" if not decision.message.startswith(
            f"{ns}/{name}") else decision.message
        acted = any(not isinstance(a, Probe) for a in decision.actions)
        seen = Seen(inputs.spec.paused, inputs.spec.pin,
                    st.last_error is not None and st.last_error.reason == "FogUnreachable",
                    st.transition.to if st.transition else None)
        for reason, notice in notices(mem.seen, seen):
            _log.info("%s/%s: %s", ns, name, notice)
            self._event(inputs.key, "Normal", reason, notice)
        started = seen.target is not None and (mem.seen is None
                                               or mem.seen.target != seen.target)
        mem.seen = seen
        if st.history and line == f"{ns}/{name}: {st.history[-1].message}":
            pass  # a history entry's own sentence: told when it is stored
        elif acted or line != mem.last_message:
            _log.log(logging.WARNING if seen.unreachable else logging.INFO, line)
            said = line[len(ns) + len(name) + 3:]
            if seen.unreachable and line != mem.last_message:
                self._event(inputs.key, "Warning", "FogUnreachable", said)
            elif started and st.transition is not None:  # a decision the probes drove
                t = st.transition
                self._event(inputs.key, "Warning" if t.kind == "failover" else "Normal",
                            t.reason, said)
        else:
            _log.debug(line)
        mem.last_message = line

    def _event(self, key: ObjectKey, type_: EventType, reason: str, message: str) -> None:
        if self._events is not None:
            self._events.record(key, type_, reason, message)

    def _report_probe(self, inputs: Inputs, arch: str, outcome: ProbeOutcome,
                      handle: Handle) -> None:
        ns, name = inputs.key.namespace, inputs.key.name
        self._metrics.record_health_check(ns, name, arch, _HEALTH_RESULT[outcome.result])
        thresholds = {p.name: p.qos for p in handle.blueprint.spec.health.probes if p.qos}
        for probe, value in outcome.values.items():
            qos = thresholds.get(probe)
            if qos is not None:
                self._metrics.set_qos(ns, name, arch, probe, value, minimum=qos.min,
                                      maximum=qos.max)


# --- helpers ---------------------------------------------------------------------------


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


def _never_deployed(status: StrategyStatus) -> bool:
    """Invalid, with no architecture and no transition on record: nothing was deployed."""
    return status.phase == "Invalid" and not status.architectures and status.transition is None


def _remembered(inputs: Inputs, previous: Mapping[str, Any]) -> Any:
    """The inputs to keep in status (None: none, or too large to keep): those already
    stored while they are the same versions (nothing to encode again)."""
    if inputs.remembered is None:
        return None
    stored = previous.get("inputs")
    if stored_revisions(stored) == inputs.remembered.revisions:
        return stored
    return inputs.remembered.stored


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _outcome(report: HealthReport, qos_probes: set[str]) -> ProbeOutcome:
    """One probe cycle for the decision; a cycle failed only by QoS probes (the service
    answers, its quality does not) is told apart from one where something is down."""
    values = {r.name: r.value for r in report.results if r.value is not None}
    failed = [r for r in report.results if r.outcome is Outcome.FAILURE]
    reason = ""
    if report.health.value == "Unhealthy":
        reason = "QosBelowThreshold" if failed and all(
            r.name in qos_probes for r in failed) else "Unhealthy"
    return ProbeOutcome(result=report.health.value,
                        message=_one_line(Exception(report.message)),
                        values=values, reason=reason)


def _record_knows(record: ArchitectureRecord, snap: ArchitectureSnapshot) -> bool:
    """Every deploy-phase replica's running instance is the one ``record`` holds."""
    for rep in snap.phase("deploy"):
        inst, rec = rep.instance, record.get(rep.entity, rep.replica)
        if inst is None or rec is None or rec.instance_id != inst.instance_id:
            return False
    return True


def _usage(handle: Handle) -> dict[str, tuple[float, float]]:
    """RAM (MB) and disk (GB) an architecture's placed replicas hold, per node."""
    reqs = {e.name: effective_requirements(e) for e in handle.blueprint.spec.entities}
    out: dict[str, tuple[float, float]] = {}
    for entity, nodes in handle.arch.record.placement().items():
        req = reqs.get(entity)
        if req is None:
            continue
        for node in nodes:
            if node:
                ram, disk = out.get(node, (0.0, 0.0))
                out[node] = (ram + req.ram_mb, disk + req.disk_gb)
    return out


def _free(statuses: Mapping[str, NodeStatus],
          usages: Iterable[Mapping[str, tuple[float, float]]]) -> dict[str, NodeStatus]:
    """Node statuses as if the given usages were released."""
    out = dict(statuses)
    for usage in usages:
        for node, (ram, disk) in usage.items():
            st = out.get(node)
            if st is not None:
                out[node] = replace(st, ram_free_mb=min(st.ram_total_mb, st.ram_free_mb + ram),
                                    disk_free_gb=min(st.disk_total_gb or float("inf"),
                                                     st.disk_free_gb + disk))
    return out


def _placement(handle: Handle, view: NodeView, statuses: dict[str, NodeStatus]
               ) -> tuple[bool, str]:
    check = getattr(handle.arch, "placement_check", None)
    if check is None:
        return True, ""
    result = check(list(view.nodes), statuses)
    return bool(result.ok), "; ".join(result.reasons)
