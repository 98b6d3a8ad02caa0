"""Probe results and their pure evaluation.

Three outcomes, never two: *success*, *failure* and *unknown* (could not measure:
timeout, no data, unparsable answer). Unknown is not success (a blind controller must
not call a service healthy) and not failure (a flaky metrics backend must not cause a
failover). Everything here is pure; :mod:`controller.arch.checks` does the I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class Health(StrEnum):
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class ProbeResult:
    """One probe's verdict in one cycle; ``value`` is the measured number, if any."""

    name: str
    entity: str | None
    outcome: Outcome
    message: str
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entity": self.entity,
            "outcome": self.outcome.value,
            "message": self.message,
            "value": self.value,
        }


@dataclass(frozen=True)
class HealthReport:
    """All probe results of one cycle and their aggregate."""

    health: Health
    results: tuple[ProbeResult, ...]
    message: str

    @property
    def healthy(self) -> bool:
        return self.health is Health.HEALTHY

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for r in self.results:
            out[r.outcome.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": self.health.value,
            "message": self.message,
            "results": [r.to_dict() for r in self.results],
        }


Verdict = tuple[Outcome, str, float | None]
"""What one check returns: outcome, short message, measured value."""


class Unmeasurable(Exception):
    """The answer holds no usable value (missing field, no series, not a number)."""


# --- evaluators --------------------------------------------------------------------------


def compare(value: float, minimum: float | None, maximum: float | None) -> tuple[Outcome, str]:
    """Threshold check, bounds inclusive."""
    if math.isnan(value):
        return Outcome.UNKNOWN, "value is NaN"
    if minimum is not None and value < minimum:
        return Outcome.FAILURE, f"{value:g} < min {minimum:g}"
    if maximum is not None and value > maximum:
        return Outcome.FAILURE, f"{value:g} > max {maximum:g}"
    bounds = []
    if minimum is not None:
        bounds.append(f"min {minimum:g}")
    if maximum is not None:
        bounds.append(f"max {maximum:g}")
    return Outcome.SUCCESS, f"{value:g} within " + (", ".join(bounds) or "no bounds")


def to_number(raw: Any) -> float:
    if isinstance(raw, bool) or raw is None:
        raise Unmeasurable(f"not a number: {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise Unmeasurable(f"not a number: {raw!r}") from None
    if math.isnan(value):
        raise Unmeasurable("value is NaN")
    return value


def extract_field(document: Any, path: str) -> float:
    """A number at a dotted path (``a.b.0.c``: list items by index) of a JSON document."""
    node = document
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Unmeasurable(f"no field {path!r} in the answer")
    return to_number(node)


def prometheus_value(answer: Any) -> float:
    """The value of a Prometheus instant-query answer (``/api/v1/query``).

    A vector must hold exactly one sample: several would need an aggregation the user
    did not write, so picking one would be a guess.
    """
    if not isinstance(answer, Mapping) or answer.get("status") != "success":
        err = answer.get("error") if isinstance(answer, Mapping) else None
        raise Unmeasurable(f"query failed: {err or 'bad answer'}")
    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string") and isinstance(result, list) and len(result) == 2:
        return to_number(result[1])
    if kind == "vector" and isinstance(result, list):
        if not result:
            raise Unmeasurable("query returned no data")
        if len(result) > 1:
            raise Unmeasurable(f"query returned {len(result)} series, expected 1")
        sample = result[0].get("value") if isinstance(result[0], Mapping) else None
        if not isinstance(sample, list) or len(sample) != 2:
            raise Unmeasurable("malformed sample")
        return to_number(sample[1])
    raise Unmeasurable(f"unsupported result type {kind!r}")


def evaluate_status(status: int, expected: int) -> tuple[Outcome, str]:
    if status == expected:
        return Outcome.SUCCESS, f"HTTP {status}"
    return Outcome.FAILURE, f"HTTP {status}, expected {expected}"


def evaluate_state(state: str | None, expected: str) -> tuple[Outcome, str]:
    if state is None:
        return Outcome.FAILURE, "no instance"
    if state == expected:
        return Outcome.SUCCESS, f"instance {state}"
    return Outcome.FAILURE, f"instance {state}, expected {expected}"


_SEVERITY = {Outcome.SUCCESS: 0, Outcome.UNKNOWN: 1, Outcome.FAILURE: 2}


def combine(name: str, entity: str | None, per_replica: Sequence[ProbeResult]) -> ProbeResult:
    """One result from a probe's per-replica results: the worst one wins.

    Failure beats unknown beats success; the message names the replica that decided.
    """
    if not per_replica:
        return ProbeResult(name, entity, Outcome.UNKNOWN, "no replica to probe")
    if len(per_replica) == 1:
        return per_replica[0]
    worst = max(per_replica, key=lambda r: _SEVERITY[r.outcome])
    if worst.outcome is Outcome.SUCCESS:
        msg = f"all {len(per_replica)} replicas: {worst.message}"
    else:
        bad = sum(1 for r in per_replica if r.outcome is worst.outcome)
        msg = f"{bad}/{len(per_replica)} replicas {worst.outcome.value}: {worst.message}"
    return ProbeResult(name, entity, worst.outcome, msg, worst.value)


def aggregate(results: Iterable[ProbeResult]) -> HealthReport:
    """Unhealthy if any probe failed, else Unknown if any could not measure, else Healthy."""
    res = tuple(results)
    failed = [r for r in res if r.outcome is Outcome.FAILURE]
    unknown = [r for r in res if r.outcome is Outcome.UNKNOWN]
    if failed:
        first = failed[0]
        return HealthReport(
            Health.UNHEALTHY, res, f"{len(failed)} probe(s) failed: {first.name}: {first.message}"
        )
    if unknown:
        first = unknown[0]
        return HealthReport(
            Health.UNKNOWN, res, f"{len(unknown)} probe(s) unknown: {first.name}: {first.message}"
        )
    if not res:
        return HealthReport(Health.UNKNOWN, res, "nothing to probe")
    return HealthReport(Health.HEALTHY, res, f"{len(res)} probe(s) passed")
