"""The Prometheus console page (deploy/prometheus/consoles): its queries read only metrics
the controller exposes and cover the dashboard's everyday panels. Its rendering in a real
Prometheus and browser is tested end to end in tests/e2e/test_local_stack.py."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.unit.test_rules import exposed_metric_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "deploy" / "prometheus" / "consoles" / "fogstrat.html"
LIBRARY = ROOT / "deploy" / "prometheus" / "console_libraries" / "fogstrat.lib"


def console_queries() -> list[str]:
    """Queries rendered by Prometheus (template strings) and drawn by the browser
    (``data-query`` attributes)."""
    text = CONSOLE.read_text()
    templated = [q.replace('\\"', '"') for q in re.findall(r'query "((?:\\.|[^"\\])*)"', text)]
    printf = re.findall(r'query \(printf "((?:\\.|[^"\\])*)"', text)
    drawn = [html.unescape(q) for q in re.findall(r'data-query="([^"]*)"', text)]
    return templated + [q.replace("%q", '"x"').replace('\\"', '"') for q in printf] + drawn


def test_console_queries_read_exposed_metrics_only() -> None:
    exposed = exposed_metric_names()
    queries = console_queries()
    assert len(queries) >= 10
    for q in queries:
        used = metric_names(q)
        assert used, q
        assert used <= exposed, f"unknown metrics {used - exposed} in {q!r}"


def test_console_has_the_dashboards_everyday_panels() -> None:
    text = " ".join(console_queries())
    for metric in ("fogstrat_active_architecture", "fogstrat_strategy_phase",
                   "fogstrat_failovers_total", "fogstrat_failbacks_total",
                   "fogstrat_transition_duration_seconds_bucket",
                   "fogstrat_health_checks_total"):
        assert metric in text, metric
    page = CONSOLE.read_text()
    assert 'data-kind="timeline"' in page  # the active architecture over time
    assert page.lstrip().startswith('{{ template "fogstrat.head"')
    assert page.rstrip().endswith('{{ template "fogstrat.tail" }}')
    lib = LIBRARY.read_text()
    for name in ("fogstrat.head", "fogstrat.tail", "fogstrat.charts"):
        assert f'{{{{ define "{name}" ' in lib, name
