"""The per-ActiveStrategy gauges, kept as plain values and rendered only when scraped.

A labelled prometheus-client gauge keeps a child object, with its own lock, per series,
and a 0/1 series for every phase makes a dozen of them per strategy: creating them all
weighs on a restarted controller's resync, and a scrape walks every one. Here a
strategy's phase is one dict entry with one series (its current phase; a 0 series per
other phase would multiply what a scrape renders), and forgetting a strategy drops one
entry. docs/performance.md has the figures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Labels = tuple[str, ...]
"""Label values after ``namespace`` and ``strategy``."""


@dataclass(frozen=True)
class GaugeFamily:
    name: str
    documentation: str
    labels: Labels
    """Label names after ``namespace`` and ``strategy``."""


@dataclass
class _Strategy:
    phase: str | None = None
    values: dict[str, dict[Labels, float]] = field(default_factory=dict)


class StrategyGauges(Collector):
    """Gauges labelled ``namespace``, ``strategy`` and the family's own labels, plus the
    phase gauge (one series per strategy: its current phase, 1). Thread safe."""

    def __init__(self, families: Mapping[str, GaugeFamily], phase: GaugeFamily) -> None:
        self._families = dict(families)
        self._phase = phase
        self._lock = threading.Lock()
        self._strategies: dict[tuple[str, str], _Strategy] = {}

    def _entry(self, ns: str, strategy: str) -> _Strategy:
        entry = self._strategies.get((ns, strategy))
        if entry is None:
            entry = self._strategies[(ns, strategy)] = _Strategy()
        return entry

    def set_phase(self, ns: str, strategy: str, phase: str) -> None:
        with self._lock:
            self._entry(ns, strategy).phase = phase

    def set(self, family: str, ns: str, strategy: str, labels: Labels, value: float) -> None:
        with self._lock:
            self._entry(ns, strategy).values.setdefault(family, {})[labels] = value

    def remove(self, family: str, ns: str, strategy: str, labels: Labels) -> None:
        with self._lock:
            entry = self._strategies.get((ns, strategy))
            if entry is not None:
                entry.values.get(family, {}).pop(labels, None)

    def labels(self, family: str, ns: str, strategy: str) -> list[Labels]:
        """The label values ``family`` has series for, for one strategy."""
        with self._lock:
            entry = self._strategies.get((ns, strategy))
            return list(entry.values.get(family, {})) if entry is not None else []

    def forget(self, ns: str, strategy: str) -> None:
        with self._lock:
            self._strategies.pop((ns, strategy), None)

    # --- Collector ------------------------------------------------------------------

    def describe(self) -> Iterator[Metric]:
        for fam in (self._phase, *self._families.values()):
            yield GaugeMetricFamily(fam.name, fam.documentation,
                                    labels=["namespace", "strategy", *fam.labels])

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # a copy, so a scrape never holds up a reconcile for long
            phases = [(k, e.phase) for k, e in self._strategies.items() if e.phase is not None]
            values = {name: [(k, dict(e.values[name])) for k, e in self._strategies.items()
                             if e.values.get(name)] for name in self._families}
        fam = self._phase
        out = GaugeMetricFamily(fam.name, fam.documentation,
                                labels=["namespace", "strategy", *fam.labels])
        for (ns, strategy), phase in phases:
            out.add_metric((ns, strategy, phase), 1.0)
        yield out
        for name, fam in self._families.items():
            out = GaugeMetricFamily(fam.name, fam.documentation,
                                    labels=["namespace", "strategy", *fam.labels])
            for (ns, strategy), series in values[name]:
                for labels, value in series.items():
                    out.add_metric((ns, strategy, *labels), value)
            yield out
