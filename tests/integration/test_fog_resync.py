"""The fog client's fog-wide instance read as a safety net behind the change feed, on a real
fogsim and a real fog informer: while the feed is followed, a change someone else makes
reaches health checks through it and no read is made; once the feed fails, reads come at
their ordinary rate again, until the feed is back and a read after it has been made.

The client's clock is the test's (the informer stamps its requests with it), so which
reads are due is decided by the test, not by how fast this machine is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from controller.fog.cache import CachedFog
from controller.fog.client import FogError, InstanceInfo, InstanceState
from controller.fog.fogsim_driver import FogsimClient
from controller.fog.fogsim_http import HttpSettings
from controller.runtime.fog_informer import FogInformer, OwnerIndex
from tests.integration import test_fog_contract as contract
from tests.support.fogsim import FogsimServer
from tests.support.scenario import wait_for

pytestmark = pytest.mark.integration

nodes_file = contract.nodes_file
sim = contract.sim


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingFogsim(FogsimClient):
    """The fogsim driver, counting its fog-wide instance reads (each attempt)."""

    reads = 0

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        self.reads += 1
        return super().all_instances(timeout=timeout)


def _faults(sim: FogsimServer, error_rate: float) -> None:
    requests.put(sim.url + "/sim/faults", json={"error_rate": error_rate, "latency_ms": 0},
                 timeout=5).raise_for_status()


@pytest.fixture
def running(sim: FogsimServer) -> Iterator[str]:
    """An instance in RUN on fogsim; forced away afterwards."""
    _faults(sim, 0.0)
    c = FogsimClient(sim.url, HttpSettings(timeout=5.0))
    fid = c.onboard(contract.descriptor("resync"))
    node = next(n["uuid"] for n in sim.state()["nodes"] if n["name"] == "alpha")
    iid = c.define(fid, node).instance_id
    c.configure(iid)
    c.start(iid)
    yield iid
    _faults(sim, 0.0)
    requests.delete(f"{sim.url}/fdu/instances/{iid}/info", params={"force": "true"},
                    timeout=5).raise_for_status()
    c.close()


def test_a_followed_feed_replaces_polling_and_a_broken_one_brings_it_back(
        sim: FogsimServer, running: str) -> None:
    clock, inner = Clock(), CountingFogsim(sim.url, HttpSettings(timeout=5.0, max_attempts=1))
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    informer = FogInformer(fog, OwnerIndex(), lambda _wake: None, name="fogsim",
                           wait=0.5).start()
    try:
        answers = informer.answers
        wait_for(lambda: informer.answers > answers + 1, 30, "the feed followed")
        clock.now = 1.0
        assert fog.recent_instance_info(running).state is InstanceState.RUN
        assert inner.reads == 1
        clock.now = 5.0  # the read is past its ordinary period, but the feed covers it
        requests.post(f"{sim.url}/sim/instances/{running}/crash", timeout=5).raise_for_status()
        wait_for(lambda: fog.recent_instance_info(running).state is InstanceState.ERROR, 30,
                 "the crash told by the feed")
        assert inner.reads == 1

        _faults(sim, 1.0)  # every fog call fails, the feed's long poll included
        wait_for(lambda: not informer.healthy, 30, "the feed lost")
        clock.now = 7.0
        with pytest.raises(FogError):
            fog.recent_instance_info(running)
        assert inner.reads == 2  # polled again at the ordinary period

        _faults(sim, 0.0)
        clock.now = 7.5
        answers = informer.answers
        wait_for(lambda: informer.healthy and informer.answers > answers + 1, 30,
                 "the feed followed again")
        clock.now = 8.0  # the feed is back, but no read came after it: one is made
        assert fog.recent_instance_info(running).state is InstanceState.ERROR
        assert inner.reads == 3
        clock.now = 12.0
        assert fog.recent_instance_info(running).state is InstanceState.ERROR
        assert inner.reads == 3
    finally:
        informer.stop()
        informer.join(5)
        inner.close()
