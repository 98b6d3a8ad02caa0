"""Prometheus metrics of the fogstrat controller (docs/design.md §5).

One :class:`Metrics` object owns its own :class:`~prometheus_client.CollectorRegistry`, so
tests and several controllers in one process never clash over the global registry. The
registry also carries the process and platform collectors (``process_*``,
``python_info``) that the dashboard's controller row uses. The families are declared as
data in :mod:`controller.metrics.families`, with the vocabularies of their label values.

The default registry (:class:`NoCreatedRegistry`) leaves out prometheus-client's
``*_created`` series, which would double the series count for nothing.

Label values always come from fixed vocabularies: anything outside them is recorded as
``other`` (never error text, never free-form strings that would explode cardinality).
Names of user objects (namespace, strategy, architecture, probe) are the only open label
values, and the series of a deleted strategy are removed with :meth:`Metrics.forget`.

Metrics named by docs/design.md §5:

- ``fogstrat_failovers_total{namespace,strategy,from,to,reason}``
- ``fogstrat_failbacks_total{namespace,strategy,from,to,reason}``
- ``fogstrat_transition_duration_seconds{kind}`` histogram (``start``, ``failover``,
  ``failback``, ``switch``, ``rollout``)
- ``fogstrat_active_architecture{namespace,strategy,architecture,role}``
- ``fogstrat_strategy_phase{namespace,strategy,phase}``
- ``fogstrat_health_checks_total{namespace,strategy,architecture,result}``
- ``fogstrat_qos_value{namespace,strategy,architecture,probe}``
- ``fogstrat_reconcile_total{kind,result}``, ``fogstrat_reconcile_duration_seconds{kind}``
- ``fogstrat_workqueue_depth``, ``fogstrat_workqueue_retries_total``
- ``fogstrat_leader``, ``fogstrat_etcd_last_seen_timestamp_seconds``

Beside them (the dashboard and alert rules use them too):

- ``fogstrat_consecutive_failures{namespace,strategy,architecture}`` gauge
- ``fogstrat_last_transition_timestamp_seconds{namespace,strategy}`` gauge (unix time)
- ``fogstrat_qos_threshold{namespace,strategy,architecture,probe,bound=min|max}`` gauge
- ``fogstrat_events_dropped_total`` Events not written (queue full or etcd refused)
- ``fogstrat_fog_wakes_total`` strategies queued by a fog's change feed (an instance or
  node no longer as their status records it)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from controller.metrics.families import (
    FAMILIES,
    HEALTH_RESULTS,
    METRIC_NAMES,
    OTHER,
    PHASE_GAUGE,
    PHASES,
    QOS_BOUNDS,
    RECONCILE_KINDS,
    RECONCILE_RESULTS,
    ROLES,
    STRATEGY_GAUGES,
    TRANSITION_KINDS,
    TRANSITION_REASONS,
    normalize,
    reconcile_kind,
    role_label,
)
from controller.strategy_gauges import StrategyGauges

__all__ = [
    "CONTENT_TYPE_LATEST",
    "HEALTH_RESULTS",
    "METRIC_NAMES",
    "OTHER",
    "PHASES",
    "QOS_BOUNDS",
    "RECONCILE_KINDS",
    "RECONCILE_RESULTS",
    "ROLES",
    "TRANSITION_KINDS",
    "TRANSITION_REASONS",
    "Metrics",
    "NoCreatedRegistry",
    "normalize",
]


#: Metric types whose families carry a ``<name>_created`` sample in prometheus-client.
_CREATED_TYPES = frozenset({"counter", "histogram", "summary"})


class NoCreatedRegistry(CollectorRegistry):
    """A registry whose collection leaves out prometheus-client's ``*_created`` samples.

    Every counter and histogram child otherwise gets a ``_created`` series (its creation
    time) that doubles the series count and that no query of ours reads. This does per
    registry what ``prometheus_client.disable_created_metrics()`` does process-wide,
    so a library user's own registries keep their behaviour.
    """

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            if family.type not in _CREATED_TYPES:
                yield family
                continue
            created = family.name + "_created"
            if not any(s.name == created for s in family.samples):
                yield family
                continue
            trimmed = Metric(family.name, family.documentation, family.type, family.unit)
            trimmed.samples = [s for s in family.samples if s.name != created]
            yield trimmed


class Metrics:
    """The controller's metrics, in a registry of their own.

    All methods are thread safe (prometheus-client metrics are; the per-strategy
    bookkeeping used by :meth:`forget` has its own lock).
    """

    # One attribute per entry of ``FAMILIES``, set by ``__init__``.
    failovers: Counter
    failbacks: Counter
    transition_duration: Histogram
    health_checks: Counter
    reconciles: Counter
    reconcile_duration: Histogram
    workqueue_depth: Gauge
    workqueue_retries: Counter
    events_dropped: Counter
    fog_wakes: Counter
    leader: Gauge
    etcd_last_seen: Gauge

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        process_collectors: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else NoCreatedRegistry()
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        for spec in FAMILIES:
            setattr(self, spec.attribute, spec.build(self.registry))
        self.gauges = StrategyGauges(STRATEGY_GAUGES, phase=PHASE_GAUGE)
        self.registry.register(self.gauges)
        self._lock = threading.Lock()
        # (namespace, strategy) -> {gauge/counter -> set of label tuples}
        self._series: dict[tuple[str, str], dict[str, set[tuple[str, ...]]]] = {}
        # Children of the counters bumped on every probe cycle and reconcile, kept here
        # because ``labels()`` validates and looks them up under a lock on each call, on
        # the hottest path of a quiet controller. A strategy's go when it is forgotten.
        self._children: dict[tuple[str, tuple[str, ...]], Counter] = {}
        self._reconcile_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        # Initialise the label-less and fixed-vocabulary children so queries work at once.
        for k in TRANSITION_KINDS:
            self.transition_duration.labels(kind=k)
        for kind in RECONCILE_KINDS[:-1]:
            self.reconcile_duration.labels(kind=kind)
            for result in RECONCILE_RESULTS:
                self.reconciles.labels(kind=kind, result=result)
        self.leader.set(0)

    # --- bookkeeping ------------------------------------------------------------------

    def _child(self, family: str, ns: str, strategy: str, labels: tuple[str, ...]) -> Counter:
        """The strategy's child of counter ``family``, made and tracked on first use."""
        child = self._children.get((family, labels))
        if child is None:
            child = self._family(family).labels(*labels)
            with self._lock:
                self._series.setdefault((ns, strategy), {}).setdefault(family, set()).add(
                    labels)
            self._children[(family, labels)] = child
        return child

    def _family(self, family: str) -> Counter:
        families = {"failovers": self.failovers, "failbacks": self.failbacks,
                    "health_checks": self.health_checks}
        return families[family]

    # --- strategy-level ---------------------------------------------------------------

    def _transition(
        self,
        family: str,
        kind: str,
        ns: str,
        strategy: str,
        frm: str,
        to: str,
        reason: str,
        duration: float | None,
        when: float | None,
    ) -> None:
        labels = (ns, strategy, frm, to, normalize(reason, TRANSITION_REASONS))
        self._child(family, ns, strategy, labels).inc()
        self.observe_transition(kind, duration, ns, strategy, when)

    def observe_transition(self, kind: str, duration: float | None, ns: str, strategy: str,
                           when: float | None = None) -> None:
        """Observe one completed transition's duration (detection -> serving)."""
        if duration is not None and duration >= 0:
            self.transition_duration.labels(kind=normalize(kind, TRANSITION_KINDS)).observe(
                duration)
        self.set_last_transition(ns, strategy, time.time() if when is None else when)

    def record_failover(
        self,
        ns: str,
        strategy: str,
        frm: str,
        to: str,
        reason: str,
        duration: float | None = None,
        *,
        when: float | None = None,
    ) -> None:
        """Count a failover ``frm`` → ``to``; ``duration`` is detection → serving (s)."""
        self._transition(
            "failovers", "failover", ns, strategy, frm, to, reason, duration, when
        )

    def record_failback(
        self,
        ns: str,
        strategy: str,
        frm: str,
        to: str,
        reason: str,
        duration: float | None = None,
        *,
        when: float | None = None,
    ) -> None:
        """Count a failback ``frm`` → ``to`` (the main architecture)."""
        self._transition(
            "failbacks", "failback", ns, strategy, frm, to, reason, duration, when
        )

    def set_last_transition(self, ns: str, strategy: str, when: float) -> None:
        """Restore the last transition time (from etcd status) after a restart."""
        self.gauges.set("last_transition", ns, strategy, (), when)

    def set_phase(self, ns: str, strategy: str, phase: str) -> None:
        """Set the phase gauge: one series, 1, labelled with the current ``phase``."""
        self.gauges.set_phase(ns, strategy, normalize(phase, PHASES))

    def set_active_architecture(
        self,
        ns: str,
        strategy: str,
        architecture: str | None,
        role: str = "main",
        architectures: Mapping[str, str] | None = None,
    ) -> None:
        """Mark ``architecture`` (with ``role`` main/replacement) as the serving one.

        ``architectures`` (name → role) lists all architectures of the strategy so that
        each gets a 0 series; architectures marked earlier drop to 0. ``None`` as
        architecture means nothing is serving (all 0).
        """
        known: dict[tuple[str, ...], None] = dict.fromkeys(
            self.gauges.labels("active_architecture", ns, strategy))
        for name, r in (architectures or {}).items():
            known[(name, role_label(r))] = None
        if architecture is not None:
            known[(architecture, role_label(role))] = None
        for name, r in known:
            active = architecture is not None and name == architecture and r == role_label(role)
            self.gauges.set("active_architecture", ns, strategy, (name, r), 1 if active else 0)

    def record_health_check(self, ns: str, strategy: str, architecture: str, result: str) -> None:
        """Count one health evaluation: ``success``, ``failure`` or ``unknown``."""
        labels = (ns, strategy, architecture, normalize(result, HEALTH_RESULTS))
        self._child("health_checks", ns, strategy, labels).inc()

    def set_consecutive_failures(
        self, ns: str, strategy: str, architecture: str, count: int
    ) -> None:
        self.gauges.set("consecutive_failures", ns, strategy, (architecture,), count)

    def set_qos(
        self,
        ns: str,
        strategy: str,
        architecture: str,
        probe: str,
        value: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        """Record a qos probe's last value, and its thresholds when given."""
        self.gauges.set("qos_value", ns, strategy, (architecture, probe), value)
        self.set_qos_threshold(ns, strategy, architecture, probe, minimum=minimum, maximum=maximum)

    def set_qos_threshold(
        self,
        ns: str,
        strategy: str,
        architecture: str,
        probe: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        for bound, v in (("min", minimum), ("max", maximum)):
            if v is None:
                continue
            self.gauges.set("qos_threshold", ns, strategy, (architecture, probe, bound), v)

    def clear_qos(self, ns: str, strategy: str, architecture: str, probe: str) -> None:
        """Drop a qos value that could not be measured (no stale value is shown)."""
        self.gauges.remove("qos_value", ns, strategy, (architecture, probe))

    def forget(self, ns: str, strategy: str) -> None:
        """Remove every series of a deleted ActiveStrategy."""
        self.gauges.forget(ns, strategy)
        with self._lock:
            families = self._series.pop((ns, strategy), {})
        for family, label_sets in families.items():
            metric = self._family(family)
            for labels in label_sets:
                self._children.pop((family, labels), None)
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)

    # --- controller-level -------------------------------------------------------------

    def record_reconcile(self, kind: str, result: str, duration: float | None = None) -> None:
        """Count one reconcile of ``kind`` (``ActiveStrategy`` or plural) by result."""
        key = (reconcile_kind(kind), normalize(result, RECONCILE_RESULTS))
        children = self._reconcile_children.get(key)
        if children is None:  # a fixed vocabulary: kept for good
            children = (self.reconciles.labels(kind=key[0], result=key[1]),
                        self.reconcile_duration.labels(kind=key[0]))
            self._reconcile_children[key] = children
        children[0].inc()
        if duration is not None and duration >= 0:
            children[1].observe(duration)

    def set_workqueue_depth(self, depth: int) -> None:
        self.workqueue_depth.set(depth)

    def inc_workqueue_retries(self, n: int = 1) -> None:
        self.workqueue_retries.inc(n)

    def record_event_dropped(self) -> None:
        self.events_dropped.inc()

    def record_fog_wake(self) -> None:
        self.fog_wakes.inc()

    def set_leader(self, is_leader: bool) -> None:
        self.leader.set(1 if is_leader else 0)

    def mark_etcd_seen(self, when: float | None = None) -> None:
        """Record a successful etcd response (now, or at ``when``)."""
        self.etcd_last_seen.set(time.time() if when is None else when)

    # --- exposition -------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
