"""``spec.serve`` toggled at run time acts at once: the real controller stops (and starts
again) the serve-phase entities without redeploying the rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, active_strategy, doc, environment, strategy, wait_for

pytestmark = pytest.mark.integration

SLEEPER = {"hypervisor": "BARE", "migration_kind": "COLD",
           "command": {"binary": "/bin/sleep", "args": ["600"]},
           "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 16}}


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def _running(s: Scenario) -> dict[str, str]:
    """Running instance uuid -> the descriptor name it came from."""
    fdus = {f["uuid"]: f.get("name", "") for f in s.state().get("fdus", [])}
    return {i["uuid"]: fdus.get(i["fdu_id"], i["fdu_id"]) for i in s.running()}


def test_serve_toggled_at_run_time_acts_at_once(s: Scenario) -> None:
    arch = doc("Architecture", "toggle", {
        "entities": [{"name": "service", "fdu": {**SLEEPER, "name": "service"}},
                     {"name": "client", "phase": "serve",
                      "fdu": {**SLEEPER, "name": "client"}}],
        "health": {"interval": "1s", "timeout": "1s", "failureThreshold": 2,
                   "successThreshold": 1, "probes": [{"entity": "service", "state": "RUN"}]},
    })
    docs: list[dict[str, Any]] = [environment("lab", s.sim.url), arch,
                                  strategy("toggle", "toggle", [])]
    s.given.documents(*docs, active_strategy(s.name, "toggle", "lab"))
    s.given.controller()
    s.then.phase_is("Serving", active="toggle", timeout=60)
    both = wait_for(lambda: (lambda r: r if sorted(r.values()) == ["client", "service"]
                             else None)(_running(s)), 30, "service and client running")
    service = next(u for u, n in both.items() if n == "service")

    s.when.documents(active_strategy(s.name, "toggle", "lab", serve=False))
    s.then.phase_is("Deployed", timeout=60)
    wait_for(lambda: _running(s) == {service: "service"} or None, 30,
             "only the service running, the same instance")

    s.when.documents(active_strategy(s.name, "toggle", "lab", serve=True))
    s.then.phase_is("Serving", active="toggle", timeout=60)
    running = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(_running(s)), 30,
                       "the client back")
    assert running[service] == "service"
