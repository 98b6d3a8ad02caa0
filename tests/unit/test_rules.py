"""Prometheus alert rules: promtool check/test, and the conventions every rule follows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from controller.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "rules.yaml"
RULE_TESTS = PROM / "rules.test.yaml"

EXPECTED_ALERTS = {
    "FogstratFailover",
    "FogstratFlapping",
    "FogstratDegraded",
    "FogstratPausedTooLong",
    "FogstratNoLeader",
    "FogstratReconcileErrors",
    "FogstratEtcdNotSeen",
}
# alerts about one ActiveStrategy: their summary must name it
STRATEGY_ALERTS = {
    "FogstratFailover",
    "FogstratFlapping",
    "FogstratDegraded",
    "FogstratPausedTooLong",
}

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: apt-get install -y --no-install-recommends prometheus"
    return path


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (histogram suffixes stripped)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    e = re.sub(r"'(?:\\.|[^'\\])*'", "''", e)
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges / subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", e)
    e = re.sub(r"\$\{[^}]*\}|\$\w+", " ", e)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", e):
        name = m.group(1)
        if name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(re.sub(r"_(bucket|sum|count)$", "", name) if "_seconds_" in name else name)
    return names


def exposed_metric_names() -> set[str]:
    """Every metric name the Metrics class exposes (exercised) — as a PromQL query sees it."""
    from tests.unit.test_metrics import exercise

    m = Metrics()
    exercise(m)
    names = set()
    for line in m.exposition().decode().splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            names.add(re.sub(r"_(bucket|sum|count)$", "", name) if "_seconds_" in name else name)
    return names


def load_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    proc = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules() -> None:
    proc = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROM,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_check_config() -> None:
    proc = subprocess.run(
        [promtool(), "check", "config", str(PROM / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rules_conventions() -> None:
    rules = load_rules()
    alerts = {r["alert"] for r in rules}
    assert alerts == EXPECTED_ALERTS
    for rule in rules:
        name = rule["alert"]
        assert "for" in rule, f"{name}: no for:"
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        summary = rule["annotations"]["summary"]
        if name in STRATEGY_ALERTS:
            assert "{{ $labels.namespace }}/{{ $labels.strategy }}" in summary, name
        assert rule["annotations"].get("description"), f"{name}: no description"


def test_rules_use_only_exposed_metrics() -> None:
    exposed = exposed_metric_names()
    for rule in load_rules():
        used = metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no metric found in expr"
        assert used <= exposed, f"{rule['alert']}: unknown metrics {used - exposed}"


def test_every_alert_tested_firing_and_not_firing() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for test in doc["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert firing >= EXPECTED_ALERTS, f"never tested firing: {EXPECTED_ALERTS - firing}"
    assert silent >= EXPECTED_ALERTS, f"never tested silent: {EXPECTED_ALERTS - silent}"


def test_metric_name_parser() -> None:
    expr = (
        'sum by (namespace) (increase(fogstrat_failovers_total{strategy=~"$strategy"}[$__range]))'
        " / on(kind) histogram_quantile(0.9, sum by (le) "
        "(rate(fogstrat_reconcile_duration_seconds_bucket[5m]))) and time() - foo offset 1h"
    )
    assert metric_names(expr) == {
        "fogstrat_failovers_total",
        "fogstrat_reconcile_duration_seconds",
        "foo",
    }
