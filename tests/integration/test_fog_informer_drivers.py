"""The fog informer over both drivers (fogsim's long poll, fog05's YAKS subscription over
the stand-in): an owned instance that crashes wakes its owner, and only its owner."""

from __future__ import annotations

import queue
import time

import pytest
import requests

from controller.api import kinds
from controller.fog.cache import CachedFog
from controller.runtime.fog_informer import FogInformer, Owned, OwnerIndex, Wake
from controller.runtime.informer import ObjectKey
from tests.integration import test_fog_contract as contract
from tests.integration.test_fog_contract import Fog, descriptor

pytestmark = pytest.mark.integration

nodes_file = contract.nodes_file
sim = contract.sim
fogsim_fog = contract.fogsim_fog
fog05_fog = contract.fog05_fog
fog = contract.fog

MAX_POLLS = 400
OWNER = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "owner")
OTHER = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "other")


def _crash(fog: Fog, iid: str) -> None:
    if fog.kind == "fogsim":
        requests.post(f"{fog.extra.url}/sim/instances/{iid}/crash", timeout=5).raise_for_status()
    else:
        fog.extra.engine.crash(iid)


def _remove(fog: Fog, iid: str) -> None:
    """Force the instance away, whatever its state (the test is not about teardown)."""
    if fog.kind == "fogsim":
        requests.delete(f"{fog.extra.url}/fdu/instances/{iid}/info", params={"force": "true"},
                        timeout=5).raise_for_status()
    else:
        fog.extra.engine.undefine(iid, force=True)


def test_a_crash_wakes_exactly_its_owner(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("informer"))
    alpha = fog.nodes["alpha"]
    mine, theirs = (c.define(fid, alpha).instance_id for _ in range(2))
    for iid in (mine, theirs):
        c.configure(iid)
        c.start(iid)
    index = OwnerIndex()
    index.update(OWNER, {mine: Owned(OWNER, "RUN", alpha, "main")})
    index.update(OTHER, {theirs: Owned(OTHER, "RUN", alpha, "main")})
    woken: queue.Queue[Wake] = queue.Queue()
    informer = FogInformer(CachedFog(c), index, woken.put, name=fog.kind, wait=1.0).start()
    try:
        for _ in range(MAX_POLLS):  # the first listing: all as recorded, nobody woken
            if informer.answers:
                break
            time.sleep(0.05)
        assert informer.answers and informer.healthy and woken.empty()
        _crash(fog, mine)
        wake = woken.get(timeout=30)
        assert (wake.owner, wake.architecture) == (OWNER, "main")
        assert mine in wake.reason and "ERROR" in wake.reason
        seen = informer.answers  # two answers later (one a second at least), still no one
        for _ in range(MAX_POLLS):
            if informer.answers > seen + 1:
                break
            time.sleep(0.05)
        assert informer.answers > seen + 1 and woken.empty()
    finally:
        informer.stop()
        informer.join(5)
    for iid in (mine, theirs):
        _remove(fog, iid)
    c.offload(fid)
