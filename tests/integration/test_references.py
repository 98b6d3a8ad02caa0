"""References are live: a document appearing, changing or going reconciles everything that
names it (Strategy -> Architecture, ArchitectureData -> Architecture, ActiveStrategy ->
Strategy / Environment / ArchitectureData, and through its Strategy to its
Architectures), in both orders, against a real etcd, fogsim and controller.

The controller runs with a one-hour resync and the strategies here are paused with nothing
deployed, so nothing but the requeue of a referrer brings its status up to date within
the waits below (an unresolved ActiveStrategy looks again only every 30 s by itself).
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.etcd import EtcdServer
from tests.support.scenario import (
    Scenario,
    active_strategy,
    doc,
    environment,
    strategy,
    wait_for,
    web_architecture,
)

pytestmark = pytest.mark.integration

WAIT = 20.0
"""Below the 30 s an unresolved ActiveStrategy waits before looking again by itself."""


@pytest.fixture(scope="module")
def s(etcd: EtcdServer) -> Iterator[Scenario]:
    prefix = f"/fogstrat-test-{uuid.uuid4().hex[:10]}"
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        scenario.controller(resync=3600.0).start()
        yield scenario


def status_of(s: Scenario, kind: str, name: str) -> dict[str, Any]:
    res = s.cli.run("get", kind, name, "-o", "json")
    return dict(res.json().get("status") or {}) if res.rc == 0 else {}


def valid(st: dict[str, Any]) -> dict[str, Any]:
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Valid":
            return dict(cond)
    return {}


def until(s: Scenario, kind: str, name: str, pred: Callable[[dict[str, Any]], bool],
          what: str) -> dict[str, Any]:
    return wait_for(lambda: (lambda st: st if st and pred(st) else None)(
        status_of(s, kind, name)), WAIT, f"{kind} {name}: {what}",
        lambda: f"{status_of(s, kind, name)}\n{s.controllers[0].log_tail(20)}")


def is_valid(reason: str, *words: str) -> Callable[[dict[str, Any]], bool]:
    def check(st: dict[str, Any]) -> bool:
        cond = valid(st)
        return cond.get("reason") == reason and all(w in str(cond.get("message")) for w in words)
    return check


def remembered(st: dict[str, Any]) -> dict[str, Any]:
    """``status.inputs`` decoded as docs/documents.md says (zlib, then base64), checked
    against the readable list of versions stored beside it."""
    inputs = st["inputs"]
    assert inputs["encoding"] == "zlib+base64", inputs
    specs: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(inputs["specs"])))
    listed = {(section, name, gen) for section, name, gen in inputs["revisions"]}
    assert ("environment", specs["environment"]["name"],
            specs["environment"]["generation"]) in listed
    assert {("data", d["name"], d["generation"]) for d in specs["data"].values()} <= listed
    return specs


def arch(s: Scenario, name: str) -> dict[str, Any]:
    return web_architecture(name, s.port, selector={"tier": "cloud"})


def put_invalid_architecture(s: Scenario, name: str) -> None:
    """An Architecture whose spec fails the schema, written as a user of etcdctl would."""
    assert s.etcd is not None
    s.etcd.etcdctl("put", f"{s.prefix}/architectures/default/{name}",
                   f"apiVersion: fogstrat.io/v1alpha1\nkind: Architecture\n"
                   f"metadata: {{name: {name}}}\nspec: {{entities: not-a-list}}\n")


def data(name: str, architecture: str, data_id: str, path: str) -> dict[str, Any]:
    return doc("ArchitectureData", name, {"architecture": architecture, "dataId": data_id,
                                          "deployPath": path})


# --- Strategy -> Architecture ------------------------------------------------------------


def test_strategy_follows_its_architectures(s: Scenario) -> None:
    s.apply(strategy("st1", "st1-main", ["st1-backup"]))
    until(s, "strategy", "st1", is_valid("UnknownReference", "st1-main", "st1-backup"),
          "both architectures unknown")

    s.apply(arch(s, "st1-main"))
    st = until(s, "strategy", "st1", is_valid("UnknownReference", "st1-backup"),
               "only the backup unknown")
    assert "st1-main" not in valid(st)["message"]

    s.apply(arch(s, "st1-backup"))
    until(s, "strategy", "st1", is_valid("Valid"), "valid once both exist")

    put_invalid_architecture(s, "st1-backup")
    until(s, "strategy", "st1", is_valid("InvalidReference", "st1-backup"),
          "invalid when its backup is")

    s.apply(arch(s, "st1-backup"))
    until(s, "strategy", "st1", is_valid("Valid"), "valid again once fixed")

    s.cli.ok("delete", "architecture", "st1-main", "--force")
    until(s, "strategy", "st1", is_valid("UnknownReference", "st1-main"),
          "unknown reference once its main is deleted")


def test_strategy_after_its_architectures_is_valid(s: Scenario) -> None:
    s.apply(arch(s, "st2-main"))
    s.apply(strategy("st2", "st2-main", []))
    until(s, "strategy", "st2", is_valid("Valid"), "valid")


# --- ArchitectureData -> Architecture ----------------------------------------------------


def test_architecture_data_follows_its_architecture(s: Scenario) -> None:
    s.apply(data("ad1", "ad1-arch", "d1", "/tmp/d1"))
    until(s, "architecturedata", "ad1", is_valid("UnknownReference", "ad1-arch"), "unknown")

    s.apply(arch(s, "ad1-arch"))
    until(s, "architecturedata", "ad1", is_valid("Valid"), "valid once it exists")

    put_invalid_architecture(s, "ad1-arch")
    until(s, "architecturedata", "ad1", is_valid("InvalidReference", "ad1-arch"), "invalid")

    s.cli.ok("delete", "architecture", "ad1-arch", "--force")
    until(s, "architecturedata", "ad1", is_valid("UnknownReference", "ad1-arch"),
          "unknown once deleted")


def test_architecture_data_after_its_architecture_is_valid(s: Scenario) -> None:
    s.apply(arch(s, "ad2-arch"))
    s.apply(data("ad2", "ad2-arch", "d2", "/tmp/d2"))
    until(s, "architecturedata", "ad2", is_valid("Valid"), "valid")


# --- ActiveStrategy -> Strategy, Environment, ArchitectureData -----------------------------


def test_active_strategy_follows_strategy_and_environment(s: Scenario) -> None:
    s.apply(arch(s, "as1-main"))
    s.apply(active_strategy("as1", "as1-st", "as1-env", paused=True))
    until(s, "activestrategy", "as1", is_valid("UnknownReference", "Strategy", "as1-st"),
          "its Strategy unknown")

    s.apply(strategy("as1-st", "as1-main", []))
    until(s, "activestrategy", "as1",
          is_valid("UnknownReference", "Environment", "as1-env"), "its Environment unknown")

    s.apply(environment("as1-env", s.sim.url))
    st = until(s, "activestrategy", "as1", is_valid("Valid"), "valid once both exist")
    assert st["phase"] == "Paused", st
    generation = remembered(st)["environment"]["generation"]

    changed = environment("as1-env", s.sim.url)
    changed["spec"]["timeout"] = "7s"
    s.apply(changed)
    until(s, "activestrategy", "as1",
          lambda st: remembered(st)["environment"]["generation"] > generation,
          "the changed Environment resolved")

    s.cli.ok("delete", "environment", "as1-env", "--force")
    until(s, "activestrategy", "as1",
          is_valid("UsingLastValid", "Environment", "as1-env", "not found"),
          "on its last valid documents once its Environment is gone")

    s.apply(environment("as1-env", s.sim.url))
    until(s, "activestrategy", "as1", is_valid("Valid"), "valid again")

    s.cli.ok("delete", "strategy", "as1-st", "--force")
    until(s, "activestrategy", "as1", is_valid("UsingLastValid", "Strategy", "as1-st"),
          "on its last valid documents once its Strategy is gone")


def test_active_strategy_follows_the_architectures_of_its_strategy(s: Scenario) -> None:
    s.apply(environment("as2-env", s.sim.url), strategy("as2-st", "as2-main", []),
            active_strategy("as2", "as2-st", "as2-env", paused=True))
    until(s, "activestrategy", "as2", is_valid("UnknownReference", "as2-main"),
          "its architecture unknown")

    s.apply(arch(s, "as2-main"))
    until(s, "activestrategy", "as2", is_valid("Valid"), "valid once it exists")

    put_invalid_architecture(s, "as2-main")
    until(s, "activestrategy", "as2",
          is_valid("UsingLastValid", "Architecture", "as2-main", "invalid"),
          "on its last valid documents once the architecture is invalid")


def test_active_strategy_follows_its_architecture_data(s: Scenario) -> None:
    s.apply(arch(s, "as3-main"), environment("as3-env", s.sim.url),
            strategy("as3-st", "as3-main", []),
            active_strategy("as3", "as3-st", "as3-env", paused=True, dataId="as3-d"))
    st = until(s, "activestrategy", "as3", is_valid("Valid"), "valid")
    assert remembered(st)["data"] == {}, remembered(st)

    s.apply(data("as3-data", "as3-main", "as3-d", "/tmp/one"))
    st = until(s, "activestrategy", "as3",
               lambda st: "as3-main" in remembered(st)["data"], "its data resolved")
    assert remembered(st)["data"]["as3-main"]["spec"]["deployPath"] == "/tmp/one"

    s.apply(data("as3-data", "as3-main", "as3-d", "/tmp/two"))
    until(s, "activestrategy", "as3", lambda st: remembered(st)["data"].get(
        "as3-main", {}).get("spec", {}).get("deployPath") == "/tmp/two", "its data changed")

    s.apply(data("as3-data", "as3-main", "other", "/tmp/two"))
    until(s, "activestrategy", "as3", lambda st: remembered(st)["data"] == {},
          "no data once the ArchitectureData has another dataId")

    s.apply(data("as3-data", "as3-main", "as3-d", "/tmp/three"))
    until(s, "activestrategy", "as3", lambda st: "as3-main" in remembered(st)["data"],
          "its data resolved again")
    s.cli.ok("delete", "architecturedata", "as3-data", "--force")
    until(s, "activestrategy", "as3", lambda st: remembered(st)["data"] == {},
          "no data once the ArchitectureData is deleted")


def test_active_strategy_after_its_documents_is_valid(s: Scenario) -> None:
    s.apply(arch(s, "as4-main"), environment("as4-env", s.sim.url),
            strategy("as4-st", "as4-main", []), data("as4-data", "as4-main", "as4-d", "/t"))
    s.apply(active_strategy("as4", "as4-st", "as4-env", paused=True, dataId="as4-d"))
    st = until(s, "activestrategy", "as4", is_valid("Valid"), "valid")
    assert set(remembered(st)["architectures"]) == {"as4-main"}
    assert remembered(st)["data"]["as4-main"]["name"] == "as4-data"
