"""The reconcile decision for one ActiveStrategy, as a pure function.

Contract (read this, not the code, to drive it):

- ``decide(DecisionInput) -> Decision`` has no I/O and reads no clock: desired state (specs,
  generation, deletion), the last ``StrategyStatus``, what the fog looks like now
  (``Observed`` per architecture), this cycle's probe results (``probes``) and ``now``.
- It takes ONE step of a state machine and is level-triggered: the shell writes
  ``Decision.status`` if it differs from the stored one (compare-and-swap, fenced), then
  executes ``Decision.actions`` in order, stopping at the first failure, observes again and
  calls ``decide`` again -- at once when actions ran, else after ``requeue_after`` seconds
  (or on a watch event). Status is written BEFORE the actions (write-ahead), so a restarted
  controller finds the interrupted ``transition`` and finishes or rolls it back. Only the
  first ``Decision.write_before`` actions, which touch nothing but what the stored status
  already names (undeploying an architecture it records, serving its transition target or
  active architecture, probes), may run before the write is stored (e.g. while it is in
  flight); when that is all of them the shell may leave the write to the next step.
- Action outcomes come back through the next observation: ``Observed.exists/complete/served``,
  and ``Observed.error`` for an action that failed in the previous batch (the shell clears
  it when it runs a new action on that architecture).
- ``Deploy``/``Serve``/``Undeploy``/``Adopt`` must be idempotent in the engine: ``Deploy`` of
  an architecture that already has instances of this strategy does not create a second copy;
  ``Undeploy`` of instances that are already gone succeeds.
- ``Probe(arch)`` asks the shell to run that architecture's health checks and pass the
  outcome as ``probes[arch]`` in the next call (a probe cycle); it is emitted when a probe
  is due (``health.interval``) for the active architecture or the transition target. In a
  batch it gates what follows: a cycle that is not Healthy stops the batch like a failure
  (a target just deployed is served in the same batch only after its first healthy cycle,
  when one is enough).
  ``Decision.probes_due`` says when each next cycle is due, so a shell may run a cycle as
  soon as it is due and pass it in ``probes`` without a step asking for it (the steady
  state then costs one step per cycle, not two).
- ``Decision.steady_until`` (set only when the strategy rests: the main or a pinned
  architecture serving, nothing in flight, no error, no timer) is when the next step is due
  if nothing but probe cycles happen before. Until then a shell may fold a due cycle with
  ``quiet_probe`` instead of calling ``decide``: a cycle that changes no field but the
  volatile ones (healthy after healthy) is no news -- keep the folded status, no step, no
  write. Any other outcome (it returns None), a watch event, a status written by someone
  else or ``steady_until`` passing calls for a step as usual. The state probe every
  deployed entity has covers what the skipped observation would have seen: instances
  still ``RUN`` where they were placed.
- Never two served architectures: an old one is undeployed before a new one is served.
- Nothing destructive happens when the fog is unreachable, the object is paused or invalid.
- ``events`` are completed failovers/failbacks: the shell increments each counter once per
  event and observes ``duration`` (detection -> new architecture serving) in the histogram.

Rules chosen where the brief left a choice (see also ``status.py``):

- Failover is break-before-make (undeploy the failing architecture, then deploy the next
  candidate in ``strategy.candidates`` order that is ``placeable``, skipping those already
  tried); failback and pinned switches are make-before-break when
  ``policy.failback.makeBeforeBreak`` and ``Observed.placeable_alongside``, else
  break-before-make. If a make-before-break target fails, it is undeployed and the old
  architecture keeps serving (an ``aborted`` history entry, nothing counted).
- A failing or vanished active architecture is not undeployed when no other candidate can
  be placed (it is kept, phase Degraded) -- a half-working service beats none.
- ``spec.pin`` forces one architecture: while pinned there is no automatic failover or
  failback. A pinned target that fails is not retried until the spec generation changes.
- ``maxFailoversPerHour`` counts completed failovers in the last hour; at the limit a
  failing architecture is held (phase Degraded, reason FlapGuard). 0 disables failover.
- Roll-out: when the fingerprint (``DecisionInput.fingerprints``, default a hash of the
  candidate's config) of the active architecture differs from the one it was deployed with,
  it is redeployed break-before-make (same fog05 ids, so no overlap is possible). A
  roll-out whose new deployment fails continues like a failover (counted as one, reason
  RolloutFailed). Adopted architectures (empty recorded fingerprint) are not rolled out.
- ``spec.serve`` false: the active architecture stays deployed, phase ``Deployed``.
  Turning serve off on a served architecture takes effect at its next deployment.
- Deletion (even when paused or invalid): undeploy everything that exists, then
  ``DeleteStatus``. Paused: probes still run and update health; nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.api.models import ActiveStrategySpec, HealthSpec, StrategySpec
from controller.reconcile.evolve import evolve
from controller.reconcile.status import (
    EMPTY,
    RECENT_FAILOVER_WINDOW,
    ArchitectureStatus,
    ErrorInfo,
    FailedPin,
    Health,
    HistoryEntry,
    HistoryKind,
    Phase,
    Role,
    StrategyStatus,
    Transition,
    TransitionKind,
    empty,
    freeze,
)

POLL = 2.0
"""Seconds between observations while something is in flight."""
RECHECK = 30.0
"""Seconds between placement re-checks while nothing can be placed."""
RESYNC = 300.0
"""Upper bound of ``requeue_after``."""
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0


# --- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deploy:
    """Associate and deploy ``arch`` (its deploy-phase entities), idempotently."""

    arch: str


@dataclass(frozen=True)
class Serve:
    """Run the serve step of ``arch`` (start its serve-phase entities)."""

    arch: str


@dataclass(frozen=True)
class Undeploy:
    """Stop and remove every instance of ``arch`` belonging to this strategy."""

    arch: str


@dataclass(frozen=True)
class Probe:
    """Run ``arch``'s health checks; pass the outcome as ``probes[arch]`` next call."""

    arch: str


@dataclass(frozen=True)
class Adopt:
    """Take ownership of ``arch``'s existing instances (found in the fog, unknown to status)."""

    arch: str


@dataclass(frozen=True)
class DeleteStatus:
    """Everything is undeployed: delete the status key."""


Action = Deploy | Serve | Undeploy | Probe | Adopt | DeleteStatus
MUTATING = (Deploy, Serve, Undeploy, Adopt, DeleteStatus)


# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What the fog says about one architecture of this strategy, right now.

    ``placeable``: the architecture fits the fog if this strategy's other architectures were
    removed (their resources count as free). ``placeable_alongside``: it fits without
    removing anything. ``served``: its serve step is done for the current instances.
    ``vanished``: some of its instances or their nodes disappeared. ``error``: the action
    run on it in the previous batch failed, with this message.
    """

    exists: bool = False
    complete: bool = False
    served: bool = False
    vanished: bool = False
    placeable: bool = False
    placeable_alongside: bool = False
    placement_message: str = ""
    error: str | None = None
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=empty)
    instances: Mapping[str, Any] = field(default_factory=empty)


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe cycle of one architecture. ``reason`` (fixed vocabulary) says why an
    Unhealthy cycle failed, e.g. ``Unhealthy`` or ``QosBelowThreshold``."""

    result: Health
    message: str = ""
    values: Mapping[str, float] = field(default_factory=empty)
    reason: str = ""


@dataclass(frozen=True)
class DecisionInput:
    spec: ActiveStrategySpec
    generation: int
    strategy: StrategySpec
    status: StrategyStatus
    observed: Mapping[str, Observed]
    """Per architecture name: every candidate, plus any other architecture of this strategy
    found in the fog (orphans). A missing candidate reads as ``Observed()``."""
    now: float
    health: Mapping[str, HealthSpec] = field(default_factory=empty)
    """Per architecture name; missing -> ``HealthSpec()`` defaults."""
    fingerprints: Mapping[str, str] = field(default_factory=empty)
    """Per architecture: a digest of everything its deployment is made from; missing -> a
    digest of the candidate's config."""
    probes: Mapping[str, ProbeOutcome] | None = None
    """Probe cycle results obtained since the last call (None: no probe ran)."""
    deletion_requested: bool = False
    fog_reachable: bool = True
    fog_message: str = ""
    key: str = ""
    """``namespace/name``, used as the message prefix."""
    using_last_valid: str = ""
    """Why the inputs are the strategy's remembered last valid documents rather than the
    current ones (a referenced document is gone or invalid); "" when they are current."""


EventKind = Literal["failover", "failback"]


@dataclass(frozen=True)
class TransitionEvent:
    kind: EventKind
    from_: str | None
    to: str
    reason: str
    duration: float


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    status: StrategyStatus
    message: str
    requeue_after: float
    events: tuple[TransitionEvent, ...] = ()
    probes_due: Mapping[str, float] = field(default_factory=dict)
    """When each architecture's next probe cycle is due (those with a ``Probe`` action now:
    ``now``). A shell may run a due cycle before its next ``decide`` and pass the outcome
    in ``probes``, saving the step that would only ask for it."""
    write_before: int = 0
    """How many of the leading actions may run before the status is stored: a crash
    after them leaves nothing the stored status does not point to, so a write-ahead
    protects nothing there."""
    steady_until: float | None = None
    """Set when the strategy rests: until then only a probe cycle with news needs a step
    (see ``quiet_probe``)."""


# --- the step --------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Scratch state of one ``decide`` call (local, so ``decide`` stays pure)."""

    inp: DecisionInput
    status: StrategyStatus
    actions: list[Action] = field(default_factory=list)
    events: list[TransitionEvent] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    message: str = ""
    phase: Phase | None = None
    degraded: tuple[str, str] | None = None
    backoff: float | None = None
    error_handled: bool = False
    probes_due: dict[str, float] = field(default_factory=dict)
    resting: bool = False
    """Set by a steady step whose next step depends on nothing but probe cycles."""

    @property
    def now(self) -> float:
        return self.inp.now

    def obs(self, name: str | None) -> Observed:
        return self.inp.observed.get(name, Observed()) if name else Observed()

    def act(self, action: Action) -> None:
        if action not in self.actions:
            self.actions.append(action)

    def wait(self, seconds: float) -> None:
        self.waits.append(max(0.0, seconds))

    def say(self, message: str, phase: Phase | None = None) -> None:
        self.message = message
        if phase is not None:
            self.phase = phase

    def hold_degraded(self, reason: str, message: str) -> None:
        self.degraded = (reason, message)
        self.say(message, "Degraded")

    def update(self, **changes: Any) -> None:
        self.status = evolve(self.status, **changes)

    def update_arch(self, name: str, **changes: Any) -> None:
        self.status = self.status.with_arch(name, evolve(self.status.arch(name), **changes))

    # candidates and policy

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.architecture for c in self.inp.strategy.candidates)

    @property
    def main(self) -> str:
        return self.inp.strategy.main.architecture

    def role(self, name: str | None) -> Role | None:
        if name is None:
            return None
        return "main" if name == self.main else "replacement"

    def health_spec(self, name: str) -> HealthSpec:
        return self.inp.health.get(name, HealthSpec())

    def failure_threshold(self, name: str) -> int:
        return failure_threshold(self.inp.strategy, self.health_spec(name))

    def success_threshold(self, name: str) -> int:
        return success_threshold(self.health_spec(name))

    def fingerprint(self, name: str) -> str:
        if name in self.inp.fingerprints:
            return self.inp.fingerprints[name]
        for c in self.inp.strategy.candidates:
            if c.architecture == name:
                raw = json.dumps(c.config, sort_keys=True, default=str)
                return hashlib.sha256(raw.encode()).hexdigest()[:16]
        return ""

    def existing(self) -> list[str]:
        """Architectures of this strategy with instances in the fog, candidates first."""
        others = sorted(n for n in self.inp.observed if n not in self.names)
        return [n for n in (*self.names, *others) if self.obs(n).exists]

    def pin(self) -> str | None:
        """The pin in force (None when unpinned or when this pin already failed)."""
        pin = self.inp.spec.pin
        failed = self.status.failed_pin
        if pin is None or (failed is not None and failed.architecture == pin
                           and failed.generation >= self.inp.generation):
            return None
        return pin

    def who(self, name: str | None) -> str:
        return f"{self.role(name)} {name}" if name else "nothing"


def decide(inp: DecisionInput) -> Decision:
    """One reconcile step for one ActiveStrategy (see the module docstring)."""
    ctx = _Ctx(inp, inp.status)
    _observe(ctx)
    invalid = _validate(inp)
    if not inp.fog_reachable:
        _hold_unreachable(ctx)
    elif inp.deletion_requested:
        _terminate(ctx)
    elif invalid is not None:
        _hold_invalid(ctx, *invalid)
    elif inp.spec.paused:
        _hold_paused(ctx)
    elif ctx.status.transition is not None:
        _step_transition(ctx, ctx.status.transition)
    elif ctx.status.active_architecture is None:
        _start_or_adopt(ctx)
    else:
        _steady(ctx, ctx.status.active_architecture)
    if invalid is None and inp.using_last_valid:
        ctx.status = ctx.status.set_condition("Valid", "False", "UsingLastValid",
                                              inp.using_last_valid, inp.now)
    elif invalid is None:
        ctx.status = ctx.status.set_condition("Valid", "True", "Valid", "", inp.now)
    return _finish(ctx)


# --- observation -----------------------------------------------------------------------


def _observe(ctx: _Ctx) -> None:
    """Fold the fog observation and this cycle's probe results into status."""
    inp = ctx.inp
    recent = tuple(t for t in ctx.status.recent_failovers
                   if ctx.now - t < RECENT_FAILOVER_WINDOW)
    if recent != ctx.status.recent_failovers:
        ctx.update(recent_failovers=recent)
    if inp.fog_reachable:
        known = [*ctx.names, *(n for n in inp.observed if n not in ctx.names)]
        for name in known:
            _observe_arch(ctx, name)
    for name, outcome in (inp.probes or {}).items():
        if name in ctx.names:
            ctx.status = ctx.status.with_arch(name, fold_probe(
                ctx.status.arch(name), outcome, ctx.now, ctx.failure_threshold(name),
                ctx.success_threshold(name)))


def _observe_arch(ctx: _Ctx, name: str) -> None:
    o = ctx.obs(name)
    old = ctx.status.architectures.get(name)
    if old is None and not o.exists and name not in ctx.names:
        return
    a = old or ArchitectureStatus()
    if o.exists:
        state: Any = "served" if o.served else "deployed"
    elif a.state in ("deployed", "served"):
        state = "undeployed"
    else:
        state = a.state
    placement = o.placement if o.exists else EMPTY
    instances = o.instances if o.exists else EMPTY
    message = o.error or ("" if o.placeable else o.placement_message)
    if (old is not None and a.state == state and a.message == message
            and a.placement == placement and a.instances == instances):
        return  # the common case, a steady architecture: nothing to rebuild
    new = evolve(a, state=state, placement=freeze(placement), instances=freeze(instances),
                  message=message)
    if new != a or old is None:
        if not o.exists and name not in ctx.names:
            archs = {k: v for k, v in ctx.status.architectures.items() if k != name}
            ctx.update(architectures=archs)
        else:
            ctx.status = ctx.status.with_arch(name, new)


def failure_threshold(strategy: StrategySpec, health: HealthSpec) -> int:
    """Failed cycles in a row that make an architecture Unhealthy (the policy may override
    the architecture's own)."""
    override = strategy.policy.failure_threshold
    return max(1, override if override is not None else health.failure_threshold)


def success_threshold(health: HealthSpec) -> int:
    return max(1, health.success_threshold)


def fold_probe(a: ArchitectureStatus, o: ProbeOutcome, now: float, ft: int, st: int
               ) -> ArchitectureStatus:
    """``a`` after one probe cycle, with failure and success thresholds ``ft``/``st``."""
    a = evolve(a, last_probe_time=now, last_probe_result=o.result,
                last_probe_message=o.message, last_probe_values=o.values)
    if o.result == "Healthy":
        s = a.consecutive_successes + 1
        return evolve(a, consecutive_successes=s, consecutive_failures=0,
                       consecutive_unknowns=0, last_probe_reason="",
                       health="Healthy" if s >= st else a.health)
    if o.result == "Unhealthy":
        f = a.consecutive_failures + 1
        return evolve(a, consecutive_failures=f, consecutive_successes=0,
                       consecutive_unknowns=0, last_probe_reason=o.reason or "Unhealthy",
                       health="Unhealthy" if f >= ft else a.health)
    u = a.consecutive_unknowns + 1  # unknown: not a failure, counters kept
    return evolve(a, consecutive_unknowns=u, health="Unknown" if u >= ft else a.health)


def quiet_probe(status: StrategyStatus, name: str, outcome: ProbeOutcome, *, now: float,
                strategy: StrategySpec, health: HealthSpec) -> StrategyStatus | None:
    """``status`` after a probe cycle of ``name`` that needs no step, or None if it is
    news: anything but the volatile fields changes (see ``Decision.steady_until``)."""
    before = status.arch(name)
    after = fold_probe(before, outcome, now, failure_threshold(strategy, health),
                       success_threshold(health))
    if not after.same_but_volatile(before):
        return None
    return status.with_arch(name, after)


def _validate(inp: DecisionInput) -> tuple[str, str] | None:
    names = [c.architecture for c in inp.strategy.candidates]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return ("DuplicateArchitecture",
                f"architecture {', '.join(dupes)} appears more than once in the strategy")
    if inp.spec.pin is not None and inp.spec.pin not in names:
        return ("UnknownPinTarget",
                f"pin {inp.spec.pin!r} is not a candidate of strategy {inp.spec.strategy} "
                f"({', '.join(names)})")
    return None


# --- holds -----------------------------------------------------------------------------


def _hold_unreachable(ctx: _Ctx) -> None:
    what = f" ({ctx.inp.fog_message})" if ctx.inp.fog_message else ""
    ctx.error_handled = True
    _record_error(ctx, "FogUnreachable", f"fog unreachable{what}")
    ctx.degraded = ("FogUnreachable", f"fog unreachable{what}")
    phase: Phase = "Terminating" if ctx.inp.deletion_requested else ctx.status.phase
    if phase == "Pending":  # nothing deployed yet: the unreachable fog is what holds it
        phase = "Degraded"
    ctx.say(f"fog unreachable{what}: holding, nothing undeployed", phase)


def _hold_invalid(ctx: _Ctx, reason: str, message: str) -> None:
    ctx.status = ctx.status.set_condition("Valid", "False", reason, message, ctx.now)
    ctx.say(f"invalid: {message}; no action", "Invalid")


def _hold_paused(ctx: _Ctx) -> None:
    active = ctx.status.active_architecture
    health = ctx.status.arch(active).health.lower() if active else ""
    detail = f"{ctx.who(active)} {health}" if active else "no active architecture"
    ctx.say(f"paused: observing only ({detail})", "Paused")


def _terminate(ctx: _Ctx) -> None:
    ctx.update(transition=None, main_ready_since=None)
    existing = ctx.existing()
    if existing:
        for name in existing:
            ctx.act(Undeploy(name))
        ctx.say(f"deleting: undeploying {', '.join(existing)}", "Terminating")
        ctx.wait(POLL)
    else:
        ctx.act(DeleteStatus())
        ctx.say("deleted: nothing left in the fog, removing status", "Terminating")


# --- no active architecture: adopt or start ----------------------------------------------


def _start_or_adopt(ctx: _Ctx) -> None:
    existing = [n for n in ctx.existing() if n in ctx.names]
    if existing:
        _adopt(ctx, existing)
        return
    err = ctx.status.last_error
    if err is not None and err.reason == "NoCandidate" and ctx.now < err.retry_at:
        ctx.error_handled = True
        ctx.wait(err.retry_at - ctx.now)
        ctx.hold_degraded("NoCandidate", f"no architecture could be brought up ({err.message}); "
                                         "retrying after backoff")
        return
    pin = ctx.pin()
    target = pin if pin is not None and ctx.obs(pin).placeable else _next_candidate(ctx, ())
    if target is None:
        ctx.wait(RECHECK)
        ctx.hold_degraded("Unplaceable", f"no candidate can be placed ({_why_unplaceable(ctx)})")
        return
    reason = "Start" if target == ctx.main else ("Pinned" if target == pin else "Unplaceable")
    t = Transition("start", None, target, reason, ctx.now, "draining", ctx.now)
    ctx.update(transition=t, active_architecture=None, active_role=None, last_error=None)
    _drain(ctx, t)


def _adopt(ctx: _Ctx, existing: list[str]) -> None:
    served = [n for n in existing if ctx.obs(n).served]
    pick = served[0] if served else existing[0]
    ctx.act(Adopt(pick))
    for name in ctx.existing():
        if name != pick:
            ctx.act(Undeploy(name))
    ctx.update(active_architecture=pick, active_role=ctx.role(pick))
    _history(ctx, "adopt", None, pick, "Adopted", f"adopted {pick} found in the fog")
    others = [n for n in ctx.existing() if n != pick]
    extra = f", undeploying {', '.join(others)}" if others else ""
    ctx.say(f"adopting {ctx.who(pick)} found in the fog{extra}",
            "Serving" if ctx.obs(pick).served else "Deploying")


# --- steady state: one active architecture, no transition --------------------------------


def _steady(ctx: _Ctx, active: str) -> None:
    for name in ctx.existing():
        if name != active:
            ctx.act(Undeploy(name))
    o, a = ctx.obs(active), ctx.status.arch(active)
    trouble: str | None = None
    if not o.exists or o.vanished:
        trouble = "Vanished"
    elif a.consecutive_failures >= ctx.failure_threshold(active):
        trouble = a.last_probe_reason or "Unhealthy"
    if trouble is not None:
        _needs_replacement(ctx, active, trouble)
        return
    if ctx.inp.spec.serve and not o.served:
        ctx.act(Serve(active))
        ctx.say(f"{ctx.who(active)} deployed and healthy, serving it", "Serving")
        return
    pin = ctx.pin()
    if pin is not None and pin != active:
        _start_switch(ctx, active, pin)
        return
    recorded = a.fingerprint
    if recorded and recorded != ctx.fingerprint(active):
        _start_rollout(ctx, active)
        return
    if ctx.role(active) == "replacement" and ctx.inp.spec.pin is None:
        if _main_ready(ctx, active):
            return
    else:
        ctx.update(main_ready_since=None)
        ctx.resting = True  # unlike a replacement, no main to watch for on every cycle
    _report_steady(ctx, active)


def _report_steady(ctx: _Ctx, active: str) -> None:
    o, a = ctx.obs(active), ctx.status.arch(active)
    phase: Phase = "Serving" if o.served else "Deployed"
    doing = "serving" if o.served else "deployed (serve disabled)"
    health = a.health.lower()
    if a.consecutive_failures:
        health += f", {a.consecutive_failures}/{ctx.failure_threshold(active)} failed cycles"
    if a.health == "Unknown" and a.consecutive_unknowns:
        health += f", {a.consecutive_unknowns} cycles could not measure"
    extra = ""
    if ctx.status.main_ready_since is not None:
        mode = ctx.inp.strategy.policy.failback.mode
        extra = (f"; main {ctx.main} ready, failback is Manual (fogstrat switch)"
                 if mode == "Manual" else f"; main {ctx.main} placeable, stabilizing")
    ctx.say(f"no action: {ctx.who(active)} {doing}, {health}{extra}", phase)


def _needs_replacement(ctx: _Ctx, active: str, reason: str) -> None:
    a = ctx.status.arch(active)
    what = ("vanished" if reason == "Vanished" else
            f"unhealthy {a.consecutive_failures}/{ctx.failure_threshold(active)} cycles"
            + (f" ({a.last_probe_message})" if a.last_probe_message else ""))
    if ctx.inp.spec.pin == active:
        ctx.wait(RECHECK)
        ctx.hold_degraded("PinnedUnhealthy", f"{ctx.who(active)} {what}, but it is pinned: "
                                             "not failing over")
        return
    limit = ctx.inp.strategy.policy.max_failovers_per_hour
    recent = ctx.status.recent_failovers
    if len(recent) >= limit:
        ctx.wait(min(recent) + RECENT_FAILOVER_WINDOW - ctx.now if recent else RECHECK)
        ctx.hold_degraded("FlapGuard", f"{ctx.who(active)} {what}, but flap guard holds: "
                                       f"{len(recent)} failovers in the last hour (max {limit})")
        return
    target = _next_candidate(ctx, (active,))
    if target is None:
        ctx.wait(RECHECK)
        ctx.hold_degraded("NoPlaceableCandidate",
                          f"{ctx.who(active)} {what}, no other candidate can be placed "
                          f"({_why_unplaceable(ctx, (active,))}): keeping it")
        return
    t = Transition("failover", active, target, reason, ctx.now, "draining", ctx.now, (active,))
    ctx.update(transition=t, active_architecture=None, active_role=None, main_ready_since=None)
    _drain(ctx, t)
    ctx.say(f"{ctx.who(active)} {what}, failing over to {target}", "FailingOver")


def _main_ready(ctx: _Ctx, active: str) -> bool:
    """Replacement serving: track main-ready and fail back after the window. True if acted."""
    main, om = ctx.main, ctx.obs(ctx.main)
    if not om.placeable:
        ctx.update(main_ready_since=None)
        return False
    since = ctx.status.main_ready_since
    if since is None:
        since = ctx.now
        ctx.update(main_ready_since=since)
    policy = ctx.inp.strategy.policy.failback
    if policy.mode == "Manual":
        return False
    remaining = since + policy.stabilization_window - ctx.now
    if remaining > 0:
        ctx.wait(remaining)
        return False
    mbb = policy.make_before_break and om.placeable_alongside
    _begin(ctx, Transition("failback", active, main, "MainReady", ctx.now,
                           "deploying" if mbb else "draining", ctx.now, (), mbb))
    how = "make-before-break" if mbb else "break-before-make"
    ctx.say(f"main {main} placeable for {policy.stabilization_window:g}s, failing back from "
            f"{active} ({how})", "FailingBack")
    return True


def _start_switch(ctx: _Ctx, active: str, pin: str) -> None:
    op = ctx.obs(pin)
    if not op.placeable:
        ctx.wait(RECHECK)
        ctx.hold_degraded("PinUnplaceable", f"pinned {pin} cannot be placed "
                                            f"({op.placement_message or 'no room'}): "
                                            f"keeping {active}")
        return
    mbb = ctx.inp.strategy.policy.failback.make_before_break and op.placeable_alongside
    _begin(ctx, Transition("switch", active, pin, "Pinned", ctx.now,
                           "deploying" if mbb else "draining", ctx.now, (), mbb))
    ctx.say(f"pinned to {pin}: switching from {active}", "Switching")


def _start_rollout(ctx: _Ctx, active: str) -> None:
    _begin(ctx, Transition("rollout", active, active, "ConfigChanged", ctx.now, "draining",
                           ctx.now))
    ctx.say(f"{ctx.who(active)} spec changed: redeploying it (undeploy, then deploy)",
            "Deploying")


def _begin(ctx: _Ctx, t: Transition) -> None:
    ctx.update(transition=t, main_ready_since=None, last_error=None)
    if t.stage == "deploying":
        _prepare_target(ctx, t.to)
        _deploying(ctx, t)
    else:
        ctx.update(active_architecture=None, active_role=None)
        _drain(ctx, t)


# --- transitions -----------------------------------------------------------------------

_VERB: dict[TransitionKind, str] = {
    "start": "starting", "failover": "failing over", "failback": "failing back",
    "switch": "switching", "rollout": "rolling out",
}
_PHASE: dict[TransitionKind, Phase] = {
    "start": "Deploying", "failover": "FailingOver", "failback": "FailingBack",
    "switch": "Switching", "rollout": "Deploying",
}


def _step_transition(ctx: _Ctx, t: Transition) -> None:
    if t.stage == "draining":
        _drain(ctx, t)
    else:
        _deploying(ctx, t)


def _drain(ctx: _Ctx, t: Transition) -> None:
    """Break-before-make: undeploy everything that exists, then deploy the target.

    One batch does both (undeploys first; the shell stops at the first failure, so the
    target is never deployed while another still runs), except when the target itself
    must come down first (a roll-out redeploys in place)."""
    existing = ctx.existing()
    if t.to in existing:
        for name in existing:
            ctx.act(Undeploy(name))
        ctx.wait(POLL)
        ctx.say(f"{_VERB[t.kind]} to {t.to}: undeploying {', '.join(existing)} first",
                _PHASE[t.kind])
        return
    t = evolve(t, stage="deploying", stage_since=ctx.now)
    ctx.update(transition=t)
    _prepare_target(ctx, t.to)
    _deploying(ctx, t)


def _prepare_target(ctx: _Ctx, name: str) -> None:
    """A fresh deployment: nothing measured yet, deployed from the current fingerprint."""
    a = ctx.status.arch(name).reset_health()
    ctx.status = ctx.status.with_arch(name, evolve(a, fingerprint=ctx.fingerprint(name)))


def _deploying(ctx: _Ctx, t: Transition) -> None:
    to, o, a = t.to, ctx.obs(t.to), ctx.status.arch(t.to)
    keep = {to} | ({t.from_} if t.make_before_break and t.from_ else set())
    draining = [name for name in ctx.existing() if name not in keep]
    for name in draining:
        ctx.act(Undeploy(name))
    st, ft = ctx.success_threshold(to), ctx.failure_threshold(to)
    if o.error:
        _target_failed(ctx, t, "DeployFailed", o.error)
        return
    if o.exists and o.vanished:
        _target_failed(ctx, t, "Vanished", f"{to} instances vanished")
        return
    if a.consecutive_failures >= ft:
        why = f" ({a.last_probe_message})" if a.last_probe_message else ""
        _target_failed(ctx, t, a.last_probe_reason or "Unhealthy",
                       f"{to} unhealthy {a.consecutive_failures}/{ft} cycles{why}")
        return
    ready = o.exists and o.complete and a.consecutive_successes >= st
    if not ready:
        timeout = ctx.inp.strategy.policy.deploy_timeout
        if ctx.now - t.stage_since >= timeout:
            _target_failed(ctx, t, "DeployTimeout", f"{to} not healthy within {timeout:g}s")
            return
        if not o.exists or not o.complete:
            # Deploy is synchronous and idempotent: an incomplete target here is one whose
            # deploy was interrupted (a controller crash between onboarding and starting)
            # or lost a replica; deploying again adopts what runs and places the rest.
            # Its first probe cycle follows in the same batch (it would be due at once),
            # and, when one healthy cycle makes it ready, serving it: the probe gates it.
            ctx.act(Deploy(to))
            ctx.act(Probe(to))
            serving = t.from_ if t.make_before_break and t.from_ != to else None
            if (ctx.inp.spec.serve and a.consecutive_successes + 1 >= st
                    and (serving is None or not ctx.obs(serving).exists)):
                ctx.act(Serve(to))
        ctx.wait(min(POLL, t.stage_since + timeout - ctx.now))
        progress = (f"undeploying {', '.join(draining)}, then deploying" if draining else
                    "deploying" if not o.exists else
                    "waiting for all replicas to run" if not o.complete else
                    f"waiting for health {a.consecutive_successes}/{st} cycles")
        ctx.say(f"{_VERB[t.kind]} to {to}: {progress}", _PHASE[t.kind])
        return
    old = t.from_ if t.make_before_break and t.from_ and t.from_ != to else None
    if old is not None and ctx.obs(old).exists:
        ctx.act(Undeploy(old))
        if ctx.inp.spec.serve:
            ctx.act(Serve(to))
        ctx.wait(POLL)
        ctx.say(f"{_VERB[t.kind]} to {to}: {to} healthy, undeploying {old} and serving {to}",
                _PHASE[t.kind])
        return
    if ctx.inp.spec.serve and not o.served:
        ctx.act(Serve(to))
        ctx.wait(POLL)
        ctx.say(f"{_VERB[t.kind]} to {to}: {to} healthy, serving it", _PHASE[t.kind])
        return
    _complete(ctx, t)


def _target_failed(ctx: _Ctx, t: Transition, reason: str, detail: str) -> None:
    to = t.to
    ctx.error_handled = True
    if ctx.obs(to).exists:
        ctx.act(Undeploy(to))
    ctx.update_arch(to, message=detail)
    if t.kind == "switch":
        ctx.update(failed_pin=FailedPin(to, ctx.inp.generation))
    old = t.from_
    if t.make_before_break and old is not None and old != to and ctx.obs(old).exists:
        ctx.update(transition=None, active_architecture=old, active_role=ctx.role(old),
                   main_ready_since=None)
        _history(ctx, "aborted", old, to, reason, f"{t.kind} to {to} aborted: {detail}")
        ctx.wait(POLL)
        ctx.say(f"{t.kind} to {to} aborted ({detail}): undeploying {to}, {old} keeps serving",
                "Serving" if ctx.obs(old).served else "Deployed")
        return
    attempted = (*t.attempted, to) if to not in t.attempted else t.attempted
    nxt = _next_candidate(ctx, attempted)
    if nxt is None:
        ctx.update(transition=None, active_architecture=None, active_role=None)
        _history(ctx, "degraded", t.from_, None, "NoCandidate", detail)
        _record_error(ctx, "NoCandidate", f"{detail}; no other candidate can be placed")
        ctx.hold_degraded("NoCandidate", f"{_VERB[t.kind]} to {to} failed ({detail}); no other "
                                         "candidate can be placed")
        return
    ctx.update(transition=evolve(t, to=nxt, attempted=attempted, stage="draining",
                                  stage_since=ctx.now, make_before_break=False))
    ctx.wait(POLL)
    ctx.say(f"{_VERB[t.kind]}: {detail} ({reason}), trying {nxt}", _PHASE[t.kind])


def _complete(ctx: _Ctx, t: Transition) -> None:
    to, duration = t.to, max(0.0, ctx.now - t.started_at)
    kind: HistoryKind = t.kind
    reason = t.reason
    if t.kind == "rollout" and to != t.from_:
        kind, reason = "failover", "RolloutFailed"
    if t.kind == "failback" and to != ctx.main:
        kind, reason = "aborted", "FailbackFailed"
    if kind == "failover":
        ctx.update(failover_count=ctx.status.failover_count + 1,
                   recent_failovers=(*ctx.status.recent_failovers, ctx.now))
        ctx.events.append(TransitionEvent("failover", t.from_, to, reason, duration))
    elif kind == "failback":
        ctx.update(failback_count=ctx.status.failback_count + 1)
        ctx.events.append(TransitionEvent("failback", t.from_, to, reason, duration))
    served = ctx.obs(to).served
    msg = (f"{t.kind} complete: {ctx.who(to)} {'serving' if served else 'deployed'}"
           f" ({t.from_ or 'nothing'} -> {to}, {reason}, {duration:.0f}s)")
    _history(ctx, kind, t.from_, to, reason, msg, duration)
    ctx.update(transition=None, active_architecture=to, active_role=ctx.role(to),
               main_ready_since=None, last_error=None)
    ctx.say(msg, "Serving" if served else "Deployed")


def _next_candidate(ctx: _Ctx, skip: tuple[str, ...]) -> str | None:
    for name in ctx.names:
        if name not in skip and ctx.obs(name).placeable:
            return name
    return None


def _why_unplaceable(ctx: _Ctx, skip: tuple[str, ...] = ()) -> str:
    parts = [f"{n}: {ctx.obs(n).placement_message or 'no room'}"
             for n in ctx.names if n not in skip]
    return "; ".join(parts) or "no candidates"


def _history(ctx: _Ctx, kind: HistoryKind, from_: str | None, to: str | None, reason: str,
             message: str, duration: float | None = None) -> None:
    entry = HistoryEntry(ctx.now, kind, from_, to, reason, message, duration)
    last = ctx.status.history[-1] if ctx.status.history else None
    if (kind == "degraded" and last is not None
            and (last.kind, last.from_, last.to, last.reason) == (kind, from_, to, reason)):
        # A retry that failed the same way again: one entry, not one per retry, so a long
        # outage cannot push the transitions that matter out of the bounded history.
        ctx.update(history=(*ctx.status.history[:-1], entry))
        return
    ctx.status = ctx.status.append_history(entry)


def _record_error(ctx: _Ctx, reason: str, message: str) -> None:
    prev = ctx.status.last_error
    count = prev.count + 1 if prev is not None and prev.reason == reason else 1
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (count - 1))
    ctx.update(last_error=ErrorInfo(ctx.now, reason, message, count, ctx.now + delay))
    ctx.backoff = delay


# --- finish: conditions, probes, requeue -------------------------------------------------


def _finish(ctx: _Ctx) -> Decision:
    inp = ctx.inp
    _action_errors(ctx)
    if ctx.phase is None:
        ctx.phase = ctx.status.phase
    s = ctx.status.with_phase(ctx.phase, inp.now)
    s = evolve(s, observed_generation=inp.generation)
    ctx.status = s
    _conditions(ctx)
    timers = list(ctx.waits)
    if ctx.phase != "Terminating":
        _schedule_probes(ctx)
    message = f"{inp.key}: {ctx.message}" if inp.key else ctx.message
    ctx.update(message=ctx.message)
    if ctx.backoff is not None:
        requeue = ctx.backoff
    else:
        waits = list(ctx.waits)
        if any(isinstance(a, Probe) for a in ctx.actions):
            waits.append(0.0)
        if any(isinstance(a, MUTATING) for a in ctx.actions):
            waits.append(POLL)
        requeue = min([RESYNC, *waits])
    return Decision(tuple(ctx.actions), ctx.status, message, requeue, tuple(ctx.events),
                    ctx.probes_due, _write_before(ctx), _steady_until(ctx, timers))


def _write_before(ctx: _Ctx) -> int:
    """How many leading actions need no write ahead of them. Removing an architecture the
    stored status records leaves it recorded (a restart finds what is left and goes on);
    serving the recorded transition target or active architecture creates only what a
    restart observes there anyway; probes change nothing. A deploy may create what no
    stored status names yet: the write must be stored before it."""
    stored = ctx.inp.status
    t = stored.transition
    active = {stored.active_architecture, t.to if t else None}
    recorded = {*active, t.from_ if t else None, *stored.architectures}
    for i, a in enumerate(ctx.actions):
        if not (isinstance(a, Probe) or (isinstance(a, Serve) and a.arch in active)
                or (isinstance(a, Undeploy) and a.arch in recorded)):
            return i
    return len(ctx.actions)


def _steady_until(ctx: _Ctx, timers: list[float]) -> float | None:
    """When a resting strategy's next step is due, probe cycles aside: its own timers, the
    oldest recent failover leaving the flap guard's window, and the resync."""
    if (not ctx.resting or ctx.actions or ctx.events or ctx.backoff is not None
            or any(o.error for o in ctx.inp.observed.values())):
        return None
    expiry = [t + RECENT_FAILOVER_WINDOW - ctx.now for t in ctx.status.recent_failovers]
    return ctx.now + min([RESYNC, *timers, *expiry])


def _action_errors(ctx: _Ctx) -> None:
    """Errors of actions not handled by the step (e.g. a failed Undeploy): back off."""
    if ctx.error_handled:
        return
    errors = [f"{n}: {o.error}" for n, o in sorted(ctx.inp.observed.items()) if o.error]
    if errors:
        _record_error(ctx, "ActionFailed", "; ".join(errors))
        ctx.message += f" (last action failed: {'; '.join(errors)})"
    elif ctx.status.last_error is not None and ctx.status.last_error.reason in (
            "ActionFailed", "FogUnreachable"):
        ctx.update(last_error=None)


def _conditions(ctx: _Ctx) -> None:
    now, s = ctx.now, ctx.status
    active = s.active_architecture
    a, o = s.arch(active) if active else ArchitectureStatus(), ctx.obs(active)
    if active is None:
        s = s.set_condition("Ready", "False", "NoActiveArchitecture",
                            "no architecture is active", now)
    elif a.health == "Unknown" and a.consecutive_unknowns >= ctx.failure_threshold(active):
        s = s.set_condition("Ready", "Unknown", "ProbesInconclusive",
                            f"{active}: {a.consecutive_unknowns} consecutive probe cycles "
                            "could not measure", now)
    elif a.health == "Healthy" and (o.complete or not ctx.inp.fog_reachable):
        s = s.set_condition("Ready", "True", "Healthy", f"{active} is healthy", now)
    else:
        s = s.set_condition("Ready", "False", "NotHealthy", f"{active} is {a.health.lower()}",
                            now)
    if active is not None and a.state == "served":
        s = s.set_condition("Serving", "True", "Served", f"{active} is serving", now)
    elif not ctx.inp.spec.serve:
        s = s.set_condition("Serving", "False", "ServeDisabled", "spec.serve is false", now)
    else:
        s = s.set_condition("Serving", "False", "NotServed", "no architecture is serving", now)
    if ctx.degraded is not None:
        s = s.set_condition("Degraded", "True", *ctx.degraded, now)
    elif ctx.phase not in ("Paused", "Invalid"):
        s = s.set_condition("Degraded", "False", "AsExpected", "", now)
    if s.main_ready_since is not None:
        manual = ctx.inp.strategy.policy.failback.mode == "Manual"
        s = s.set_condition("MainReady", "True", "MainPlaceable",
                            f"main {ctx.main} can be placed again"
                            + ("; failback is Manual" if manual else ""), now)
    else:
        s = s.set_condition("MainReady", "False", "NotApplicable", "", now)
    ctx.status = s


def probes_due(status: StrategyStatus, health: Mapping[str, HealthSpec]) -> dict[str, float]:
    """When the next probe cycle of each probed architecture (the active one, a
    transition's target) is due by ``status`` alone (-inf: never probed). A shell with no
    decision to go by yet (after a restart) may run the due ones before its first step,
    as ``Decision.probes_due`` lets it later."""
    t = status.transition
    due: dict[str, float] = {}
    for name in (status.active_architecture, t.to if t else None):
        if name is not None and name not in due:
            last = status.arch(name).last_probe_time
            interval = health.get(name, HealthSpec()).interval
            due[name] = -math.inf if last is None else last + interval
    return due


def _schedule_probes(ctx: _Ctx) -> None:
    for name, due in probes_due(ctx.status, ctx.inp.health).items():
        if not ctx.obs(name).exists and ctx.inp.fog_reachable:
            continue
        if ctx.now >= due:
            ctx.act(Probe(name))
            ctx.probes_due[name] = ctx.now
        else:
            ctx.wait(due - ctx.now)
            ctx.probes_due[name] = due
