"""The contract of the reconcile decision: what ``decide`` is given, what it returns.

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
  is due (``health.interval``; ``health.startupInterval`` for a transition's target that
  has not passed a cycle since its deploy) for the active architecture or the transition
  target. In a batch it gates what follows: a cycle that is not Healthy stops the batch
  like a failure (a target just deployed is served in the same batch only after its first
  healthy cycle, when one is enough).
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
- Never two served architectures, but for one step of a make-before-break hand-over:
  its target is served while the old one still runs, and the next step (at once), whose
  status records the target served and so names it as the endpoint, undeploys the old one
  -- that status is stored before the undeploy runs. Otherwise an old one is undeployed
  before a new one is served.
- Nothing destructive happens when the fog is unreachable, the object is paused or invalid.
- ``events`` are completed failovers/failbacks: the shell increments each counter once per
  event and observes ``duration`` (detection -> new architecture serving) in the histogram.

Rules chosen where more than one would do (see also ``status.py``):

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
- Definite failures fail fast: an active architecture that ``vanished`` (an instance or
  its node is gone) or has an ``instance_error`` (an instance in ERROR) fails over in the
  step that observes it, without waiting for ``failureThreshold`` probe cycles (reasons
  ``Vanished``, ``InstanceError``); a transition's target in that state fails at once.
  Probe failures (HTTP, TCP, QoS, timeouts) are not definite: they keep the threshold.
  ``policy.failFast`` false makes definite failures wait for the threshold too (a
  failing state probe counts them); pin, flap guard and placement hold either way.
- A transition's target in its start-up (no cycle passed since its deploy,
  ``ArchitectureStatus.first_pass_time`` unset) is failed by time, not by count: when its
  last cycle failed and ``failureThreshold x interval`` has passed since its deploying
  stage began (``probing.startup_budget``). From its first pass the threshold applies.
- ``maxFailoversPerHour`` counts completed failovers in the last hour; at the limit a
  failing architecture is held (phase Degraded, reason FlapGuard). 0 disables failover.
- Roll-out: when the fingerprint (``DecisionInput.fingerprints``, default a hash of the
  candidate's config) of the active architecture differs from the one it was deployed with,
  it is redeployed break-before-make (same fog05 ids, so no overlap is possible). A
  roll-out whose new deployment fails continues like a failover (counted as one, reason
  RolloutFailed). Adopted architectures (empty recorded fingerprint) are not rolled out.
- ``spec.serve`` false: the active architecture stays deployed, phase ``Deployed``.
  Turning serve off on a served architecture stops its serve step at once (``Unserve``);
  its deployed entities keep running.
- Deletion (even when paused or invalid): undeploy everything that exists, then
  ``DeleteStatus``. Paused: probes still run and update health; nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.api.models import ActiveStrategySpec, HealthSpec, StrategySpec
from controller.reconcile.status import HealthName, StrategyStatus, empty

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
class Unserve:
    """Stop the serve step of ``arch`` (its serve-phase entities); the rest keeps running."""

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


Action = Deploy | Serve | Unserve | Undeploy | Probe | Adopt | DeleteStatus
MUTATING = (Deploy, Serve, Unserve, Undeploy, Adopt, DeleteStatus)


def acted_on(action: Action) -> str | None:
    """The architecture ``action`` acts on; None for the strategy-wide ``DeleteStatus``."""
    return None if isinstance(action, DeleteStatus) else action.arch


# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What the fog says about one architecture of this strategy, right now.

    ``placeable``: the architecture fits the fog if this strategy's other architectures were
    removed (their resources count as free). ``placeable_alongside``: it fits without
    removing anything. ``served``: its serve step is done for the current instances.
    ``vanished``: some of its instances or their nodes disappeared. ``instance_error``:
    some replica has only instances in ERROR, in the fog's words ("" when none; with
    ``vanished``, a definite failure). ``error``: the action run on it in the previous
    batch failed, with this message.
    """

    exists: bool = False
    complete: bool = False
    served: bool = False
    vanished: bool = False
    placeable: bool = False
    placeable_alongside: bool = False
    placement_message: str = ""
    instance_error: str = ""
    error: str | None = None
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=empty)
    instances: Mapping[str, Any] = field(default_factory=empty)


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe cycle of one architecture. ``reason`` (fixed vocabulary) says why an
    Unhealthy cycle failed, e.g. ``Unhealthy`` or ``QosBelowThreshold``."""

    result: HealthName
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

