"""Stored status JSON: written and read by field metadata exactly as the hand-written
serializers it replaced did.

``fixtures/status/stored.json`` was written by those serializers: ``rich`` is the rich
status built below, and each of ``reads`` a stored document (old, partial or malformed)
with what reading and writing it again gave. Every byte of it must still come out.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.reconcile.json_fields import json_key, read_record
from controller.reconcile.status import (
    VOLATILE_ARCH_FIELDS,
    ArchitectureStatus,
    Condition,
    ErrorInfo,
    FailedPin,
    HistoryEntry,
    StrategyStatus,
    Transition,
)
from controller.reconcile.times import LATEST, parse_time, rfc3339

STORED = json.loads((Path(__file__).parent / "fixtures" / "status" / "stored.json")
                    .read_text(encoding="utf-8"))


def stored_bytes(status: Any) -> bytes:
    """As the store writes a status document (``Resources.write_status``)."""
    return json.dumps(status, sort_keys=True, separators=(",", ":")).encode()


def rich() -> StrategyStatus:
    """Every field set, every nested record, odd text and times with milliseconds."""
    fl = ArchitectureStatus(
        state="served", health="Healthy", consecutive_failures=1, consecutive_successes=0,
        consecutive_unknowns=2, last_probe_time=1796286792.25, last_probe_result="Unhealthy",
        last_probe_reason="QosBelowThreshold", last_probe_message="accuracy 0.5 < 0.8",
        last_probe_values={"accuracy": 0.5, "latency": 12.0},
        placement={"worker": ("n1", "n2"), "aggregator": ("n3",)},
        instances={"worker": ["i1", "i2"], "meta": {"fdu": "f1", "nested": [1, {"x": None}]}},
        fingerprint="0123456789abcdef", message="")
    gossip = ArchitectureStatus(state="undeployed", message="n2: no room")
    status = StrategyStatus(
        observed_generation=7, phase="FailingOver", active_architecture="fl", active_role="main",
        architectures={"gossip": gossip, "fl": fl, "edge": ArchitectureStatus()},
        failover_count=2, failback_count=1, last_transition_time=1796286790.512,
        transition=Transition("failover", "fl", "gossip", "Unhealthy", 1796286795.0,
                              "deploying", 1796286796.001, ("fl", "edge"), True),
        main_ready_since=1796286780.0, recent_failovers=(1796286710.0, 1796286720.999),
        last_error=ErrorInfo(1796286799.0, "ActionFailed", "boom: ünïcode \"quoted\"", 2,
                             1796286809.0),
        failed_pin=FailedPin("edge", 3), message="failing over from fl to gossip")
    status = status.set_condition("Ready", "False", "NotHealthy", "fl unhealthy", 1796286750.0)
    status = status.set_condition("Valid", "True", "Valid", "", 1796286700.0)
    status = status.set_condition("Custom", "Unknown", "Odd", "kept", 1796286701.0)
    status = status.append_history(
        HistoryEntry(1796286600.0, "start", None, "fl", "Start", "m", 3.25))
    return status.append_history(
        HistoryEntry(1796286650.0, "degraded", "fl", None, "NoCandidate", ""))


def test_a_rich_status_is_stored_byte_for_byte_as_before() -> None:
    assert stored_bytes(rich().to_json()) == stored_bytes(STORED["rich"])


def test_what_was_stored_before_reads_back_as_the_same_status() -> None:
    assert StrategyStatus.from_json(STORED["rich"]) == rich()


@pytest.mark.parametrize("case", STORED["reads"], ids=lambda case: json.dumps(case["raw"])[:40])
def test_every_stored_shape_reads_and_writes_as_before(case: dict[str, Any]) -> None:
    status = StrategyStatus.from_json(case["raw"])
    assert stored_bytes(status.to_json()) == stored_bytes(case["json"])
    assert StrategyStatus.from_json(json.loads(json.dumps(status.to_json()))) == status


LEFT_BEHIND = json.loads((Path(__file__).parent / "fixtures" / "status" / "left_behind.json")
                         .read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", LEFT_BEHIND["reads"],
                         ids=lambda case: json.dumps(case["raw"]["lastError"])[-40:])
def test_left_behind_is_stored_and_an_error_without_it_still_reads(case: dict[str, Any]
                                                                   ) -> None:
    status = StrategyStatus.from_json(case["raw"])
    assert stored_bytes(status.to_json()["lastError"]) == stored_bytes(case["lastError"])
    assert StrategyStatus.from_json(json.loads(json.dumps(status.to_json()))) == status
    assert status.last_error is not None
    assert status.last_error.left_behind == case["lastError"].get("leftBehind")


def test_left_behind_round_trips_through_the_stored_json() -> None:
    error = ErrorInfo(1796286799.0, "NoCandidate", "x", 3, 1796286807.0, left_behind="gossip")
    stored = json.loads(stored_bytes(StrategyStatus(last_error=error).to_json()))
    assert stored["lastError"]["leftBehind"] == "gossip"
    assert StrategyStatus.from_json(stored).last_error == error


def test_keys_come_in_field_order_and_camel_case() -> None:
    keys = list(rich().to_json())
    assert keys[:4] == ["observedGeneration", "phase", "activeArchitecture", "activeRole"]
    assert list(rich().arch("fl").__class__.__dataclass_fields__) == [
        field.name for field in fields(ArchitectureStatus)]
    assert json_key(HistoryEntry, "from_") == "from"
    assert json_key(HistoryEntry, "duration") == "durationSeconds"
    assert json_key(Transition, "make_before_break") == "makeBeforeBreak"


def test_a_duration_is_left_out_when_there_is_none() -> None:
    entry = rich().history[-1]
    assert entry.duration is None
    assert "durationSeconds" not in StrategyStatus(history=(entry,)).to_json()["history"][0]


def test_the_unreported_count_is_stored_only_while_there_is_one() -> None:
    history = rich().history
    assert "unreportedHistory" not in StrategyStatus(history=history).to_json()
    marked = StrategyStatus(history=history, unreported=1)
    stored = json.loads(stored_bytes(marked.to_json()))
    assert stored["unreportedHistory"] == 1
    back = StrategyStatus.from_json(stored)
    assert back.unreported == 1 and back.unreported_entries() == history[-1:]


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "2", None, [1]])
def test_an_unusable_unreported_count_reads_as_none(value: Any) -> None:
    status = StrategyStatus.from_json({"history": [], "unreportedHistory": value})
    assert status.unreported is None and status.unreported_entries() == ()


def test_an_unreported_count_beyond_the_history_means_all_of_it() -> None:
    history = rich().history
    status = StrategyStatus.from_json({**StrategyStatus(history=history).to_json(),
                                       "unreportedHistory": 10**9})
    assert status.unreported_entries() == history


def test_a_record_without_its_required_field_reads_as_none() -> None:
    assert read_record(Transition, {"kind": "failover", "from": "a"}) is None
    assert read_record(FailedPin, {"generation": 3}) is None
    assert read_record(ErrorInfo, {}) == ErrorInfo(0.0, "", "", 1, 0.0)
    assert read_record(Condition, {"type": "Ready"}) == Condition("Ready", "Unknown", "")


def test_a_transition_without_stage_since_starts_its_stage_when_it_started() -> None:
    transition = read_record(Transition, {"to": "b", "startedAt": 40, "stage": "x"})
    assert transition is not None
    assert (transition.stage_since, transition.stage) == (40.0, "draining")


def test_volatile_fields_name_their_stored_keys() -> None:
    for name, key in VOLATILE_ARCH_FIELDS.items():
        assert json_key(ArchitectureStatus, name) == key


@given(st.floats(min_value=0.0, max_value=LATEST))
def test_times_are_written_as_datetime_writes_them(seconds: float) -> None:
    millis = round(seconds * 1000)
    expected = datetime.fromtimestamp(millis // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert rfc3339(seconds) == f"{expected}.{millis % 1000:03d}Z"
    back = parse_time(rfc3339(seconds))
    assert back is not None and abs(back - seconds) <= 0.0006  # milliseconds, rounded


@pytest.mark.parametrize("time", [1e300, float("nan"), float("inf"), -1.0, LATEST + 1,
                                  "9999-12-31T23:59:59.9999Z", "0001-01-01T00:00:00Z"])
def test_a_time_no_status_can_hold_reads_as_none_and_writes_back(time: Any) -> None:
    status = StrategyStatus.from_json({
        "lastTransitionTime": time, "recentFailovers": [time, 5],
        "history": [{"time": time, "kind": "start", "to": "a", "reason": "Start"}],
        "transition": {"to": "a", "startedAt": time}})
    assert status.last_transition_time is None and status.recent_failovers == (5.0,)
    assert status.history[0].time == 0.0
    assert status.transition is not None and status.transition.started_at == 0.0
    stored_bytes(status.to_json())
