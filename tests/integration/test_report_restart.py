"""Nothing of a transition's report is lost, or told twice, across a controller crash.

Real etcd, real fogsim and the real ``fogstrat controller``, made to die
(``$FOGSTRAT_CRASH_AT``) at each point between storing a failover's history entry and
marking it reported: the next controller tells what its predecessor did not -- one Event,
one count, one log line -- and nothing it did.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.runtime.crashpoints import CRASH_ENV, EXIT_CODE
from controller.store.keys import event_prefix
from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def failovers_counted(metrics: str) -> int:
    total = 0
    for family in text_string_to_metric_families(metrics):
        if family.name == "fogstrat_failovers":
            total += sum(int(x.value) for x in family.samples if x.name.endswith("_total"))
    return total


def events(s: Scenario) -> list[dict[str, Any]]:
    """Every Event stored under the scenario's prefix, read straight from etcd."""
    assert s.etcd is not None
    out = s.etcd.etcdctl("get", "--prefix", event_prefix(s.prefix), "-w", "json").stdout
    return [json.loads(base64.b64decode(kv["value"]))
            for kv in json.loads(out).get("kvs") or []]


def completed(s: Scenario, kind: str) -> list[dict[str, Any]]:
    return [e for e in events(s) if f"{kind} complete" in str(e.get("message"))]


def log_since(ctl: ControllerProcess, offset: int) -> str:
    return ctl.log_path.read_bytes()[offset:].decode(errors="replace")


def crashed(ctl: ControllerProcess) -> int | None:
    wait_for(lambda: not ctl.running or None, 60, "the controller to reach its crash point",
             lambda: ctl.log_tail(60))
    return ctl.stop()


@pytest.mark.parametrize("point", ["history-stored", "history-counted", "history-reported"])
def test_a_crash_before_the_report_is_stored_leaves_it_to_the_next_leader(
        s: Scenario, point: str) -> None:
    s.given.web_strategy()
    ctl = s.controller(env={CRASH_ENV: f"{point}:failover"}).start()
    s.given.serving("web-main")
    s.when.node_down("cloud-1")
    assert crashed(ctl) == EXIT_CODE, ctl.log_tail()
    raw = s.raw_status()
    assert [h["kind"] for h in raw["history"]].count("failover") == 1, raw["history"]
    assert raw.get("unreportedHistory") == 1, raw
    told_before = len(completed(s, "failover"))
    assert told_before == (1 if point == "history-reported" else 0)

    ctl.env.pop(CRASH_ENV)
    offset = ctl.log_path.stat().st_size
    ctl.start()
    s.when.moment(lambda st: "unreportedHistory" not in st, "the report to be stored")
    told = completed(s, "failover")
    assert len(told) == 1 and told[0]["count"] == 1, told
    assert told[0]["type"] == "Normal" and told[0]["reason"] == "Vanished"
    # counted once by the process that reported it (its predecessor's counter died with it)
    assert failovers_counted(ctl.metrics()) == 1
    assert log_since(ctl, offset).count("failover complete") == 1, ctl.log_tail(40)
    # and the entries a predecessor reported are not told again
    assert "start complete" not in log_since(ctl, offset)
    assert len(completed(s, "start")) == 1


def test_a_restart_after_a_complete_report_tells_nothing_again(s: Scenario) -> None:
    s.given.web_strategy()
    ctl = s.controller().start()
    s.given.serving("web-main")
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=30)
    wait_for(lambda: completed(s, "failover") or None, 20, "the failover's Event")
    assert "unreportedHistory" not in s.raw_status()
    assert failovers_counted(ctl.metrics()) == 1
    s.when.controller_killed()
    offset = ctl.log_path.stat().st_size
    s.when.controller_restarted()
    s.when.fogstrat("pause", s.name)  # a write after the restart: the history is stored again
    s.then.status_matches(lambda st: st.get("phase") == "Paused", "paused")
    assert failovers_counted(ctl.metrics()) == 0
    assert "failover complete" not in log_since(ctl, offset)
    told = completed(s, "failover")
    assert len(told) == 1 and told[0]["count"] == 1, told


def test_a_repeated_event_after_a_restart_counts_on_from_the_stored_one(
        s: Scenario) -> None:
    s.given.web_strategy().controller().serving("web-main")

    def resumed() -> list[dict[str, Any]]:
        return [e for e in events(s) if e.get("reason") == "Resumed"]

    def pause_and_resume(count: int) -> None:
        s.when.fogstrat("pause", s.name)
        s.then.status_matches(lambda st: st.get("phase") == "Paused", "paused")
        s.when.fogstrat("resume", s.name)
        wait_for(lambda: [e for e in resumed() if e.get("count") == count] or None, 20,
                 f"the Resumed event counted {count}", s.describe)

    pause_and_resume(1)
    s.when.controller_killed().controller_restarted()
    s.given.serving("web-main")
    pause_and_resume(2)
    told = resumed()
    assert len(told) == 1, told  # the same Event object, counted on: no second object
    assert told[0]["firstTimestamp"] < told[0]["lastTimestamp"]
