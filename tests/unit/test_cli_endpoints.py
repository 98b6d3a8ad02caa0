"""How the CLI shows published endpoints and an Environment's own Reachable condition."""

from __future__ import annotations

from typing import Any

from controller.api import kinds
from controller.cli import endpoints, printers
from controller.reconcile.times import rfc3339
from controller.resources import StoredObject

NOW = 1_800_000_000.0


def test_an_endpoint_on_one_line() -> None:
    since = rfc3339(NOW - 30)
    assert printers.endpoint_line({"url": "http://10.0.0.1:8080/predict", "architecture": "fl",
                                   "serving": True, "since": since}, NOW) == (
        "http://10.0.0.1:8080/predict (fl, for 30s)")
    assert printers.endpoint_line({"url": None, "architecture": None, "serving": False,
                                   "since": since}, NOW) == "<none>: nothing serves (for 30s)"
    assert "gl serves, with no address" in printers.endpoint_line(
        {"url": None, "architecture": "gl", "since": since}, NOW)


def test_the_endpoints_table() -> None:
    found = [endpoints.Published("default", "lab", {
        "url": "http://10.0.0.1:8080/predict", "architecture": "fl",
        "since": rfc3339(NOW - 90)}), endpoints.Published("team", "x", {})]
    lines = endpoints.table(found, NOW).splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "URL", "ARCHITECTURE", "SINCE"]
    assert lines[1].split() == ["default", "lab", "http://10.0.0.1:8080/predict", "fl", "90s"]
    assert lines[2].split() == ["team", "x", "<none>", "<none>", "<unknown>"]


def _env(conditions: list[dict[str, Any]] | None) -> StoredObject:
    status = {"conditions": conditions} if conditions is not None else None
    return StoredObject(kinds.ENVIRONMENT, "default", "lab",
                        {"spec": {"driver": "fog05", "locator": "10.0.0.2:7447"}}, 1, status)


def test_the_environment_s_own_condition_wins_over_what_strategies_saw() -> None:
    seen = {("default", "lab"): "True"}
    down = _env([{"type": "Reachable", "status": "False", "reason": "ZenohMissing",
                  "lastTransitionTime": rfc3339(NOW - 5)}])
    cell = printers.rows(kinds.ENVIRONMENT, [down], wide=True, reachable=seen)[1][-1]
    assert cell.startswith("False (ZenohMissing ") and cell.endswith(" ago)")
    up = _env([{"type": "Reachable", "status": "True", "reason": "FogAnswers"}])
    assert printers.rows(kinds.ENVIRONMENT, [up], wide=True, reachable={})[1][-1] == "True"
    unseen = _env(None)
    assert printers.rows(kinds.ENVIRONMENT, [unseen], wide=True, reachable=seen)[1][-1] == "True"
