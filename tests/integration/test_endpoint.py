"""A consumer follows the service through the published endpoint: the real controller on
real etcd and fogsim; a node goes down, the endpoint moves to the replacement, the node
comes back, it moves back to the main, and a watcher of
``<prefix>/endpoints/<namespace>/<name>`` sees exactly the switches."""

from __future__ import annotations

import base64
import itertools
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.store import Store, WatchEvent
from controller.store.keys import endpoint_key
from tests.support.etcd import EtcdServer
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    strategy,
    wait_for,
    web_architecture,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def _serving_web(s: Scenario, name: str, selector: dict[str, str]) -> dict[str, Any]:
    arch = web_architecture(name, s.port, selector=selector)
    arch["spec"]["endpoint"] = {"entity": "web", "port": s.port, "path": "/healthz"}
    return arch


def _events(store: Store, key: str, until: str) -> list[WatchEvent]:
    """Every change of ``key`` since the store began, up to the first ``until`` event."""
    seen: list[WatchEvent] = []
    with store.watch(key.rsplit("/", 1)[0] + "/", 1) as watch:
        def next_one() -> bool | None:
            event = watch.get(timeout=1.0)
            if event is not None and event.key == key:
                seen.append(event)
                return event.type == until or None
            return None

        wait_for(next_one, 30, f"a {until} of {key}", interval=0)
    return seen


def _ip_of(s: Scenario, node_name: str) -> str:
    return next(str(n["ip"]) for n in s.state()["nodes"] if n["name"] == node_name)


def test_failover_and_failback_move_the_endpoint_a_watcher_sees_only_the_switches(
        s: Scenario, store: Store) -> None:
    s.given.documents(
        environment("lab", s.sim.url),
        _serving_web(s, "web-main", {"tier": "cloud"}),
        _serving_web(s, "web-backup", {"tier": "fog"}),
        strategy("web", "web-main", ["web-backup"], window="2s"),
        active_strategy(s.name, "web", "lab"),
    ).controller().serving("web-main")
    main_url = f"http://{_ip_of(s, 'cloud-1')}:{s.port}/healthz"
    st = s.then.status_matches(lambda st: (st.get("endpoint") or {}).get("url") == main_url,
                               "the endpoint naming web-main")
    assert st["endpoint"]["architecture"] == "web-main" and st["endpoint"]["serving"]
    with urllib.request.urlopen(main_url, timeout=5) as resp:  # the address is real
        assert resp.status == 200
    listed = s.cli.ok("get", "endpoints").out
    assert s.name in listed and main_url in listed and "web-main" in listed
    assert f"Endpoint:             {main_url} (web-main" in s.cli.ok(
        "describe", "activestrategy", s.name).out

    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=60)
    node = next(p["nodeName"] for p in
                s.status()["architectures"]["web-backup"]["instances"]["entities"]["web"]
                .values())
    backup_url = f"http://{_ip_of(s, node)}:{s.port}/healthz"
    st = s.then.status_matches(
        lambda st: (st.get("endpoint") or {}).get("url") == backup_url,
        "the endpoint naming web-backup")
    with urllib.request.urlopen(backup_url, timeout=5) as resp:
        assert resp.status == 200
    backup_endpoint = st["endpoint"]

    s.when.node_up("cloud-1")
    s.then.phase_is("Serving", active="web-main", timeout=60)
    s.then.status_matches(lambda st: (st.get("endpoint") or {}).get("url") == main_url,
                          "the endpoint naming web-main again")

    s.when.fogstrat("delete", "activestrategy", s.name)
    key = endpoint_key(s.prefix, "default", s.name)
    events = _events(store, key, until="DELETE")
    values = [json.loads(e.value) for e in events if e.type == "PUT"]
    assert [e.type for e in events] == ["PUT"] * len(values) + ["DELETE"]
    switches = [(v["architecture"], v["url"]) for v in values]
    nothing = (None, None)
    # nothing serves while web-main deploys; then web-main; while the replacement deploys
    # nothing may serve (the main's node is gone); then web-backup; the failback is
    # make-before-break, so straight back to web-main; nothing again while the deleted
    # strategy is torn down, and then the key goes
    assert switches[:2] == [nothing, ("web-main", main_url)], switches
    assert switches[-3:] == [("web-backup", backup_url), ("web-main", main_url), nothing], \
        switches
    assert set(switches[2:-3]) <= {nothing}, switches
    # every write is a switch: nothing is written while the endpoint stays the same
    assert all(a != b for a, b in itertools.pairwise(switches)), switches
    assert values[-3] == backup_endpoint


def test_make_before_break_failback_moves_the_endpoint_before_the_old_one_stops(
        s: Scenario, store: Store, etcd: EtcdServer, tmp_path: Path) -> None:
    """The replacement's instance, stopped by the failback, reads the endpoint key from
    etcd as its SIGTERM arrives: the key already names the main, so a consumer following
    it was sent to the main while the replacement still ran (causal order, no clock)."""
    key = endpoint_key(s.prefix, "default", s.name)
    record = tmp_path / "endpoint-at-stop.json"
    backup = _serving_web(s, "web-backup", {"tier": "fog"})
    backup["spec"]["entities"][0]["env"].update({
        "ON_STOP_URL": f"{etcd.client_url}/v3/kv/range",
        "ON_STOP_BODY": json.dumps({"key": base64.b64encode(key.encode()).decode()}),
        "ON_STOP_FILE": str(record)})
    s.given.documents(
        environment("lab", s.sim.url),
        _serving_web(s, "web-main", {"tier": "cloud"}),
        backup,
        strategy("web", "web-main", ["web-backup"], window="1s"),
        active_strategy(s.name, "web", "lab"),
    ).controller().serving("web-main")
    main_url = f"http://{_ip_of(s, 'cloud-1')}:{s.port}/healthz"
    s.when.node_down("cloud-1")
    s.then.phase_is("Serving", active="web-backup", timeout=60)
    s.then.status_matches(
        lambda st: (st.get("endpoint") or {}).get("architecture") == "web-backup",
        "the endpoint naming web-backup")
    assert not record.exists()
    s.when.node_up("cloud-1")
    s.then.phase_is("Serving", active="web-main", timeout=60)
    assert s.status()["history"][-1]["kind"] == "failback"
    answer = json.loads(wait_for(lambda: record.read_bytes() if record.exists() else None,
                                 30, "the stopped replacement's record"))
    stored = json.loads(base64.b64decode(answer["kvs"][0]["value"]))
    assert (stored["architecture"], stored["url"]) == ("web-main", main_url), stored
    # and straight from the replacement to the main: never nothing in between
    seen: list[str | None] = []
    with store.watch(key.rsplit("/", 1)[0] + "/", 1) as watch:
        def back_on_main() -> bool | None:
            event = watch.get(timeout=1.0)
            if event is not None and event.key == key and event.type == "PUT":
                seen.append(json.loads(event.value)["architecture"])
            return ("web-backup" in seen and seen[-1] == "web-main") or None

        wait_for(back_on_main, 30, "the endpoint's switches", interval=0)
    assert seen[-2:] == ["web-backup", "web-main"], seen
