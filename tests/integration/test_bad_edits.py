"""A running strategy survives a bad edit, and deletion is visible until it is done.

A real etcd, fogsim running real processes, and the real controller and CLI: deleting or
breaking a document a serving ActiveStrategy needs leaves it serving on the documents it
last resolved (``status.inputs``), failing over and back on them, across a controller
restart; deleting it after its Environment is gone still tears it down; ``fogstrat
delete`` names who refers to a document; ``get`` shows a strategy being torn down as
Terminating. See ``docs/documents.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, doc, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def valid(st: dict[str, Any]) -> dict[str, Any]:
    return next((dict(c) for c in st.get("conditions") or [] if c.get("type") == "Valid"), {})


def using_last_valid(*words: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        cond = valid(st)
        return cond.get("status") == "False" and cond.get("reason") == "UsingLastValid" and all(
            w in str(cond.get("message")) for w in words)
    return check


def test_deleted_architecture_keeps_serving_and_failing_over(s: Scenario) -> None:
    s.given.web_strategy(window="3s").controller().serving("web-main")
    [main] = s.then.fog_runs_only(["cloud-1"])

    s.when.fogstrat("delete", "architecture", "web-backup", "--force")

    st = s.then.status_matches(using_last_valid("Architecture", "web-backup", "not found"),
                               "Valid=False UsingLastValid naming web-backup")
    assert st["phase"] == "Serving" and st["activeArchitecture"] == "web-main", st
    s.then.condition("Ready", "True", st)
    s.then.condition("Serving", "True", st)
    assert s.running() and s.running()[0]["uuid"] == main["uuid"], "redeployed on a bad edit"

    # The replacement's document is gone: the failover deploys it from status.inputs.
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=30)
    s.then.counts(failover=1)
    st = s.status()
    assert using_last_valid("web-backup")(st), valid(st)
    s.then.fog_runs_only([st["architectures"]["web-backup"]["placement"]["web"][0]])

    # A restarted controller has no memory but the status: it keeps the same inputs.
    s.when.controller_killed()
    s.when.controller_restarted()
    s.then.stays(lambda st: st.get("phase") == "Serving"
                 and st.get("activeArchitecture") == "web-backup", "serving on web-backup",
                 seconds=3)
    s.then.status_matches(using_last_valid("web-backup"), "still on the last valid documents")

    s.when.node_up("cloud-1")
    s.then.phase_is("Serving", active="web-main", timeout=30)
    s.then.counts(failover=1, failback=1)
    s.then.fog_runs_only(["cloud-1"])


def test_fixing_the_document_returns_to_the_current_ones(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    assert s.etcd is not None
    s.etcd.etcdctl("put", f"{s.prefix}/strategies/default/web",
                   "apiVersion: fogstrat.io/v1alpha1\nkind: Strategy\nmetadata: {name: web}\n"
                   "spec: {main: {architecture: 42}}\n")
    st = s.then.status_matches(using_last_valid("Strategy", "web", "invalid"),
                               "Valid=False UsingLastValid naming the Strategy")
    assert st["phase"] == "Serving", st

    s.given.web_strategy()  # the documents as they were
    s.then.status_matches(lambda st: valid(st).get("status") == "True", "Valid again")
    s.then.one_serving("web-main")

    # A bad edit of the ActiveStrategy itself is no different.
    s.etcd.etcdctl("put", f"{s.prefix}/activestrategies/default/web",
                   "apiVersion: fogstrat.io/v1alpha1\nkind: ActiveStrategy\n"
                   "metadata: {name: web}\nspec: {strategy: [web]}\n")
    st = s.then.status_matches(using_last_valid("spec.strategy"),
                               "Valid=False UsingLastValid on its own bad spec")
    assert st["phase"] == "Serving", st
    s.given.web_strategy()
    s.then.status_matches(lambda st: valid(st).get("status") == "True", "Valid again")
    s.then.one_serving("web-main")


def test_delete_after_its_environment_is_gone_still_tears_down(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    [inst] = s.then.fog_runs_only(["cloud-1"])

    refused = s.cli.run("delete", "environment", "lab")
    assert refused.rc == 1 and "activestrategy/web" in refused.err, refused
    assert "--force" in refused.err and "Traceback" not in refused.err, refused
    s.when.fogstrat("delete", "environment", "lab", "--force")
    s.then.status_matches(using_last_valid("Environment", "lab"), "on the last valid documents")

    s.when.fogstrat("delete", "activestrategy", "web")
    s.then.fog_empty(timeout=30)
    wait_for(lambda: s.cli.run("get", "activestrategy", "web").rc != 0, 20,
             "the strategy gone from get once torn down", s.describe)
    assert "cannot tear down" not in s.controllers[0].log_tail(200)
    assert inst["uuid"] not in str(s.instances())


def test_delete_names_the_referrers_and_force_deletes(s: Scenario) -> None:
    s.given.web_strategy()  # no controller: the check is the CLI's own
    s.apply(doc("ArchitectureData", "web-data", {"architecture": "web-main", "dataId": "d"}))
    refused = s.cli.run("delete", "architecture", "web-main")
    assert refused.rc == 1, refused
    assert refused.err.count("\n") == 1, refused.err
    assert "strategy/web" in refused.err and "architecturedata/web-data" in refused.err
    assert s.cli.run("get", "architecture", "web-main").rc == 0
    refused = s.cli.run("delete", "strategy", "web")
    assert refused.rc == 1 and "activestrategy/web" in refused.err, refused

    s.cli.ok("delete", "activestrategy", "web")
    s.cli.ok("delete", "strategy", "web")  # its referrer is gone
    out = s.cli.ok("delete", "architecture", "web-main", "--force").out
    assert out.strip() == "architecture.fogstrat.io/web-main deleted"
    assert s.cli.run("get", "architecture", "web-main").rc != 0


def test_get_shows_terminating_until_the_teardown_is_done(s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")
    s.sim.cli("faults", "--error-rate", "1")  # the fog refuses: teardown cannot finish

    s.when.fogstrat("delete", "activestrategy", "web")

    def terminating() -> dict[str, Any] | None:
        res = s.cli.run("get", "activestrategy", "web", "-o", "json")
        got = res.json() if res.rc == 0 else {}
        return got if (got.get("status") or {}).get("phase") == "Terminating" else None
    got = wait_for(terminating, 20, "Terminating in get -o json", s.describe)
    assert got["metadata"]["deletionTimestamp"], got
    assert got["spec"] == {"strategy": "web", "environment": "lab"}, got
    table = s.cli.ok("get", "activestrategies").out.splitlines()
    assert table[1].split()[:3] == ["web", "web", "Terminating"], table
    assert "Terminating" in s.cli.ok("describe", "activestrategy", "web").out
    assert s.running(), "torn down while the fog refused"

    s.sim.cli("faults", "--error-rate", "0")
    s.then.fog_empty(timeout=30)
    wait_for(lambda: s.cli.run("get", "activestrategy", "web").rc != 0, 20,
             "gone from get once torn down", s.describe)
    assert "No activestrategies" in s.cli.run("get", "activestrategies").err
