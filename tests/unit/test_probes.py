"""The pure probe evaluator: outcomes, thresholds, extraction, aggregation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from controller.arch.probes import (
    Health,
    Outcome,
    ProbeResult,
    Unmeasurable,
    aggregate,
    combine,
    compare,
    evaluate_state,
    evaluate_status,
    extract_field,
    prometheus_value,
)

S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("value", "lo", "hi", "outcome"),
    [
        (0.9, 0.8, None, S),
        (0.8, 0.8, None, S),  # bounds inclusive
        (0.79, 0.8, None, F),
        (5.0, None, 4.0, F),
        (4.0, None, 4.0, S),
        (3.0, 1.0, 4.0, S),
        (0.0, 1.0, 4.0, F),
        (1.0, None, None, S),
        (math.nan, 0.0, None, U),
    ],
)
def test_compare(value: float, lo: float | None, hi: float | None, outcome: Outcome) -> None:
    assert compare(value, lo, hi)[0] is outcome


def test_compare_message_shows_value_and_bound() -> None:
    assert compare(0.5, 0.8, None)[1] == "0.5 < min 0.8"


@pytest.mark.parametrize(
    ("doc", "path", "value"),
    [
        ({"accuracy": 0.9}, "accuracy", 0.9),
        ({"m": {"acc": "0.7"}}, "m.acc", 0.7),
        ({"xs": [{"v": 3}]}, "xs.0.v", 3.0),
    ],
)
def test_extract_field(doc: Any, path: str, value: float) -> None:
    assert extract_field(doc, path) == value


@pytest.mark.parametrize(
    ("doc", "path"),
    [({}, "a"), ({"a": None}, "a"), ({"a": "x"}, "a"), ({"a": True}, "a"),
     ({"a": [1]}, "a.3"), ([1], "a"), ({"a": "nan"}, "a")],
)
def test_extract_field_unmeasurable(doc: Any, path: str) -> None:
    with pytest.raises(Unmeasurable):
        extract_field(doc, path)


def vector(*values: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000.0, v]} for v in values]}}


def test_prometheus_value() -> None:
    assert prometheus_value(vector("0.93")) == 0.93
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "2"]}}
    assert prometheus_value(scalar) == 2.0


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (vector(), "no data"),
        (vector("1", "2"), "2 series"),
        (vector("NaN"), "NaN"),
        ({"status": "error", "error": "parse error"}, "parse error"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "matrix"),
        ("garbage", "bad answer"),
    ],
)
def test_prometheus_unmeasurable(answer: Any, why: str) -> None:
    with pytest.raises(Unmeasurable, match=why):
        prometheus_value(answer)


def test_status_and_state() -> None:
    assert evaluate_status(200, 200)[0] is S
    assert evaluate_status(503, 200) == (F, "HTTP 503, expected 200")
    assert evaluate_state("RUN", "RUN")[0] is S
    assert evaluate_state("ERROR", "RUN")[0] is F
    assert evaluate_state(None, "RUN") == (F, "no instance")


def r(outcome: Outcome, name: str = "p", value: float | None = None) -> ProbeResult:
    return ProbeResult(name, "e", outcome, outcome.value, value)


def test_combine_worst_wins() -> None:
    assert combine("p", "e", [r(S), r(S)]).outcome is S
    assert combine("p", "e", [r(S), r(U), r(S)]).outcome is U
    got = combine("p", "e", [r(U), r(F, value=0.1), r(S)])
    assert got.outcome is F and got.value == 0.1 and got.message.startswith("1/3 replicas failure")
    assert combine("p", "e", []).outcome is U


@pytest.mark.parametrize(
    ("outcomes", "health"),
    [
        ([S, S], Health.HEALTHY),
        ([S, U], Health.UNKNOWN),
        ([U, F], Health.UNHEALTHY),
        ([F], Health.UNHEALTHY),
        ([], Health.UNKNOWN),
    ],
)
def test_aggregate(outcomes: list[Outcome], health: Health) -> None:
    report = aggregate(r(o, f"p{i}") for i, o in enumerate(outcomes))
    assert report.health is health
    assert report.healthy is (health is Health.HEALTHY)
    assert sum(report.counts().values()) == len(outcomes)
    assert report.to_dict()["health"] == health.value
