"""The pure parts of the ActiveStrategy reconciler's rooms: what a probe cycle tells the
decision, capacity released for a placement check, the status a strategy is held with,
and the gate actions wait on for a status write in flight."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from controller.api import kinds
from controller.arch.probes import Health, HealthReport, Outcome, ProbeResult
from controller.fog.client import NodeStatus
from controller.reconcile.status import StrategyStatus
from controller.runtime.active.executor import WriteGate, _outcome
from controller.runtime.active.inputs import held
from controller.runtime.active.observer import _free
from controller.runtime.documents import Parsed
from controller.runtime.informer import ObjectKey
from controller.runtime.resolve import Unresolved


def result(name: str, outcome: Outcome, value: float | None = None) -> ProbeResult:
    return ProbeResult(name=name, entity=None, outcome=outcome, message="", value=value)


def test_a_cycle_failed_by_qos_probes_alone_is_told_apart() -> None:
    report = HealthReport(Health.UNHEALTHY, (result("up", Outcome.SUCCESS),
                                             result("latency", Outcome.FAILURE, 80.0)),
                          "1 probe(s) failed:\n latency: 80 > 50")
    outcome = _outcome(report, qos_probes={"latency"})
    assert (outcome.result, outcome.reason) == ("Unhealthy", "QosBelowThreshold")
    assert outcome.values == {"latency": 80.0}
    assert outcome.message == "1 probe(s) failed: latency: 80 > 50"


def test_a_cycle_with_anything_down_is_unhealthy() -> None:
    report = HealthReport(Health.UNHEALTHY, (result("up", Outcome.FAILURE),
                                             result("latency", Outcome.FAILURE, 80.0)), "down")
    assert _outcome(report, qos_probes={"latency"}).reason == "Unhealthy"
    healthy = HealthReport(Health.HEALTHY, (result("up", Outcome.SUCCESS),), "1 passed")
    assert (_outcome(healthy, set()).result, _outcome(healthy, set()).reason) == ("Healthy", "")


def test_released_capacity_never_exceeds_a_node() -> None:
    statuses = {"a": NodeStatus("a", ram_total_mb=1000, ram_free_mb=100, disk_total_gb=10,
                                disk_free_gb=1),
                "b": NodeStatus("b", ram_total_mb=1000, ram_free_mb=900)}
    freed = _free(statuses, [{"a": (300.0, 2.0), "b": (500.0, 1.0), "gone": (1.0, 1.0)}])
    assert (freed["a"].ram_free_mb, freed["a"].disk_free_gb) == (400.0, 3.0)
    assert freed["b"].ram_free_mb == 1000  # capped at the node's total
    assert freed["b"].disk_free_gb == 1.0  # no total known: not capped
    assert "gone" not in freed
    assert statuses["a"].ram_free_mb == 100  # the view itself is left as read


KEY = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")


def test_a_strategy_held_on_invalid_input_says_why_and_touches_nothing_else() -> None:
    status = StrategyStatus.from_json({"phase": "Serving"})
    raw = {"phase": "Serving", "createdAt": "2026-01-01T00:00:00Z", "strategy": "s"}
    exc = Unresolved("StrategyNotFound", "strategy s not found")
    holding = held(Parsed(KEY, 7, None), raw, status, exc, now=1_800_000_000.0)
    assert holding.phase == "Invalid"
    assert holding.sentence == "invalid: strategy s not found; no action"
    doc = holding.document
    assert doc["observedGeneration"] == 7 and doc["phase"] == "Invalid"
    assert doc["createdAt"] == "2026-01-01T00:00:00Z" and doc["strategy"] == "s"
    [valid] = [c for c in doc["conditions"] if c["type"] == "Valid"]
    assert (valid["status"], valid["reason"]) == ("False", "StrategyNotFound")


def test_a_deleted_strategy_held_keeps_its_phase() -> None:
    status = StrategyStatus.from_json({"phase": "Serving"})
    exc = Unresolved("EnvironmentNotFound", "environment e not found")
    holding = held(None, None, status, exc, now=1_800_000_000.0)
    assert holding.phase == "Serving"
    assert "createdAt" in holding.document


def test_the_gate_holds_actions_until_the_write_is_stored() -> None:
    write: Future[None] = Future()
    gate = WriteGate(before=1, write=write)
    assert not gate.failed()
    done = threading.Event()

    def act() -> None:
        gate.wait()
        done.set()

    worker = threading.Thread(target=act)
    worker.start()
    assert not done.is_set()
    write.set_result(None)
    worker.join()
    assert done.is_set() and not gate.failed()


def test_a_failed_write_fails_the_gate() -> None:
    write: Future[None] = Future()
    write.set_exception(RuntimeError("conflict"))
    gate = WriteGate(before=0, write=write)
    assert gate.failed()
    with pytest.raises(RuntimeError, match="conflict"):
        gate.wait()
