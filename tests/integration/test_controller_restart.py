"""The controller under crashes, a second replica and an etcd outage: real etcd, real
fogsim, real ``fogstrat controller`` processes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, pid_alive, wait_for

pytestmark = pytest.mark.integration

TTL = 3


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd, lease_ttl=TTL) as scenario:
        yield scenario


def leader_gauge(s: Scenario, index: int) -> float | None:
    m = re.search(r"^fogstrat_leader\s+([0-9.e+-]+)$", s.controllers[index].metrics(), re.M)
    return float(m.group(1)) if m else None


def ids_and_pids(s: Scenario) -> dict[str, int]:
    return {i["uuid"]: i["hypervisor_info"]["pid"] for i in s.instances()}


# --- 10: SIGKILL during a transition --------------------------------------------------------


def failing_over(st: dict[str, object]) -> bool:
    t = st.get("transition")
    return isinstance(t, dict) and t.get("kind") == "failover"


def deploying_backup(s: Scenario) -> object:
    def check(st: dict[str, object]) -> bool:
        t = st.get("transition")
        return (isinstance(t, dict) and t.get("kind") == "failover"
                and t.get("stage") == "deploying")
    return check


@pytest.mark.parametrize("moment", ["failover-started", "failover-deploying"])
def test_sigkill_during_failover_converges(s: Scenario, moment: str) -> None:
    s.given.web_strategy().controller().serving("web-main")
    if moment == "failover-deploying":
        # Slow every fog05 call so the deploy of the replacement takes a while.
        s.sim.cli("faults", "--latency-ms", "150")

    s.when.node_down("cloud-1")
    if moment == "failover-started":
        caught = s.when.moment(failing_over, "the failover to start", timeout=20)
    else:
        caught = s.when.moment(
            lambda st: failing_over(st) and st["transition"]["stage"] == "deploying",
            "the replacement being deployed", timeout=20)
    s.when.controller_killed()
    print("caught", moment, caught.get("phase"), caught.get("transition"), flush=True)
    assert caught.get("phase") in ("FailingOver", "Degraded", "Serving"), caught

    s.sim.cli("faults", "--latency-ms", "0")
    s.when.controller_restarted()

    s.then.one_serving("web-backup", timeout=40)
    st = s.status()
    assert st["transition"] is None
    s.then.counts(failover=1)
    assert [h["kind"] for h in st["history"]].count("failover") == 1, st["history"]


@pytest.mark.parametrize("moment", ["failback-begins", "failback-onboarded"])
def test_sigkill_during_failback_converges(s: Scenario, moment: str) -> None:
    s.given.web_strategy(window="2s").controller().serving("web-main")
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=20)
    if moment == "failback-onboarded":
        s.sim.cli("faults", "--latency-ms", "150")

    s.when.node_up("cloud-1")
    caught = s.when.moment(
        lambda st: isinstance(st.get("transition"), dict)
        and st["transition"].get("kind") == "failback", "the failback to begin", timeout=30)
    if moment == "failback-onboarded":
        # The main's FDU is in the catalog but its instance does not run yet.
        def onboarded() -> bool:
            st = s.state()
            return (any(".web-main." in f.get("id", "") for f in st["fdus"])
                    and not any(i["status"] == "RUN" and s.node_names()[i["node"]] == "cloud-1"
                                for i in st["instances"]))
        wait_for(onboarded, 20, "web-main onboarded, not yet running", s.describe,
                 interval=0.01)
    s.when.controller_killed()
    assert caught["phase"] == "FailingBack", caught
    s.sim.cli("faults", "--latency-ms", "0")
    s.when.controller_restarted()

    s.then.one_serving("web-main", timeout=40)
    st = s.status()
    assert st["transition"] is None
    s.then.counts(failover=1, failback=1)


def test_sigkill_while_serving_adopts_without_redeploy(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    before = ids_and_pids(s)
    s.when.controller_killed().controller_restarted()
    wait_for(lambda: leader_gauge(s, 0) == 1.0, TTL + 10, "the restarted controller leads",
             s.describe)
    s.then.stays(lambda st: st["phase"] == "Serving", "Serving", seconds=2)
    assert ids_and_pids(s) == before
    assert all(pid_alive(p) for p in before.values())
    s.then.one_serving("web-main")


# --- 11: two replicas -----------------------------------------------------------------------


def test_two_controllers_one_leader_and_takeover(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    s.given.controller()
    wait_for(lambda: leader_gauge(s, 1) is not None, 10, "metrics from the second replica")
    assert leader_gauge(s, 0) == 1.0 and leader_gauge(s, 1) == 0.0
    code, body = s.http(s.controllers[1], "/readyz")
    assert code == 200 and "standby" in body, (code, body)
    code, body = s.http(s.controllers[0], "/readyz")
    assert code == 200 and "standby" not in body, (code, body)
    before = ids_and_pids(s)
    assert len(before) == 1

    s.when.controller_killed(0)
    killed_at = time.monotonic()
    wait_for(lambda: leader_gauge(s, 1) == 1.0, TTL + 5, "the standby to take over",
             s.describe)
    took = time.monotonic() - killed_at
    assert took <= TTL + 2.0, f"takeover took {took:.1f}s with a {TTL}s lease"
    code, body = s.http(s.controllers[1], "/readyz")
    assert code == 200 and "standby" not in body, (code, body)

    # The healthy main is kept as it is: same instance, same process.
    s.then.stays(lambda st: st["phase"] == "Serving" and st["activeArchitecture"] == "web-main",
                 "Serving on web-main", seconds=3)
    assert ids_and_pids(s) == before
    assert all(pid_alive(p) for p in before.values())
    s.then.counts(failover=0)
    # ... and the new leader acts.
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=20)
    s.then.counts(failover=1)


# --- 12: etcd outage ------------------------------------------------------------------------


@pytest.fixture
def s_private(fresh_etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(fresh_etcd.endpoint, prefix, etcd=fresh_etcd, lease_ttl=TTL) as scenario:
        yield scenario


def test_etcd_outage_leaves_service_untouched_and_catches_up(s_private: Scenario) -> None:
    s = s_private
    s.given.web_strategy().controller().serving("web-main")
    ctl = s.controllers[0]
    before = ids_and_pids(s)
    assert len(before) == 1

    s.etcd.stop()
    outage_end = time.monotonic() + 20
    wait_for(lambda: s.http(ctl, "/readyz")[0] == 503, 10, "readyz 503 without etcd",
             lambda: str(s.http(ctl, "/readyz")))
    while time.monotonic() < outage_end:
        assert ids_and_pids(s) == before, "the fog was touched during the etcd outage"
        assert all(pid_alive(p) for p in before.values())
        code, body = s.http(ctl, "/readyz")
        assert code == 503, (code, body)
        assert s.http(ctl, "/healthz")[0] == 200
        time.sleep(0.5)

    s.etcd.start()
    s.when.fogstrat("pause", "web")  # a change written right after the restart
    s.then.phase_is("Paused", timeout=30)
    wait_for(lambda: s.http(ctl, "/readyz")[0] == 200, 15, "readyz 200 again")
    assert ids_and_pids(s) == before
    assert all(pid_alive(p) for p in before.values())
    st = s.status()
    assert st["activeArchitecture"] == "web-main"
    s.then.counts(failover=0)
