"""The Grafana dashboard JSON: importable structure, queries only use exposed metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_rules import exposed_metric_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "fogstrat-dashboard.json"


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) for every panel target and annotation query."""
    out = []
    for p in panels(dash):
        for t in p.get("targets", []):
            out.append((f"panel {p['title']!r}", t["expr"]))
    for a in dash["annotations"]["list"]:
        if "expr" in a:
            out.append((f"annotation {a['name']!r}", a["expr"]))
    return out


def test_importable_top_level(dash: dict[str, Any]) -> None:
    assert "__inputs" not in dash and "__requires" not in dash
    assert dash["id"] is None
    assert dash["uid"] == "fogstrat"
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["title"]
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"


def test_template_variables(dash: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert {"datasource", "namespace", "strategy"} <= set(variables)
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for name in ("namespace", "strategy"):
        v = variables[name]
        assert v["type"] == "query"
        assert v["datasource"]["uid"] == "${datasource}"
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        assert q.startswith("label_values(fogstrat_strategy_phase")
        assert q.rstrip(")").endswith(name)


def test_every_panel_has_a_query_on_the_datasource_variable(dash: dict[str, Any]) -> None:
    for p in panels(dash):
        if p["type"] == "row":
            continue
        assert p.get("targets"), f"panel {p['title']!r} has no query"
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), f"panel {p['title']!r}: empty query"
            assert t.get("datasource", p["datasource"])["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]), p["title"]


def test_queries_use_only_exposed_metrics(dash: dict[str, Any]) -> None:
    exposed = exposed_metric_names()
    for where, expr in queries(dash):
        used = metric_names(expr)
        assert used, f"{where}: no metric in {expr!r}"
        assert used <= exposed, f"{where}: unknown metrics {used - exposed} in {expr!r}"


def test_strategy_panels_filter_on_variables(dash: dict[str, Any]) -> None:
    for where, expr in queries(dash):
        if re.search(
            r"fogstrat_(active_architecture|qos_|health_checks|consecutive|last_tr)", expr
        ):
            assert 'strategy=~"$strategy"' in expr and 'namespace=~"$namespace"' in expr, where


def test_required_panels_present(dash: dict[str, Any]) -> None:
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert len(rows) == 3
    exprs = " ".join(e for _, e in queries(dash))
    for needle in (
        "fogstrat_strategy_phase",
        "increase(fogstrat_failovers_total",
        "increase(fogstrat_failbacks_total",
        "fogstrat_leader",
        "fogstrat_etcd_last_seen_timestamp_seconds",
        "fogstrat_active_architecture",
        "fogstrat_qos_value",
        "fogstrat_qos_threshold",
        "fogstrat_health_checks_total",
        "fogstrat_consecutive_failures",
        "fogstrat_last_transition_timestamp_seconds",
        "fogstrat_reconcile_total",
        "histogram_quantile(0.99, sum by (le) (rate(fogstrat_reconcile_duration_seconds_bucket",
        "fogstrat_workqueue_depth",
        "fogstrat_workqueue_retries_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ):
        assert needle in exprs, needle
    assert any(p["type"] == "state-timeline" for p in panels(dash))
    names = {a["name"] for a in dash["annotations"]["list"]}
    assert {"Failovers", "Failbacks"} <= names


def test_provisioning_files() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "fogstrat.yaml").read_text())
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "prometheus"
    # Grafana expands it from its environment: the same file serves a cluster and make run
    assert ds["datasources"][0]["url"] == "$PROMETHEUS_URL"
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "fogstrat.yaml").read_text())
    assert prov["apiVersion"] == 1
    assert prov["providers"][0]["type"] == "file" and prov["providers"][0]["options"]["path"]
