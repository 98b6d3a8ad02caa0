"""The metric families of :class:`~controller.metrics.Metrics`, declared as data, and the
fixed vocabularies their label values come from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.reconcile.status import PHASES as STATUS_PHASES
from controller.strategy_gauges import GaugeFamily

OTHER = "other"

#: ActiveStrategy status phases (docs/design.md §3), from the status model itself.
PHASES: tuple[str, ...] = STATUS_PHASES
#: Why a transition happened: the reasons of the status history, as they are written there
#: (docs/reasons.md says what each means). Spellings that differ only in case or
#: separators (``main_ready``) are accepted; anything else is ``other``.
TRANSITION_REASONS: tuple[str, ...] = (
    "Unhealthy",  # the architecture's probes failed failureThreshold cycles in a row
    "QosBelowThreshold",  # only qos probes failed: the service answers, out of bounds
    "Vanished",  # its instances are gone from the fog (process exited, node down)
    "InstanceError",  # an instance is in ERROR in the fog: failed over without a threshold
    "DeployFailed",  # a deploy or serve action on the target failed
    "DeployTimeout",  # the target was not healthy within deployTimeout
    "RolloutFailed",  # a redeploy after a spec change failed and went to a replacement
    "Pinned",  # spec.pin / `fogstrat switch`
    "MainReady",  # automatic failback: main placeable for the stabilization window
    "Start",  # the main architecture brought up for the first time
    "Unplaceable",  # started on a replacement: the main could not be placed
    "ConfigChanged",  # a roll-out: the active architecture's spec changed
    OTHER,
)
TRANSITION_KINDS: tuple[str, ...] = ("start", "failover", "failback", "switch", "rollout")
HEALTH_RESULTS: tuple[str, ...] = ("success", "failure", "unknown")
RECONCILE_RESULTS: tuple[str, ...] = ("success", "error", "requeue")
#: Document kinds a reconcile is about (the ``kind`` field; plural names are accepted).
RECONCILE_KINDS: tuple[str, ...] = (
    "Environment",
    "Architecture",
    "ArchitectureData",
    "Strategy",
    "ActiveStrategy",
    OTHER,
)
ROLES: tuple[str, ...] = ("main", "replacement")
QOS_BOUNDS: tuple[str, ...] = ("min", "max")

_PLURAL_TO_KIND = {
    "environments": "Environment",
    "architectures": "Architecture",
    "architecturedata": "ArchitectureData",
    "strategies": "Strategy",
    "activestrategies": "ActiveStrategy",
}

#: Transition durations run from seconds (a warm replacement) to many minutes.
TRANSITION_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800,
)
#: controller-runtime style: 5 ms to 60 s.
RECONCILE_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)

#: Every fogstrat metric name this module exposes (as written in PromQL; histograms also
#: expose ``_bucket``, ``_sum`` and ``_count`` series).
METRIC_NAMES: tuple[str, ...] = (
    "fogstrat_failovers_total",
    "fogstrat_failbacks_total",
    "fogstrat_transition_duration_seconds",
    "fogstrat_active_architecture",
    "fogstrat_strategy_phase",
    "fogstrat_health_checks_total",
    "fogstrat_qos_value",
    "fogstrat_reconcile_total",
    "fogstrat_reconcile_duration_seconds",
    "fogstrat_workqueue_depth",
    "fogstrat_workqueue_retries_total",
    "fogstrat_leader",
    "fogstrat_etcd_last_seen_timestamp_seconds",
    "fogstrat_consecutive_failures",
    "fogstrat_last_transition_timestamp_seconds",
    "fogstrat_qos_threshold",
    "fogstrat_events_dropped_total",
    "fogstrat_fog_wakes_total",
)

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalize(value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is in ``allowed`` (exact, or after CamelCase→snake_case /
    case folding), else ``"other"``."""
    allowed_t = tuple(allowed)
    if value in allowed_t:
        return value
    folded = {a.lower().replace("_", ""): a for a in allowed_t}
    key = _CAMEL_RE.sub("_", value).lower().replace("_", "").replace("-", "")
    return folded.get(key, OTHER)


def reconcile_kind(kind: str) -> str:
    """The ``kind`` label of a reconcile: singular, from the fixed vocabulary."""
    return _PLURAL_TO_KIND.get(kind.lower(), normalize(kind, RECONCILE_KINDS))


def role_label(value: str) -> str:
    """The ``role`` label: ``main``, ``replacement`` or ``other``."""
    lowered = value.lower()
    return lowered if lowered in ROLES else OTHER


# --- the families ---------------------------------------------------------------------------

Family = Counter | Gauge | Histogram


@dataclass(frozen=True)
class FamilySpec:
    """One prometheus-client family and the :class:`Metrics` attribute that holds it."""

    attribute: str
    kind: type[Family]
    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def build(self, registry: CollectorRegistry) -> Family:
        if self.kind is Histogram:
            return Histogram(self.name, self.help, self.labels, buckets=self.buckets,
                             registry=registry)
        return self.kind(self.name, self.help, self.labels, registry=registry)


_TRANSITION_LABELS = ("namespace", "strategy", "from", "to", "reason")

FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec("failovers", Counter, "fogstrat_failovers_total",
               "Failovers from the serving architecture to a replacement.", _TRANSITION_LABELS),
    FamilySpec("failbacks", Counter, "fogstrat_failbacks_total",
               "Failbacks from a replacement to the main architecture.", _TRANSITION_LABELS),
    FamilySpec("transition_duration", Histogram, "fogstrat_transition_duration_seconds",
               "Time from detection to the new architecture serving.", ("kind",),
               TRANSITION_BUCKETS),
    FamilySpec("health_checks", Counter, "fogstrat_health_checks_total",
               "Health evaluations of an architecture by outcome.",
               ("namespace", "strategy", "architecture", "result")),
    FamilySpec("reconciles", Counter, "fogstrat_reconcile",
               "Reconciles by document kind and result.", ("kind", "result")),
    FamilySpec("reconcile_duration", Histogram, "fogstrat_reconcile_duration_seconds",
               "Time spent in one reconcile.", ("kind",), RECONCILE_BUCKETS),
    FamilySpec("workqueue_depth", Gauge, "fogstrat_workqueue_depth",
               "Keys waiting in the work queue."),
    FamilySpec("workqueue_retries", Counter, "fogstrat_workqueue_retries",
               "Keys put back in the work queue with backoff."),
    FamilySpec("events_dropped", Counter, "fogstrat_events_dropped",
               "Events not written: the writer's queue was full or etcd refused the write."),
    FamilySpec("fog_wakes", Counter, "fogstrat_fog_wakes",
               "ActiveStrategies queued at once because a fog's change feed reported one of "
               "their instances or nodes changed from what their status records."),
    FamilySpec("leader", Gauge, "fogstrat_leader",
               "1 while this replica holds the leader key."),
    FamilySpec("etcd_last_seen", Gauge, "fogstrat_etcd_last_seen_timestamp_seconds",
               "Unix time etcd last served a request that needs its quorum (a linearizable "
               "read or a lease renewal); watches and serializable reads do not count."),
)

#: The per-ActiveStrategy gauges, labelled ``namespace``, ``strategy`` and their own labels.
STRATEGY_GAUGES: dict[str, GaugeFamily] = {
    "active_architecture": GaugeFamily(
        "fogstrat_active_architecture",
        "1 for the architecture serving an ActiveStrategy, 0 for its other architectures.",
        ("architecture", "role")),
    "qos_value": GaugeFamily(
        "fogstrat_qos_value", "Last value measured by a qos probe.", ("architecture", "probe")),
    "qos_threshold": GaugeFamily(
        "fogstrat_qos_threshold", "Bound a qos probe is compared with.",
        ("architecture", "probe", "bound")),
    "consecutive_failures": GaugeFamily(
        "fogstrat_consecutive_failures",
        "Consecutive failed health evaluations of an architecture.", ("architecture",)),
    "last_transition": GaugeFamily(
        "fogstrat_last_transition_timestamp_seconds",
        "Unix time of the ActiveStrategy's last failover/failback.", ()),
}
PHASE_GAUGE = GaugeFamily(
    "fogstrat_strategy_phase",
    "1, labelled with the ActiveStrategy's current phase (the other phases have no series).",
    ("phase",))
