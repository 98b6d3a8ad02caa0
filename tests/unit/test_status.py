"""StrategyStatus: JSON shape (docs/design.md §3), tolerant reads, conditions, bounded history."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from controller.reconcile.status import (
    HISTORY_LIMIT,
    ArchitectureStatus,
    ErrorInfo,
    FailedPin,
    HistoryEntry,
    StrategyStatus,
    Transition,
)


def full_status() -> StrategyStatus:
    arch = ArchitectureStatus(
        state="served", health="Healthy", consecutive_failures=1, consecutive_successes=0,
        consecutive_unknowns=2, last_probe_time=100.0, last_probe_result="Unhealthy",
        last_probe_reason="QosBelowThreshold", last_probe_message="accuracy 0.5 < 0.8",
        last_probe_values={"accuracy": 0.5}, placement={"worker": ("n1", "n2")},
        instances={"worker": ["i1", "i2"], "meta": {"fdu": "f1"}}, fingerprint="abc",
        message="",
    )
    s = StrategyStatus(
        observed_generation=7, phase="Serving", active_architecture="fl", active_role="main",
        architectures={"fl": arch, "gossip": ArchitectureStatus(state="undeployed")},
        failover_count=2, failback_count=1, last_transition_time=90.0,
        transition=Transition("failover", "fl", "gossip", "Unhealthy", 95.0, "deploying", 96.0,
                              ("fl",), False),
        main_ready_since=80.0, recent_failovers=(10.0, 20.0),
        last_error=ErrorInfo(99.0, "ActionFailed", "boom", 2, 109.0),
        failed_pin=FailedPin("edge", 3), message="no action",
    )
    s = s.set_condition("Ready", "True", "Healthy", "ok", 50.0)
    return s.append_history(HistoryEntry(60.0, "failover", "fl", "gossip", "Unhealthy", "m"))


def test_json_shape_uses_camel_case_keys_of_design() -> None:
    d = full_status().to_json()
    for key in ("observedGeneration", "phase", "activeArchitecture", "activeRole",
                "architectures", "failoverCount", "failbackCount", "lastTransitionTime",
                "conditions", "history", "transition", "mainReadySince", "recentFailovers",
                "lastError"):
        assert key in d
    arch = d["architectures"]["fl"]
    for key in ("state", "health", "consecutiveFailures", "consecutiveSuccesses",
                "lastProbeTime", "lastProbeResult", "lastProbeValues", "placement",
                "instances", "message"):
        assert key in arch
    assert arch["placement"] == {"worker": ["n1", "n2"]}
    assert d["conditions"][0] == {"type": "Ready", "status": "True", "reason": "Healthy",
                                  "message": "ok",
                                  "lastTransitionTime": "1970-01-01T00:00:50.000Z"}
    assert d["history"][0]["from"] == "fl" and d["history"][0]["to"] == "gossip"
    assert d["transition"]["startedAt"] == "1970-01-01T00:01:35.000Z"
    assert d["transition"]["attempted"] == ["fl"]
    json.dumps(d)  # plain JSON


def test_times_are_rfc3339_and_old_numeric_times_read_back() -> None:
    s = StrategyStatus(last_transition_time=1796286793.5124, recent_failovers=(1796286790.0,))
    d = s.to_json()
    assert d["lastTransitionTime"] == "2026-12-03T08:33:13.512Z"
    assert d["recentFailovers"] == ["2026-12-03T08:33:10.000Z"]
    back = StrategyStatus.from_json(d)
    assert back.last_transition_time == pytest.approx(1796286793.512)
    # a status written before times were strings
    old = StrategyStatus.from_json({"lastTransitionTime": 1796286793.5, "history": [
        {"time": 1796286790, "kind": "start", "to": "fl", "reason": "Start"}],
        "architectures": {"fl": {"lastProbeTime": 1796286792.25}}})
    assert old.last_transition_time == 1796286793.5
    assert old.history[0].time == 1796286790.0
    assert old.arch("fl").last_probe_time == 1796286792.25
    assert StrategyStatus.from_json({"lastTransitionTime": "not a time"}).last_transition_time \
        is None


def test_round_trip_is_equal() -> None:
    s = full_status()
    back = StrategyStatus.from_json(json.loads(json.dumps(s.to_json())))
    assert back == s
    assert back.to_json() == s.to_json()


@pytest.mark.parametrize("raw", [None, {}, [], "x", {"phase": "Bogus", "architectures": 3,
                                                      "conditions": "no", "history": [1, {}],
                                                      "transition": {"kind": "x"},
                                                      "failoverCount": "2", "lastError": 5}])
def test_tolerant_reads(raw: Any) -> None:
    s = StrategyStatus.from_json(raw)
    assert s.phase == "Pending"
    assert s.failover_count == 0 and s.transition is None and s.last_error is None


def test_older_partial_status_reads() -> None:
    s = StrategyStatus.from_json({"phase": "Serving", "activeArchitecture": "fl",
                                  "architectures": {"fl": {"state": "served"}}})
    assert s.phase == "Serving" and s.arch("fl").state == "served"
    assert s.arch("fl").health == "Unknown" and s.arch("fl").last_probe_time is None
    assert s.arch("other") == ArchitectureStatus()


def test_immutable_and_value_equality() -> None:
    a, b = full_status(), full_status()
    assert a == b
    with pytest.raises(AttributeError):
        a.phase = "Degraded"  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.arch("fl").instances["x"] = 1  # type: ignore[index]
    assert a.arch("fl").instances["worker"] == ("i1", "i2")


def test_set_condition_changes_time_only_on_flip() -> None:
    s = StrategyStatus().set_condition("Ready", "False", "NotHealthy", "m", 10.0)
    same = s.set_condition("Ready", "False", "NotHealthy", "m", 20.0)
    assert same is s
    reworded = s.set_condition("Ready", "False", "Other", "m2", 30.0)
    cond = reworded.condition("Ready")
    assert cond is not None and cond.last_transition_time == 10.0 and cond.reason == "Other"
    flipped = s.set_condition("Ready", "True", "Healthy", "", 40.0)
    cond = flipped.condition("Ready")
    assert cond is not None and cond.last_transition_time == 40.0
    ordered = flipped.set_condition("Valid", "True", "Valid", "", 1.0)
    assert [c.type for c in ordered.conditions] == ["Valid", "Ready"]


def test_history_is_bounded() -> None:
    s = StrategyStatus()
    for i in range(HISTORY_LIMIT + 5):
        s = s.append_history(HistoryEntry(float(i), "failover", "a", "b", "Unhealthy"))
    assert len(s.history) == HISTORY_LIMIT
    assert s.history[0].time == 5.0 and s.history[-1].time == HISTORY_LIMIT + 4


def test_with_phase_sets_last_transition_time_on_change_only() -> None:
    s = StrategyStatus().with_phase("Deploying", 5.0)
    assert s.last_transition_time == 5.0
    assert s.with_phase("Deploying", 9.0) is s


@pytest.mark.parametrize("change, volatile", [
    ({"last_probe_time": 130.0}, True),
    ({"last_probe_values": {"accuracy": 0.9}}, True),
    ({"consecutive_successes": 5}, True),
    ({"consecutive_failures": 2}, False),
    ({"last_probe_result": "Healthy"}, False),
    ({"health": "Unhealthy"}, False),
    ({"instances": {"worker": ["i3"]}}, False),
    ({"message": "moved"}, False),
])
def test_significant_agrees_with_the_status_writer(change: dict[str, Any],
                                                   volatile: bool) -> None:
    """The reconciler's skip (model equality) and the writer's (JSON without volatile
    fields) must agree, or a real change could go unwritten."""
    from controller.runtime.status_writer import significant

    s = full_status()
    t = s.with_arch("fl", replace(s.arch("fl"), **change))
    assert s.same_but_volatile(t) is volatile and t.same_but_volatile(s) is volatile
    assert (significant(s.to_json()) == significant(t.to_json())) is volatile


@pytest.mark.parametrize("change, volatile", [
    ({"consecutive_failures": 4}, True),
    ({"consecutive_unknowns": 1}, True),
    ({"last_probe_result": "Unhealthy"}, True),
    ({"last_probe_reason": "QosBelowThreshold"}, True),
    ({"last_probe_message": "accuracy 0.41 < 0.6"}, True),
    ({"health": "Unhealthy"}, False),
    ({"first_pass_time": 120.0}, False),
    ({"state": "served"}, False),
])
def test_a_starting_targets_failed_cycles_are_volatile(change: dict[str, Any],
                                                        volatile: bool) -> None:
    """``gossip`` is the transition's target, not started: a failed start-up cycle is not
    news (it is failed by time), its first pass or a health change is. Model and JSON
    agree."""
    from controller.runtime.status_writer import significant

    s = full_status()
    assert s.transition is not None and s.transition.to == "gossip"
    t = s.with_arch("gossip", replace(s.arch("gossip"), **change))
    assert s.same_but_volatile(t) is volatile and t.same_but_volatile(s) is volatile
    assert (significant(s.to_json()) == significant(t.to_json())) is volatile


def test_a_started_target_or_the_active_architecture_keeps_its_failures_news() -> None:
    from controller.runtime.status_writer import significant

    s = full_status()
    started = s.with_arch("gossip", replace(s.arch("gossip"), first_pass_time=110.0))
    for base, name in ((started, "gossip"), (s, "fl")):
        t = base.with_arch(name, replace(base.arch(name), consecutive_failures=9))
        assert not base.same_but_volatile(t)
        assert significant(base.to_json()) != significant(t.to_json())


def test_same_but_volatile_sees_strategy_fields_and_architectures() -> None:
    s = full_status()
    assert not s.same_but_volatile(replace(s, phase="Degraded"))
    assert not s.same_but_volatile(replace(s, architectures={"fl": s.arch("fl")}))
    assert s.same_but_volatile(StrategyStatus.from_json(s.to_json()))
