"""The fog informer end to end: a real etcd, fogsim running real processes, the real
``fogstrat controller``. Probes run once a minute and the periodic resync is off, so
without the fog's change feed nothing would look at a strategy for a minute after its
instance fails; with it the owner is reconciled on the fog's event, and only the owner.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import documents
from controller.cli.main import build_parser
from controller.reconcile.times import parse_time
from controller.runtime import main as main_module
from controller.store import connect
from tests.support.etcd import EtcdServer
from tests.support.process import free_port
from tests.support.scenario import (
    Scenario,
    active_strategy,
    environment,
    strategy,
    wait_for,
    web_architecture,
)

pytestmark = pytest.mark.integration

INTERVAL = 60.0
"""Seconds between probes: far longer than the reaction asserted."""


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def _arch(name: str, port: int, tier: str) -> dict[str, Any]:
    return web_architecture(name, port, selector={"tier": tier}, interval=f"{INTERVAL:g}s",
                            failure_threshold=1)


def _setup(s: Scenario) -> None:
    side_port = free_port()
    s.apply(environment("lab", s.sim.url),
            _arch("web-main", s.port, "cloud"), _arch("web-backup", s.port, "fog"),
            strategy("web", "web-main", ["web-backup"], window="1h"),
            active_strategy("web", "web", "lab"),
            _arch("side-main", side_port, "fog"), _arch("side-backup", side_port, "cloud"),
            strategy("side", "side-main", ["side-backup"], window="1h"),
            active_strategy("side", "side", "lab"))
    s.controller(resync=3600.0).start()
    for name, arch in (("web", "web-main"), ("side", "side-main")):
        wait_for(lambda n=name, a=arch: (lambda st: st.get("phase") == "Serving"  # type: ignore[misc]
                                         and st.get("activeArchitecture") == a)(s.status(n)),
                 30, f"{name} serving {arch}", s.describe)


def stored_time(value: Any) -> float:
    """A time the controller wrote into status, which must parse."""
    t = parse_time(value)
    assert t is not None, f"not a status time: {value!r}"
    return t


def _web_instance(s: Scenario) -> dict[str, Any]:
    iid = s.status("web")["architectures"]["web-main"]["instances"]["entities"]["web"]["0"][
        "instanceId"]
    return next(i for i in s.instances() if i["uuid"] == iid)


def _reacted_in_time(s: Scenario, since: float) -> dict[str, Any]:
    """web's failover, which must come before its next probe would have come due."""
    st = s.when.phase_reached(lambda st: st.get("activeArchitecture") == "web-backup",
                              "web to fail over", timeout=2 * INTERVAL)
    entry = next(e for e in st["history"] if e.get("to") == "web-backup")
    assert stored_time(entry["time"]) < since + INTERVAL, (entry, since)
    return st


def _last_probe(s: Scenario) -> float:
    st = s.status("web")
    return stored_time(st["architectures"]["web-main"]["lastProbeTime"])


def _feed_lines(s: Scenario) -> list[str]:
    return [line for line in s.controllers[0].log_path.read_text().splitlines()
            if "reconciling now" in line]


def test_a_crashed_process_wakes_its_owner_and_no_one_else(s: Scenario) -> None:
    _setup(s)
    inst = _web_instance(s)
    probed = _last_probe(s)
    os.kill(inst["hypervisor_info"]["pid"], signal.SIGKILL)  # behind fogsim's back
    _reacted_in_time(s, probed)
    lines = _feed_lines(s)
    assert any("activestrategy/default/web:" in line and inst["uuid"] in line
               for line in lines), lines
    assert not any("/side:" in line for line in lines), lines
    side = s.status("side")
    assert side["activeArchitecture"] == "side-main" and not side.get("failoverCount")


def test_node_down_wakes_the_owner_of_what_ran_there(s: Scenario) -> None:
    _setup(s)
    inst = _web_instance(s)
    probed = _last_probe(s)
    s.when.node_down("cloud-1")
    _reacted_in_time(s, probed)
    lines = wait_for(lambda: [ln for ln in _feed_lines(s) if inst["uuid"] in ln] or None,
                     10, "the feed's log line", s.describe)
    assert all("activestrategy/default/web:" in line for line in lines), lines
    assert not any("/side:" in line for line in _feed_lines(s))


def _restarted_in_process(s: Scenario) -> Any:
    """The controller's own parts (``fogstrat controller``'s wiring) in this process, so
    that what they decode can be counted; their health server is never started."""
    args = build_parser().parse_args([
        "controller", "--endpoints", s.endpoint, "--prefix", s.prefix, "--resync", "3600",
        "--lease-ttl", "3", "--metrics-addr", f"127.0.0.1:{free_port()}"])
    store = connect(s.endpoint)
    return store, main_module._assemble(args, store, "restarted-in-process", None)


def test_a_restart_decodes_each_status_once_and_still_wakes_the_owner(
        s: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup(s)
    s.controllers[0].stop()
    with connect(s.endpoint) as reader:
        records, _ = reader.list(f"{s.prefix}/status/activestrategies/default/")
    statuses = {rec.key.rsplit("/", 1)[1]: rec.value for rec in records}
    assert sorted(statuses) == ["side", "web"]
    decoded: list[bytes] = []
    real = documents.decode_json

    def counting(data: bytes, source: str = "value") -> Any:
        # a write compares with the stored status when it is not our own last write:
        # that is the writer's check, not a read of the status
        if sys._getframe(1).f_code.co_name != "_stored_significant":
            decoded.append(data)
        return real(data, source)

    for module in list(sys.modules.values()):  # wherever the controller imported it
        if getattr(module, "decode_json", None) is real:
            monkeypatch.setattr(module, "decode_json", counting)
    store, parts = _restarted_in_process(s)
    try:
        parts.manager.start()
        inst = _web_instance(s)
        index = parts.fog_informers.index
        wait_for(lambda: {o.owner.name for iid in index.instance_ids()
                          for o in index.owners_of(iid)} == {"web", "side"} or None,
                 20, "both owners indexed after the restart", s.describe)
        for name, raw in statuses.items():
            assert decoded.count(raw) == 1, (name, decoded.count(raw))
        probed = _last_probe(s)
        os.kill(inst["hypervisor_info"]["pid"], signal.SIGKILL)
        _reacted_in_time(s, probed)
    finally:
        parts.stop()
        store.close()
