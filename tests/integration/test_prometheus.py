"""The dashboard's and the alert rules' PromQL against a real Prometheus scraping a real
controller through a failover and a failback (hack/smoke/failover.yaml on fogsim).

Every panel target, annotation query and template-variable query of
deploy/grafana/fogstrat-dashboard.json, and every rule ``expr`` of
deploy/prometheus/rules.yaml, must parse and execute (HTTP 200, status success); the
transition panels must count the failover and the failback of the strategy; and the
``FogstratFailover`` alert must fire.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import Cli
from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.fogsim import FogsimServer
from tests.support.prometheus import (
    PrometheusError,
    PrometheusServer,
    sample_value,
)
from tests.support.smoke import (
    ACTIVE,
    BACKUP,
    MAIN,
    MAIN_NODE,
    NAMESPACE,
    private_nodes,
    smoke_documents,
    wait_phase,
)

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "fogstrat-dashboard.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(90),
]

#: Concrete values for Grafana's template variables (longest names first when replaced).
#: Scrape interval 1s: Grafana's $__rate_interval is max(4 * scrape interval, $__interval
#: + scrape interval); $__range is the dashboard's time range (the whole test fits in it).
VARIABLES = {
    "namespace": NAMESPACE,
    "strategy": ACTIVE,
    "datasource": "prometheus",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
    "__rate_interval": "4s",
    "__interval": "1s",
    "__interval_ms": "1000",
}
_VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(expr: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in VARIABLES:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        return VARIABLES[name]

    return _VAR_RE.sub(repl, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels") or [])


def dashboard_queries() -> list[tuple[str, str, bool]]:
    """(where, expr, is_range) for every panel target and annotation query."""
    dash = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str, bool]] = []
    for p in _panels(dash.get("panels") or []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                is_range = bool(t.get("range", not t.get("instant", False)))
                out.append((f"panel {p.get('title')!r} {t.get('refId')}", t["expr"], is_range))
    for a in (dash.get("annotations") or {}).get("list") or []:
        if a.get("expr"):
            out.append((f"annotation {a.get('name')!r}", a["expr"], True))
    return out


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, selector, label) of each ``label_values(selector, label)`` variable."""
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        text = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", text or "")
        assert m, f"variable {v['name']}: unsupported query {text!r}"
        out.append((v["name"], m.group(1), m.group(2)))
    return out


def rule_queries() -> list[tuple[str, str, str]]:
    """(alert/record name, expr, for) of every rule."""
    doc = yaml.safe_load(RULES.read_text())
    return [(r.get("alert") or r.get("record"), r["expr"], str(r.get("for", "0s")))
            for g in doc["groups"] for r in g["rules"]]


def panel_query(title: str, ref: str) -> str:
    for where, expr, _ in dashboard_queries():
        if where == f"panel {title!r} {ref}":
            return substitute(expr)
    raise AssertionError(f"dashboard has no panel {title!r} target {ref}")


def by_strategy(result: list[dict[str, Any]]) -> dict[str, float]:
    return {s["metric"].get("strategy", ""): sample_value(s) for s in result}


@pytest.fixture
def stack(etcd: EtcdServer, prefix: str, tmp_path: Path
          ) -> Iterator[tuple[FogsimServer, ControllerProcess, PrometheusServer, Cli]]:
    with FogsimServer(private_nodes(tmp_path)) as sim, \
            ControllerProcess(etcd.endpoint, prefix, lease_ttl=3) as ctl, \
            PrometheusServer([f"127.0.0.1:{ctl.port}"]) as prom:
        try:
            yield sim, ctl, prom, Cli(etcd.endpoint, prefix)
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            print("---- fogsim log\n" + sim.log_tail())
            print("---- prometheus log\n" + prom.log_tail())
            raise


def test_substitute_covers_grafana_forms() -> None:
    assert substitute('x{a=~"$namespace"}[$__rate_interval]') == 'x{a=~"default"}[4s]'
    assert substitute("${strategy} [[namespace]] ${__range_s}") == "web-smoke default 300"
    with pytest.raises(AssertionError, match="unknown template variable"):
        substitute("$nope")


def test_dashboard_and_rules_run_against_a_failover(
        stack: tuple[FogsimServer, ControllerProcess, PrometheusServer, Cli],
        tmp_path: Path) -> None:
    sim, _, prom, cli = stack
    prom.wait_for(prom.targets_up, timeout=20, what="controller target up")

    cli.ok("apply", "-f", str(smoke_documents(tmp_path, sim.url)))
    wait_phase(cli, "Serving", active_architecture=MAIN)
    # Prometheus has seen the strategy serving on main before the failover.
    prom.wait_for(lambda: prom.query(
        f'fogstrat_active_architecture{{strategy="{ACTIVE}",architecture="{MAIN}"}} == 1'),
        timeout=15, what="web-main active in prometheus")

    sim.cli("node", "down", MAIN_NODE)
    wait_phase(cli, "Serving", active_architecture=BACKUP, timeout=30)
    failovers = prom.wait_for(
        lambda: prom.query(f'fogstrat_failovers_total{{strategy="{ACTIVE}"}}'),
        timeout=15, what="failover counter scraped")
    assert [s["metric"]["from"] for s in failovers] == [MAIN]
    assert [s["metric"]["to"] for s in failovers] == [BACKUP]
    assert [sample_value(s) for s in failovers] == [1.0]

    # Every dashboard query parses and runs (instant, and as a range query where the
    # panel draws one); none names a template variable we do not know.
    end = time.time()
    errors = []
    for where, expr, is_range in dashboard_queries():
        concrete = substitute(expr)
        assert "$" not in concrete, f"{where}: unsubstituted variable in {concrete!r}"
        try:
            prom.query(concrete)
            if is_range:
                prom.query_range(concrete, end - 60, end, step=1)
        except PrometheusError as exc:
            errors.append(f"{where}: {exc}\n    {concrete}")
    for where, expr, _ in rule_queries():
        try:
            prom.query(expr)
        except PrometheusError as exc:
            errors.append(f"rule {where}: {exc}")
    assert not errors, "queries failed:\n" + "\n".join(errors)

    # The template variables list the namespace and the strategy.
    for name, selector, label in variable_queries():
        values = prom.api(f"/api/v1/label/{label}/values",
                          {"match[]": substitute(selector)})["data"]
        assert VARIABLES[name] in values, f"variable {name}: {values}"

    # The failover panels count exactly this failover.
    per_strategy = panel_query("Transitions in range by strategy", "A")
    assert by_strategy(prom.query(per_strategy)) == {ACTIVE: 1.0}
    assert [sample_value(s) for s in prom.query(panel_query("Failovers in range", "A"))] == [1.0]
    assert by_strategy(prom.query(panel_query("Active architecture", "A")
                                  + " == 1")) == {ACTIVE: 1.0}
    active = prom.query(panel_query("Active architecture", "A") + " == 1")
    assert [s["metric"]["architecture"] for s in active] == [BACKUP]
    # The annotation marks the failover (a range query, as Grafana runs it).
    (where, expr, _), = [q for q in dashboard_queries() if q[0] == "annotation 'Failovers'"]
    marks = prom.query_range(substitute(expr), end - 60, time.time(), step=1)
    assert {m["metric"].get("strategy") for m in marks} == {ACTIVE}, marks

    # FogstratFailover (for: 0m) fires for this strategy.
    rules = {name: for_ for name, _, for_ in rule_queries()}
    assert "FogstratFailover" in rules
    firing = prom.wait_for(
        lambda: [a for a in prom.alerts() if a["labels"].get("alertname") == "FogstratFailover"
                 and a["labels"].get("strategy") == ACTIVE and a["state"] == "firing"],
        timeout=15, what="FogstratFailover firing")
    assert firing[0]["labels"]["from"] == MAIN and firing[0]["labels"]["to"] == BACKUP
    assert prom.query(f'ALERTS{{alertname="FogstratFailover",strategy="{ACTIVE}",'
                      f'alertstate="firing"}}')
    # No controller alert fires for a healthy controller (those with a short `for:`).
    assert not prom.query('ALERTS{alertname=~"FogstratNoLeader|FogstratEtcdNotSeen"}')

    # Failback: the failback panels count it as well.
    sim.cli("node", "up", MAIN_NODE)
    wait_phase(cli, "Serving", active_architecture=MAIN, timeout=30)
    prom.wait_for(lambda: prom.query(f'fogstrat_failbacks_total{{strategy="{ACTIVE}"}}'),
                  timeout=15, what="failback counter scraped")
    assert by_strategy(prom.query(panel_query("Transitions in range by strategy", "B"))) == {
        ACTIVE: 1.0}
    assert [sample_value(s) for s in prom.query(panel_query("Failbacks in range", "A"))] == [1.0]
    # Transition durations were observed for each kind that completed.
    counts = {s["metric"]["kind"]: sample_value(s) for s in prom.query(
        "fogstrat_transition_duration_seconds_count")}
    assert counts == {"start": 1.0, "failover": 1.0, "failback": 1.0, "switch": 0.0,
                      "rollout": 0.0}
