"""The controller end to end (issue 5, "Done when"): a real etcd, a real fogsim running real
processes, the real ``fogstrat controller`` and CLI as subprocesses.

Each test asserts through ``fogstrat get -o json`` and the fog's own state (fogsim
``/sim/state`` and the OS process table); see ``tests/support/scenario.py`` for the
Given/When/Then fixture. Timings are short: 1 s probes, failure threshold 2, lease TTL 3 s,
failback stabilization window 3 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from controller.reconcile.times import parse_time
from tests.support.etcd import EtcdServer
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    pid_alive,
    strategy,
    wait_for,
    web_architecture,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


# --- 1-3: start, failover, failback ---------------------------------------------------------


def test_start_serves_main(s: Scenario) -> None:
    s.given.web_strategy().controller()
    s.then.phase_is("Serving", active="web-main")
    st = s.status()
    assert st["activeRole"] == "main"
    assert st["architectures"]["web-main"]["placement"] == {"web": ["cloud-1"]}
    s.then.condition("Valid", "True")
    s.then.condition("Serving", "True")
    s.then.history_has(kind="start", to="web-main")
    [inst] = s.then.fog_runs_only(["cloud-1"])
    assert inst["env"]["VERSION"] == "v1"
    assert s.web_env(inst)["instance"] == inst["uuid"]


def test_node_down_fails_over_to_replacement(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    [old] = s.then.fog_runs_only(["cloud-1"])

    down_at = time.time()
    s.when.node_down("cloud-1")

    s.then.phase_is("Serving", active="web-backup", timeout=20)
    st = s.status()
    assert st["activeRole"] == "replacement"
    s.then.counts(failover=1, failback=0)
    entry = s.then.history_has(kind="failover", to="web-backup")
    assert entry["from"] == "web-main"
    took = (parse_time(entry["time"]) or 0.0) - down_at
    assert took < 8.0, f"failover took {took:.1f}s"
    [new] = s.then.fog_runs_only([st["architectures"]["web-backup"]["placement"]["web"][0]])
    assert s.node_names()[new["node"]] in ("fog-1", "fog-2")
    assert not pid_alive(old["hypervisor_info"]["pid"])


def test_node_up_fails_back_after_stabilization_window(s: Scenario) -> None:
    s.given.web_strategy(window="3s").controller().serving("web-main")
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=20)

    up_at = time.time()  # the controller stamps status with the wall clock too
    s.when.node_up("cloud-1")

    s.then.phase_is("Serving", active="web-main", timeout=30)
    st = s.status()
    s.then.counts(failover=1, failback=1)
    back = s.then.history_has(kind="failback", to="web-main")
    assert back["from"] == "web-backup"
    # Not before the main had been placeable for the whole 3 s window.
    assert (parse_time(back["time"]) or 0.0) - up_at >= 3.0, (up_at, back)
    assert st["activeRole"] == "main"
    s.then.fog_runs_only(["cloud-1"])


# --- 4: QoS ---------------------------------------------------------------------------------


def test_qos_below_threshold_fails_over(s: Scenario) -> None:
    s.when.qos(0.9)
    s.given.web_strategy(qos=True, window="600s").controller().serving("web-main")
    st = s.status()
    assert st["architectures"]["web-main"]["lastProbeValues"]["web-accuracy"] == 0.9
    [main] = s.then.fog_runs_only(["cloud-1"])

    s.when.qos(0.2)  # the service still answers: a quality drop, not a crash

    s.then.phase_is("Serving", active="web-backup", timeout=20)
    s.then.counts(failover=1)
    entry = s.then.history_has(kind="failover", to="web-backup")
    assert entry["reason"] == "QosBelowThreshold", entry
    assert not pid_alive(main["hypervisor_info"]["pid"])
    [backup] = s.then.fog_runs_only(
        [s.status()["architectures"]["web-backup"]["placement"]["web"][0]])
    assert backup["node"] != main["node"]


# --- 5: nothing placeable -------------------------------------------------------------------


def test_no_replacement_placeable_degrades_then_recovers(s: Scenario) -> None:
    # The replacement needs region=eu-south+tier=fog: only fog-2 has it.
    s.given.web_strategy(backup_selector={"tier": "fog", "region": "eu-south"})
    s.given.controller().serving("web-main")
    s.when.node_down("fog-2")
    time.sleep(1.2)  # let the controller's 1 s node cache see fog-2 gone (a clearer reason)
    s.when.node_down("cloud-1")

    st = s.then.status_matches(lambda st: st.get("phase") == "Degraded",
                               "phase Degraded", timeout=20)
    degraded = s.then.condition("Degraded", "True", st)
    assert degraded["reason"] in ("NoCandidate", "Unplaceable", "NoPlaceableCandidate"), degraded
    # It says why: the label no node up has (or, racing the node cache, the node is gone).
    assert "eu-south" in degraded["message"] or "not found" in degraded["message"], degraded
    assert s.instances() == []

    s.when.node_up("fog-2")
    s.then.phase_is("Serving", active="web-backup", timeout=30)
    s.then.condition("Degraded", "False")
    s.then.fog_runs_only(["fog-2"])

    s.when.node_up("cloud-1")
    s.then.phase_is("Serving", active="web-main", timeout=30)
    s.then.fog_runs_only(["cloud-1"])


# --- 6: paused ------------------------------------------------------------------------------


def test_paused_takes_no_action_on_failure(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    s.when.fogstrat("pause", "web")
    s.then.phase_is("Paused")

    s.when.node_down("cloud-1")
    # Probes keep running (health is observed), but nothing is deployed anywhere.
    s.then.status_matches(
        lambda st: st["architectures"]["web-main"]["consecutiveFailures"] >= 3,
        "probes to keep failing while paused", timeout=20)
    st = s.status()
    assert st["phase"] == "Paused"
    assert st["activeArchitecture"] == "web-main"
    s.then.counts(failover=0)
    assert s.instances() == []

    s.when.fogstrat("resume", "web")
    s.then.phase_is("Serving", active="web-backup", timeout=20)
    s.then.counts(failover=1)


# --- 7: manual switch -----------------------------------------------------------------------


def test_switch_pins_and_unpin_restores_rules(s: Scenario) -> None:
    s.given.web_strategy(window="2s").controller().serving("web-main")

    s.when.fogstrat("switch", "web", "--to", "web-backup")
    assert s.get("activestrategy", "web")["spec"]["pin"] == "web-backup"
    s.then.phase_is("Serving", active="web-backup", timeout=20)
    s.then.history_has(to="web-backup", reason="Pinned")
    s.then.fog_runs_only([s.status()["architectures"]["web-backup"]["placement"]["web"][0]])
    s.then.counts(failover=0)

    # Pinned: the healthy main is not failed back to, even after the window.
    s.then.stays(lambda st: st["activeArchitecture"] == "web-backup"
                 and st["phase"] == "Serving", "pinned to web-backup", seconds=4)

    s.when.fogstrat("switch", "web", "--unpin")
    assert not s.get("activestrategy", "web")["spec"].get("pin")
    s.then.phase_is("Serving", active="web-main", timeout=30)
    s.then.fog_runs_only(["cloud-1"])


# --- 8: strategy edit -----------------------------------------------------------------------


def test_strategy_edit_rolls_out_new_config(s: Scenario) -> None:
    s.given.web_strategy(main_config={"version": "v1"}).controller().serving("web-main")
    [old] = s.then.fog_runs_only(["cloud-1"])
    assert s.web_env(old)["version"] == "v1"
    fingerprint = s.status()["architectures"]["web-main"]["fingerprint"]

    s.when.documents(strategy("web", "web-main", ["web-backup"],
                              main_config={"version": "v2"}, window="3s"))

    s.then.status_matches(
        lambda st: st.get("phase") == "Serving"
        and st["architectures"]["web-main"]["fingerprint"] not in ("", fingerprint),
        "rolled out with a new fingerprint", timeout=30)

    def restarted() -> dict[str, object] | None:
        insts = s.running()
        if len(insts) == 1 and insts[0]["env"].get("VERSION") == "v2":
            return insts[0]
        return None
    new = wait_for(restarted, 20, "the instance restarted with VERSION=v2", s.describe)
    assert s.web_env(new)["version"] == "v2"
    assert not pid_alive(old["hypervisor_info"]["pid"])
    st = s.status()
    assert st["activeArchitecture"] == "web-main"
    s.then.fog_runs_only(["cloud-1"])


# --- 9: delete ------------------------------------------------------------------------------


def test_delete_leaves_nothing_in_the_fog(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    [inst] = s.then.fog_runs_only(["cloud-1"])

    s.when.fogstrat("delete", "activestrategy", "web")

    s.then.fog_empty(timeout=20)
    assert not pid_alive(inst["hypervisor_info"]["pid"])
    key = f"{s.prefix}/status/activestrategies/default/web"
    wait_for(lambda: not s.etcd.etcdctl("get", key, "--print-value-only").stdout.strip(),
             10, "the status key removed", s.describe)
    assert s.cli.run("get", "activestrategy", "web", "-o", "json").rc != 0
    assert s.controllers[0].running


# --- 13: invalid documents ------------------------------------------------------------------


def test_missing_strategy_is_invalid_until_applied(s: Scenario) -> None:
    s.given.documents(environment("lab", s.sim.url),
                      web_architecture("web-main", s.port, selector={"tier": "cloud"}),
                      web_architecture("web-backup", s.port, selector={"tier": "fog"}),
                      active_strategy("web", "web", "lab"))
    s.given.controller()

    st = s.then.status_matches(lambda st: st.get("phase") == "Invalid", "phase Invalid",
                               timeout=20)
    valid = s.then.condition("Valid", "False", st)
    assert "web" in valid["message"] and "Strategy" in valid["message"], valid
    assert s.instances() == []

    s.when.documents(strategy("web", "web-main", ["web-backup"]))
    s.then.phase_is("Serving", active="web-main", timeout=20)
    s.then.condition("Valid", "True")
    s.then.fog_runs_only(["cloud-1"])


def test_malformed_yaml_is_reported_and_controller_keeps_running(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    ctl = s.controllers[0]
    key = f"{s.prefix}/architectures/default/broken"
    s.etcd.etcdctl("put", key, "apiVersion: fogstrat.io/v1alpha1\nkind: Architecture\n"
                               "metadata: {name: broken\nspec: [unclosed\n")

    status_key = f"{s.prefix}/status/architectures/default/broken"

    def reported() -> dict[str, object] | None:
        out = s.etcd.etcdctl("get", status_key, "--print-value-only").stdout.strip()
        if not out:
            return None
        for cond in json.loads(out).get("conditions") or []:
            if cond.get("type") == "Valid" and cond.get("status") == "False":
                return dict(cond)
        return None
    cond = wait_for(reported, 20, "Valid=False on the malformed document", s.describe)
    message = str(cond.get("message", ""))
    assert message and "Traceback" not in message and len(message) < 500, cond
    assert "decode" in message or "line" in message.lower(), cond
    # The CLI lists it among the others and shows the controller's verdict.
    got = s.get("architecture", "broken")
    assert got["metadata"]["name"] == "broken"
    assert any(c.get("type") == "Valid" and c.get("status") == "False"
               for c in got["status"]["conditions"]), got
    names = {i["metadata"]["name"] for i in s.cli.ok("get", "arch", "-o", "json").json()["items"]}
    assert names == {"broken", "web-main", "web-backup"}, names

    assert ctl.running
    assert s.http(ctl, "/healthz")[0] == 200
    s.then.phase_is("Serving", active="web-main")
    # It still acts: a failover still works.
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=20)


def test_strategy_config_the_architecture_refuses_is_invalid_before_it_runs(
        s: Scenario) -> None:
    """Applied before its Architectures (so ``apply`` could not judge it), a Strategy whose
    config names an undeclared parameter is Valid=False once they arrive; fixed, valid."""
    s.given.documents(strategy("web", "web-main", ["web-backup"],
                               main_config={"versoin": "v2"},
                               replacement_config={"version": 2}))
    s.given.documents(environment("lab", s.sim.url),
                      web_architecture("web-main", s.port, selector={"tier": "cloud"}),
                      web_architecture("web-backup", s.port, selector={"tier": "fog"}))
    s.given.controller()

    def valid(status: str) -> dict[str, Any] | None:
        got = s.get("strategy", "web").get("status") or {}
        for cond in got.get("conditions") or []:
            if cond.get("type") == "Valid" and cond.get("status") == status:
                return dict(cond)
        return None

    cond = wait_for(lambda: valid("False"), 20, "Strategy Valid=False", s.describe)
    assert cond["reason"] == "UnknownParameter", cond
    assert ("spec.main.config: Architecture web-main declares no parameter versoin "
            "(declared: qosFile, version)") in cond["message"], cond
    assert ("spec.replacements[0].config.version: must be string (Architecture web-backup), "
            "got int 2") in cond["message"], cond

    s.when.documents(strategy("web", "web-main", ["web-backup"], main_config={"version": "v2"}))
    wait_for(lambda: valid("True"), 20, "Strategy Valid=True", s.describe)
