"""A running controller's /metrics, /healthz and /readyz (docs/design.md §4, §5).

After a failover and a failback (hack/smoke/failover.yaml on fogsim), /metrics holds
every §5 metric with exactly its documented labels, with the values the scenario implies,
no ``*_created`` series, and passes ``promtool check metrics``. /readyz turns 503 with a
one-line reason while etcd is down, and 200 again when it is back.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.metrics import (
    HEALTH_RESULTS,
    PHASES,
    RECONCILE_KINDS,
    RECONCILE_RESULTS,
    TRANSITION_REASONS,
)
from tests.support.cli import Cli
from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.fogsim import FogsimServer
from tests.support.prometheus import promtool_binary
from tests.support.scenario import wait_for
from tests.support.smoke import (
    ACTIVE,
    BACKUP,
    MAIN,
    MAIN_NODE,
    NAMESPACE,
    PROBE,
    private_nodes,
    smoke_documents,
    wait_phase,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
T = TypeVar("T")

_TRANSITION = frozenset({"namespace", "strategy", "from", "to", "reason"})
#: docs/design.md §5: every metric (as written in PromQL) and its labels (``le`` aside).
DOCUMENTED: dict[str, frozenset[str]] = {
    "fogstrat_failovers_total": _TRANSITION,
    "fogstrat_failbacks_total": _TRANSITION,
    "fogstrat_transition_duration_seconds": frozenset({"kind"}),
    "fogstrat_active_architecture": frozenset({"namespace", "strategy", "architecture", "role"}),
    "fogstrat_strategy_phase": frozenset({"namespace", "strategy", "phase"}),
    "fogstrat_health_checks_total": frozenset(
        {"namespace", "strategy", "architecture", "result"}),
    "fogstrat_qos_value": frozenset({"namespace", "strategy", "architecture", "probe"}),
    "fogstrat_reconcile_total": frozenset({"kind", "result"}),
    "fogstrat_reconcile_duration_seconds": frozenset({"kind"}),
    "fogstrat_workqueue_depth": frozenset(),
    "fogstrat_workqueue_retries_total": frozenset(),
    "fogstrat_leader": frozenset(),
    "fogstrat_etcd_last_seen_timestamp_seconds": frozenset(),
    "fogstrat_fog_wakes_total": frozenset(),
}
HISTOGRAMS = {"fogstrat_transition_duration_seconds", "fogstrat_reconcile_duration_seconds"}

Samples = dict[str, list[tuple[dict[str, str], float]]]


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)



def samples(text: str) -> Samples:
    """Sample name → [(labels, value)] of an exposition."""
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name].append((dict(s.labels), float(s.value)))
    return out


def base_name(sample_name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        stem = sample_name.removesuffix(suffix)
        if stem != sample_name and stem in HISTOGRAMS:
            return stem
    return sample_name


def one(series: Samples, name: str, **labels: str) -> float:
    found = [v for lab, v in series.get(name, []) if all(lab.get(k) == x for k, x in
                                                          labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} series: {series.get(name)}"
    return found[0]


def test_metrics_after_failover_and_failback(etcd: EtcdServer, prefix: str,
                                             tmp_path: Path) -> None:
    with FogsimServer(private_nodes(tmp_path)) as sim, \
            ControllerProcess(etcd.endpoint, prefix, lease_ttl=3) as ctl:
        try:
            cli = Cli(etcd.endpoint, prefix)
            cli.ok("apply", "-f", str(smoke_documents(tmp_path, sim.url)))
            wait_phase(cli, "Serving", active_architecture=MAIN)
            sim.cli("node", "down", MAIN_NODE)
            wait_phase(cli, "Serving", active_architecture=BACKUP, timeout=30)
            sim.cli("node", "up", MAIN_NODE)
            wait_phase(cli, "Serving", active_architecture=MAIN, timeout=30)
            # Status is written before the metrics of the same pass: wait for them.
            text = wait_for(lambda: (lambda t: t if "fogstrat_failbacks_total{" in t else None)(
                ctl.metrics()), 10, "failback in /metrics")
            status, ready = http_get(ctl.url + "/readyz")
            hstatus, healthy = http_get(ctl.url + "/healthz")
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            print("---- fogsim log\n" + sim.log_tail())
            raise

    assert (status, hstatus) == (200, 200), (ready, healthy)
    for body in (ready, healthy):
        assert body.startswith("ok") and body.count("\n") == 1, body

    series = samples(text)
    assert not [n for n in series if n.endswith("_created")], "_created series exposed"
    # Every documented metric has HELP/TYPE and exactly its documented labels.
    for name, labels in DOCUMENTED.items():
        family = name.removesuffix("_total")
        assert f"# TYPE {family} " in text or f"# TYPE {name} " in text, name
        got = {n: s for n, s in series.items() if base_name(n) == name}
        assert got, f"{name}: no series"
        for sample_name, rows in got.items():
            for lab, _ in rows:
                assert set(lab) - {"le"} == labels, f"{sample_name}: labels {sorted(lab)}"
    fogstrat = {base_name(n) for n in series if n.startswith("fogstrat_")}
    undocumented = fogstrat - set(DOCUMENTED)
    assert undocumented <= {"fogstrat_consecutive_failures",
                            "fogstrat_last_transition_timestamp_seconds",
                            "fogstrat_qos_threshold",
                            "fogstrat_events_dropped_total"}, undocumented

    # Values the scenario implies; label values from the fixed vocabularies.
    scope = {"namespace": NAMESPACE, "strategy": ACTIVE}
    fo = series["fogstrat_failovers_total"]
    assert [(lab["from"], lab["to"], v) for lab, v in fo] == [(MAIN, BACKUP, 1.0)], fo
    fb = series["fogstrat_failbacks_total"]
    assert [(lab["from"], lab["to"], v) for lab, v in fb] == [(BACKUP, MAIN, 1.0)], fb
    for lab, _ in fo + fb:
        assert lab["reason"] in TRANSITION_REASONS and lab["reason"] != "other", lab
    assert fb[0][0]["reason"] == "MainReady", fb
    assert one(series, "fogstrat_transition_duration_seconds_count", kind="failover") == 1
    assert one(series, "fogstrat_transition_duration_seconds_count", kind="failback") == 1
    assert one(series, "fogstrat_active_architecture", **scope, architecture=MAIN,
               role="main") == 1
    assert one(series, "fogstrat_active_architecture", **scope, architecture=BACKUP,
               role="replacement") == 0
    phases = {lab["phase"]: v for lab, v in series["fogstrat_strategy_phase"]
              if lab["strategy"] == scope["strategy"]}
    assert phases == {"Serving": 1}, phases
    assert set(phases) <= set(PHASES)
    checks = series["fogstrat_health_checks_total"]
    assert {lab["result"] for lab, _ in checks} <= set(HEALTH_RESULTS)
    assert one(series, "fogstrat_health_checks_total", **scope, architecture=MAIN,
               result="success") > 0
    assert one(series, "fogstrat_health_checks_total", **scope, architecture=BACKUP,
               result="success") > 0
    assert one(series, "fogstrat_qos_value", **scope, architecture=MAIN, probe=PROBE) == 0.9
    assert {lab["kind"] for lab, _ in series["fogstrat_reconcile_total"]} <= set(RECONCILE_KINDS)
    assert {lab["result"] for lab, _ in series["fogstrat_reconcile_total"]} <= set(
        RECONCILE_RESULTS)
    # An ActiveStrategy reconcile asks to come back after its probe interval: "requeue".
    assert one(series, "fogstrat_reconcile_total", kind="ActiveStrategy", result="requeue") > 0
    assert one(series, "fogstrat_reconcile_total", kind="Architecture", result="success") > 0
    assert one(series, "fogstrat_reconcile_duration_seconds_count", kind="ActiveStrategy") > 0
    assert one(series, "fogstrat_leader") == 1
    assert abs(time.time() - one(series, "fogstrat_etcd_last_seen_timestamp_seconds")) < 30

    promtool = promtool_binary()
    assert promtool is not None, "promtool is missing: `make test` installs it (prometheus)"
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), (
        res.stdout + res.stderr)


def test_readyz_follows_etcd(fresh_etcd: EtcdServer, prefix: str) -> None:
    with ControllerProcess(fresh_etcd.endpoint, prefix, lease_ttl=3) as ctl:
        try:
            wait_for(lambda: http_get(ctl.url + "/readyz")[0] == 200, 15, "/readyz 200")
            fresh_etcd.stop()
            _, reason = wait_for(
                lambda: (lambda r: r if r[0] == 503 else None)(http_get(ctl.url + "/readyz")),
                20, "/readyz 503 with etcd stopped")
            assert reason.endswith("\n") and reason.count("\n") == 1, repr(reason)
            assert reason.strip() and len(reason) <= 301, repr(reason)
            assert "etcd" in reason, reason
            # Liveness is not readiness: the process is fine, restarting it would not
            # bring etcd back.
            assert http_get(ctl.url + "/healthz")[0] == 200
            fresh_etcd.start()
            wait_for(lambda: http_get(ctl.url + "/readyz")[0] == 200, 30,
                 "/readyz 200 once etcd is back")
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            raise


def test_idle_controller_reports_etcd_seen(etcd: EtcdServer, prefix: str) -> None:
    """Nothing to reconcile, but the controller talks to etcd (list, watch, lease)."""
    with ControllerProcess(etcd.endpoint, prefix, lease_ttl=3) as ctl:
        wait_for(lambda: http_get(ctl.url + "/readyz")[0] == 200, 15, "/readyz 200")
        wait_for(lambda: "fogstrat_leader 1.0" in ctl.metrics(), 15, "leader")
        seen = one(samples(ctl.metrics()), "fogstrat_etcd_last_seen_timestamp_seconds")
    assert time.time() - seen < 30, f"etcd last seen {time.time() - seen:.0f}s ago"
