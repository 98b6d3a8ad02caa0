"""The reporter: what one ActiveStrategy's reconciles tell -- log sentences, metrics, events.

One sentence is logged per step, at INFO when it says something new and at DEBUG when a
steady step repeats it; gauges are set only when what they show changed. History entries
(transitions, aborts) are told once, when they are stored, by ``reporting.HistoryReporter``
-- or by the next leader, when a controller dies before it could.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.metrics import Metrics
from controller.reconcile.decision import Decision, Probe, ProbeOutcome
from controller.reconcile.status import HistoryEntry, StrategyStatus
from controller.runtime.events import EventRecorder, EventType
from controller.runtime.handles import Handle
from controller.runtime.informer import ObjectKey
from controller.runtime.reporting import HistoryReporter, Reported, Seen, notices
from controller.runtime.resolve import StrategyInputs

_log = logging.getLogger("fogstrat.activestrategy")

_HEALTH_RESULT = {"Healthy": "success", "Unhealthy": "failure", "Unknown": "unknown"}


@dataclass
class ReportState:
    """Per ActiveStrategy: what was last told, so a steady strategy repeats nothing."""

    gauges: tuple[Any, ...] = ()
    """What the metrics gauges were last set to."""
    last_message: str = ""
    reported: Reported = field(default_factory=Reported)
    """The newest history entry reported (or found stored by someone else)."""
    seen: Seen | None = None
    """What the last reported step saw (``reporting.notices``)."""


class Reporter:
    def __init__(self, metrics: Metrics, events: EventRecorder | None = None) -> None:
        self._metrics = metrics
        self._events = events
        self._history = HistoryReporter(metrics, events)

    def forget(self, key: ObjectKey) -> None:
        self._metrics.forget(key.namespace, key.name)

    def event(self, key: ObjectKey, type_: EventType, reason: str, message: str) -> None:
        if self._events is not None:
            self._events.record(key, type_, reason, message)

    def warn_once(self, key: ObjectKey, state: ReportState, sentence: str) -> None:
        """Log ``sentence`` as a warning unless it is what was last said of ``key``."""
        line = f"{key.namespace}/{key.name}: {sentence}"
        if line != state.last_message:
            _log.warning(line)
            state.last_message = line

    def held(self, key: ObjectKey, state: ReportState, sentence: str, phase: str) -> None:
        """The strategy is held on invalid input: say why, once, and show its phase."""
        self.warn_once(key, state, sentence)
        self._metrics.set_phase(key.namespace, key.name, phase)

    def stored(self, key: ObjectKey, state: ReportState,
               history: Sequence[HistoryEntry]) -> None:
        """``history`` was just stored by us: its new entries are counted and logged now,
        whichever step made them (see ``reporting``)."""
        self._history.count(key, state.reported.take(history))

    def found(self, key: ObjectKey, state: ReportState, status: StrategyStatus) -> None:
        """``status`` was read from the store: the entries no one reported are counted and
        logged now; the others were, by whoever stored them."""
        self._history.count(key, state.reported.found(status.history,
                                                      status.unreported_entries()))

    def tell(self, key: ObjectKey, entries: Sequence[HistoryEntry]) -> bool:
        """The Events of ``entries``, written now (False: not all of them could be)."""
        return self._history.tell(key, entries)

    def probe(self, inputs: StrategyInputs, arch: str, outcome: ProbeOutcome,
              handle: Handle) -> None:
        ns, name = inputs.key.namespace, inputs.key.name
        self._metrics.record_health_check(ns, name, arch, _HEALTH_RESULT[outcome.result])
        thresholds = {p.name: p.qos for p in handle.blueprint.spec.health.probes if p.qos}
        for probe, value in outcome.values.items():
            qos = thresholds.get(probe)
            if qos is not None:
                self._metrics.set_qos(ns, name, arch, probe, value, minimum=qos.min,
                                      maximum=qos.max)

    def step(self, inputs: StrategyInputs, decision: Decision, state: ReportState) -> None:
        """Gauges, notices and the one sentence of a decided step."""
        ns, name = inputs.key.namespace, inputs.key.name
        st = decision.status
        self._gauges(inputs, st, state)
        line = f"{ns}/{name}: {decision.message}" if not decision.message.startswith(
            f"{ns}/{name}") else decision.message
        seen = Seen(inputs.spec.paused, inputs.spec.pin,
                    st.last_error is not None and st.last_error.reason == "FogUnreachable",
                    st.transition.to if st.transition else None)
        for reason, notice in notices(state.seen, seen):
            _log.info("%s/%s: %s", ns, name, notice)
            self.event(inputs.key, "Normal", reason, notice)
        started = seen.target is not None and (state.seen is None
                                               or state.seen.target != seen.target)
        state.seen = seen
        if not (st.history and line == f"{ns}/{name}: {st.history[-1].message}"):
            # (a history entry's own sentence is told when it is stored)
            acted = any(not isinstance(a, Probe) for a in decision.actions)
            self._sentence(inputs.key, st, line, seen, acted=acted, started=started,
                           last=state.last_message)
        state.last_message = line

    def _sentence(self, key: ObjectKey, st: StrategyStatus, line: str, seen: Seen, *,
                  acted: bool, started: bool, last: str) -> None:
        """Log a step's sentence (and its event) when it is news."""
        if not acted and line == last:
            _log.debug(line)
            return
        unreachable = seen.unreachable
        _log.log(logging.WARNING if unreachable else logging.INFO, line)
        said = line[len(key.namespace) + len(key.name) + 3:]
        if unreachable and line != last:
            self.event(key, "Warning", "FogUnreachable", said)
        elif started and st.transition is not None:  # a decision the probes drove
            t = st.transition
            self.event(key, "Warning" if t.kind == "failover" else "Normal", t.reason, said)

    def _gauges(self, inputs: StrategyInputs, st: StrategyStatus, state: ReportState) -> None:
        ns, name = inputs.key.namespace, inputs.key.name
        roles = {ref.architecture: ("main" if i == 0 else "replacement")
                 for i, ref in enumerate(inputs.strategy.candidates)}
        gauges = (st.phase, st.active_architecture, st.active_role, tuple(roles.items()),
                  tuple((a, s.consecutive_failures) for a, s in st.architectures.items()),
                  st.last_transition_time)
        if gauges == state.gauges:  # the common case, on every steady step: nothing to set
            return
        m = self._metrics
        m.set_phase(ns, name, st.phase)
        m.set_active_architecture(ns, name, st.active_architecture, st.active_role or "main",
                                  roles)
        for arch_name, arch in st.architectures.items():
            m.set_consecutive_failures(ns, name, arch_name, arch.consecutive_failures)
        if st.last_transition_time:
            m.set_last_transition(ns, name, st.last_transition_time)
        state.gauges = gauges
