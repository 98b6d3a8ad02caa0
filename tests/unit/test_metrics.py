"""Metrics (docs/design.md §5) and the /metrics, /healthz, /readyz endpoint."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.health_server import HealthServer, Liveness, parse_addr
from controller.metrics import PHASES, Metrics, normalize

# docs/design.md §5: name -> label set (histograms: labels of the _bucket series minus "le").
EXPECTED: dict[str, set[str]] = {
    "fogstrat_failovers_total": {"namespace", "strategy", "from", "to", "reason"},
    "fogstrat_failbacks_total": {"namespace", "strategy", "from", "to", "reason"},
    "fogstrat_transition_duration_seconds": {"kind"},
    "fogstrat_active_architecture": {"namespace", "strategy", "architecture", "role"},
    "fogstrat_strategy_phase": {"namespace", "strategy", "phase"},
    "fogstrat_health_checks_total": {"namespace", "strategy", "architecture", "result"},
    "fogstrat_qos_value": {"namespace", "strategy", "architecture", "probe"},
    "fogstrat_reconcile_total": {"kind", "result"},
    "fogstrat_reconcile_duration_seconds": {"kind"},
    "fogstrat_workqueue_depth": set(),
    "fogstrat_workqueue_retries_total": set(),
    "fogstrat_leader": set(),
    "fogstrat_etcd_last_seen_timestamp_seconds": set(),
    # additions
    "fogstrat_consecutive_failures": {"namespace", "strategy", "architecture"},
    "fogstrat_last_transition_timestamp_seconds": {"namespace", "strategy"},
    "fogstrat_qos_threshold": {"namespace", "strategy", "architecture", "probe", "bound"},
}
HISTOGRAMS = {"fogstrat_transition_duration_seconds", "fogstrat_reconcile_duration_seconds"}


def exercise(m: Metrics) -> None:
    m.set_phase("lab", "prediction", "Serving")
    m.set_active_architecture(
        "lab",
        "prediction",
        "gossip",
        "replacement",
        {"federated": "main", "gossip": "replacement"},
    )
    m.record_failover("lab", "prediction", "federated", "gossip", "Unhealthy", 12.5)
    m.record_failback("lab", "prediction", "gossip", "federated", "MainReady", 40.0)
    m.record_health_check("lab", "prediction", "federated", "success")
    m.record_health_check("lab", "prediction", "federated", "failure")
    m.record_health_check("lab", "prediction", "federated", "unknown")
    m.set_consecutive_failures("lab", "prediction", "federated", 2)
    m.set_qos("lab", "prediction", "federated", "accuracy", 0.91, minimum=0.8, maximum=1.0)
    m.record_reconcile("ActiveStrategy", "success", 0.02)
    m.record_reconcile("activestrategies", "error", 0.3)
    m.record_reconcile("Strategy", "requeue", 0.001)
    m.set_workqueue_depth(3)
    m.inc_workqueue_retries()
    m.set_leader(True)
    m.mark_etcd_seen()


def samples(m: Metrics) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out.append((s.name, dict(s.labels), s.value))
    return out


def series(m: Metrics, name: str, **labels: str) -> list[float]:
    return [
        v
        for n, lab, v in samples(m)
        if n == name and all(lab.get(k) == val for k, val in labels.items())
    ]


def test_every_metric_and_label_set_is_exposed() -> None:
    m = Metrics()
    exercise(m)
    found: dict[str, set[frozenset[str]]] = {}
    for name, labels, _ in samples(m):
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                base = name[: -len(suffix)]
        found.setdefault(base, set()).add(frozenset(set(labels) - {"le"}))
    for name, wanted in EXPECTED.items():
        assert name in found, f"{name} missing from the exposition"
        assert found[name] == {frozenset(wanted)}, f"{name}: labels {found[name]} != {wanted}"
    # the dashboard's process panels
    assert "process_resident_memory_bytes" in found
    assert "process_cpu_seconds_total" in found


def test_promtool_check_metrics_clean() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install -y --no-install-recommends prometheus"
    m = Metrics()
    exercise(m)
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=m.exposition(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert proc.stdout.decode().strip() == "" and proc.stderr.decode().strip() == "", (
        proc.stdout.decode() + proc.stderr.decode()
    )


def test_label_values_come_from_fixed_sets() -> None:
    m = Metrics()
    m.record_failover("ns", "s", "a", "b", "connection refused: 10.0.0.1:8080 timed out")
    m.record_health_check("ns", "s", "a", "Traceback (most recent call last)")
    m.record_reconcile("Frobnicator", "exploded")
    m.set_phase("ns", "s", "Weird")
    assert series(m, "fogstrat_failovers_total", reason="other") == [1.0]
    assert series(m, "fogstrat_health_checks_total", result="other") == [1.0]
    assert series(m, "fogstrat_reconcile_total", kind="other", result="other") == [1.0]
    assert series(m, "fogstrat_strategy_phase", strategy="s", phase="other") == [1.0]
    reasons = {lab["reason"] for n, lab, _ in samples(m) if n == "fogstrat_failovers_total"}
    assert reasons == {"other"}


def test_normalize_accepts_camel_case() -> None:
    assert normalize("QosViolation", ("qos_violation",)) == "qos_violation"
    assert normalize("HealthCheckFailed", ("health_check_failed",)) == "health_check_failed"
    assert normalize("SUCCESS", ("success",)) == "success"
    assert normalize("nope", ("success",)) == "other"


def test_phase_gauge_has_one_series_per_strategy_its_current_phase() -> None:
    """kube-state-metrics keeps a 0 series per other phase; at 10,000 strategies that
    tripled a scrape, and every query here (``== 1``, ``sum by (phase)``) works without."""
    m = Metrics()
    m.set_phase("ns", "s", "Deploying")
    m.set_phase("ns", "s", "Serving")
    m.set_phase("ns", "t", "Degraded")
    values = {(lab["strategy"], lab["phase"]): v for n, lab, v in samples(m)
              if n == "fogstrat_strategy_phase"}
    assert values == {("s", "Serving"): 1.0, ("t", "Degraded"): 1.0}
    assert "Serving" in PHASES


def test_active_architecture_moves() -> None:
    m = Metrics()
    m.set_active_architecture(
        "ns", "s", "main-arch", "main", {"main-arch": "main", "r": "replacement"}
    )
    m.set_active_architecture("ns", "s", "r", "replacement")
    assert series(m, "fogstrat_active_architecture", architecture="main-arch") == [0.0]
    assert series(m, "fogstrat_active_architecture", architecture="r", role="replacement") == [1.0]
    m.set_active_architecture("ns", "s", None)
    assert sum(series(m, "fogstrat_active_architecture", strategy="s")) == 0.0


def test_forget_removes_a_strategys_series() -> None:
    m = Metrics()
    exercise(m)
    m.set_phase("lab", "other-one", "Serving")
    m.forget("lab", "prediction")
    left = [(n, lab) for n, lab, _ in samples(m) if lab.get("strategy") == "prediction"]
    assert left == []
    assert series(m, "fogstrat_strategy_phase", strategy="other-one", phase="Serving") == [1.0]
    # the controller-level series stay
    assert series(m, "fogstrat_leader") == [1.0]


def test_a_strategy_created_again_after_forget_counts_its_checks_from_zero() -> None:
    m = Metrics()
    for _ in range(3):
        m.record_health_check("lab", "again", "main", "success")
    m.forget("lab", "again")
    m.record_health_check("lab", "again", "main", "success")
    assert series(m, "fogstrat_health_checks_total", strategy="again") == [1.0]


def test_reconciles_are_counted_by_kind_and_result() -> None:
    m = Metrics()
    for result in ("success", "success", "error"):
        m.record_reconcile("ActiveStrategy", result, 0.01)
    kind = {"kind": "ActiveStrategy"}
    assert series(m, "fogstrat_reconcile_total", result="success", **kind) == [2.0]
    assert series(m, "fogstrat_reconcile_total", result="error", **kind) == [1.0]
    assert series(m, "fogstrat_reconcile_duration_seconds_count", **kind) == [3.0]


def test_two_instances_do_not_clash() -> None:
    a, b = Metrics(), Metrics()
    a.set_leader(True)
    assert series(a, "fogstrat_leader") == [1.0]
    assert series(b, "fogstrat_leader") == [0.0]


def test_transition_updates_last_transition_and_histogram() -> None:
    m = Metrics()
    m.record_failover("ns", "s", "a", "b", "QosBelowThreshold", 7.0, when=1000.0)
    assert series(m, "fogstrat_last_transition_timestamp_seconds", strategy="s") == [1000.0]
    assert series(m, "fogstrat_transition_duration_seconds_count", kind="failover") == [1.0]
    assert series(m, "fogstrat_transition_duration_seconds_sum", kind="failover") == [7.0]


# --- health server -------------------------------------------------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_parse_addr() -> None:
    assert parse_addr("0.0.0.0:9469") == ("0.0.0.0", 9469)
    assert parse_addr(":9469") == ("0.0.0.0", 9469)
    assert parse_addr("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        parse_addr("localhost")
    with pytest.raises(ValueError):
        parse_addr("localhost:99999")


def test_health_server_endpoints() -> None:
    clock = FakeClock()
    liveness = Liveness(window=30, clock=clock)
    ready: list[bool | tuple[bool, str]] = [(False, "etcd unreachable: 127.0.0.1:2379")]
    m = Metrics()
    m.set_leader(True)
    server = HealthServer(m, liveness, lambda: ready[0], addr="127.0.0.1:0")
    server.start()
    try:
        assert server.port != 0
        base = server.url
        status, body = get(base + "/metrics")
        assert status == 200
        assert "fogstrat_leader 1.0" in body

        # liveness: fresh, then stale, then fresh again after a beat
        assert get(base + "/healthz")[0] == 200
        liveness.beat()
        clock.now += 31
        status, body = get(base + "/healthz")
        assert status == 503
        assert "31.0s ago" in body and body.count("\n") == 1
        liveness.beat()
        assert get(base + "/healthz")[0] == 200

        # readiness follows the callable
        status, body = get(base + "/readyz")
        assert status == 503 and "etcd unreachable" in body
        ready[0] = (True, "etcd reachable, watches synced")
        assert get(base + "/readyz") == (200, "etcd reachable, watches synced\n")
        ready[0] = False
        assert get(base + "/readyz")[0] == 503

        assert get(base + "/nope")[0] == 404
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/healthz", timeout=2)


def test_healthz_stale_before_first_pass() -> None:
    clock = FakeClock()
    liveness = Liveness(window=10, clock=clock)
    clock.now += 11
    ok, reason = liveness.check()
    assert not ok and "has not completed a pass" in reason


def test_readiness_exception_is_not_ready() -> None:
    def boom() -> bool:
        raise RuntimeError("watch\nbroken")

    with HealthServer(Metrics(), Liveness(), boom, addr="127.0.0.1:0") as server:
        status, body = get(server.url + "/readyz")
    assert status == 503
    assert body == "readiness check failed: RuntimeError: watch broken\n"


def test_port_in_use_raises() -> None:
    with HealthServer(Metrics(), Liveness(), addr="127.0.0.1:0") as first:
        second = HealthServer(Metrics(), Liveness(), addr=f"127.0.0.1:{first.port}")
        with pytest.raises(OSError):
            second.start()
