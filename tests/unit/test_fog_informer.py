"""The fog informer's pure parts: the owner index from stored statuses, and which owners
a feed answer wakes."""

from __future__ import annotations

from typing import Any

from controller.api import kinds
from controller.fog.client import (
    FeedCursor,
    FogChange,
    FogChangeKind,
    FogFeed,
    InstanceInfo,
    InstanceState,
)
from controller.runtime.fog_informer import OwnerIndex, owned_instances, wakes_for
from controller.runtime.fog_wakes import Wakes
from controller.runtime.informer import ObjectKey

WEB = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "web")
SIDE = ObjectKey(kinds.ACTIVE_STRATEGY, "default", "side")
CURSOR = FeedCursor("e", 7)


def status(arch: str, *replicas: tuple[str, str, str]) -> dict[str, Any]:
    """A stored status whose ``arch`` runs one ``web`` replica per (instance, node, state)."""
    entities = {"web": {str(i): {"fduId": "f", "fduUuid": "u", "instanceId": iid,
                                 "node": node, "state": state}
                        for i, (iid, node, state) in enumerate(replicas)}}
    return {"phase": "Serving",
            "architectures": {arch: {"instances": {"state": "served", "entities": entities}}}}


def instance(iid: str, state: InstanceState, node: str = "n1") -> FogChange:
    info = InstanceInfo(instance_id=iid, fdu_id="u", node_id=node, state=state)
    return FogChange(FogChangeKind.INSTANCE, iid, 8, instance=info)


def feed(*changes: FogChange, relisted: bool = False) -> FogFeed:
    return FogFeed(CURSOR, changes, relisted=relisted)


def index() -> OwnerIndex:
    idx = OwnerIndex()
    idx.update(WEB, owned_instances(WEB, status("web-main", ("i1", "n1", "RUN"),
                                                ("i2", "n2", "RUN"))))
    idx.update(SIDE, owned_instances(SIDE, status("side-main", ("s1", "n2", "RUN"))))
    return idx


def test_owned_instances_reads_the_stored_status_and_skips_what_is_not_one() -> None:
    owned = owned_instances(WEB, status("web-main", ("i1", "n1", "RUN")))
    assert [(i, o.state, o.node, o.architecture) for i, o in owned.items()] == [
        ("i1", "RUN", "n1", "web-main")]
    junk: Any  # what a stored status may hold, of any shape
    for junk in (None, [], {"architectures": []}, {"architectures": {"a": 3}},
                 {"architectures": {"a": {"instances": {"entities": {"web": ["x"]}}}}},
                 {"architectures": {"a": {"instances": {"entities": {"web": {
                     "0": {"instanceId": 5}}}}}}}):
        assert owned_instances(WEB, junk) == {}


def test_only_the_owner_of_an_instance_that_left_its_recorded_state_wakes() -> None:
    idx = index()
    wakes = wakes_for(idx, feed(instance("i1", InstanceState.ERROR),
                                instance("s1", InstanceState.RUN),
                                instance("stranger", InstanceState.ERROR)))
    assert [(w.owner, w.architecture) for w in wakes] == [(WEB, "web-main")]
    assert "i1" in wakes[0].reason and "ERROR" in wakes[0].reason


def test_gone_instances_and_nodes_wake_their_owners() -> None:
    idx = index()
    gone = wakes_for(idx, feed(FogChange(FogChangeKind.INSTANCE, "s1", 9, gone=True)))
    assert [w.owner for w in gone] == [SIDE]
    down = wakes_for(idx, feed(FogChange(FogChangeKind.NODE, "n2", 9, gone=True)))
    assert sorted(w.owner.name for w in down) == ["side", "web"]
    up = wakes_for(idx, feed(FogChange(FogChangeKind.NODE, "n2", 9)))
    assert up == []


def test_a_listing_reports_owned_instances_it_lacks_on_its_nodes_as_gone() -> None:
    idx = index()
    listing = feed(instance("i1", InstanceState.RUN),
                   FogChange(FogChangeKind.NODE, "n1", 7), FogChange(FogChangeKind.NODE, "n2", 7),
                   relisted=True)
    assert [(w.owner, "i2" in w.reason) for w in wakes_for(idx, listing)] == [
        (WEB, True), (SIDE, False)]
    other_fog = feed(FogChange(FogChangeKind.NODE, "elsewhere", 7), relisted=True)
    assert wakes_for(idx, other_fog) == []  # its nodes are not ours: nothing is gone


def test_what_the_client_already_knew_wakes_no_one() -> None:
    idx = index()
    assert wakes_for(idx, feed(instance("i1", InstanceState.ERROR)),
                     known=lambda change: True) == []


def test_a_new_status_replaces_the_owners_entries() -> None:
    idx = index()
    idx.update(WEB, owned_instances(WEB, status("web-backup", ("b1", "n3", "RUN"))))
    assert idx.owners_of("i1") == [] and idx.owned_on("n1") == []
    assert [o.architecture for o in idx.owners_of("b1")] == ["web-backup"]
    idx.update(WEB, {})
    assert idx.owners_of("b1") == [] and idx.owned_on("n3") == []
    assert sorted(idx.instance_ids()) == ["s1"]


def test_wakes_queue_the_owner_and_hand_its_architectures_to_one_reconcile() -> None:
    queued: list[ObjectKey] = []
    wakes = Wakes(queued.append)
    idx = index()
    for wake in wakes_for(idx, feed(FogChange(FogChangeKind.NODE, "n2", 9, gone=True))):
        wakes.wake(wake)
    assert sorted(k.name for k in queued) == ["side", "web"]
    assert wakes.take(WEB) == {"web-main"}
    assert wakes.take(WEB) == set()


def test_an_answer_older_than_a_deploy_and_the_read_after_it_wakes_no_one() -> None:
    """The feed's answer was computed before the deploy's own calls and is read after
    them, and after a fog-wide read that forgot those calls: the fog is asked."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    idx = index()
    woken: list[Wake] = []
    informer = FogInformer(fog, idx, woken.append, name="test")
    sent = 0.5  # the long poll goes out, then the deploy defines, starts, records RUN
    inner.states.update(i1=InstanceState.RUN, i2=InstanceState.RUN)
    clock.now = 1.0
    fog.start("i1")
    clock.now = 2.0
    fog.recent_instance_info("i2")  # a fog-wide read: it forgets the start before it
    informer.apply(feed(instance("i1", InstanceState.DEFINE)), sent)
    assert woken == [] and inner.calls["instance_info"] == 1
    assert fog.recent_instance_info("i1").state is InstanceState.RUN


def test_an_answer_older_than_a_deploys_own_calls_does_not_overwrite_them() -> None:
    """The instance is not owned yet (its status is written after the deploy), but the
    client's view, which the deploy's readiness check reads, must not go back."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    inner, clock = CountingFog(), Clock()
    fog = CachedFog(inner, instance_ttl=1.0, clock=clock)
    woken: list[Wake] = []
    informer = FogInformer(fog, OwnerIndex(), woken.append, name="test")
    inner.states["new"] = InstanceState.RUN
    clock.now = 1.0
    fog.start("new")  # after the long poll went out at 0.5
    informer.apply(feed(instance("new", InstanceState.CONFIGURE)), 0.5)
    assert fog.recent_instance_info("new").state is InstanceState.RUN
    assert woken == [] and inner.calls["instance_info"] == 1


def test_a_deploy_finishing_while_an_answer_is_checked_is_not_woken_nor_overwritten() -> None:
    """The answer says CONFIGURE, as the client's own configure did; while the informer
    checks the rest of the answer, the deploy starts the instance and records RUN."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    class DeployMeanwhile(CountingFog):
        def instance_info(self, instance_id: str, *, timeout: float | None = None
                          ) -> InstanceInfo:
            clock.now = 3.0
            self.states["i1"] = InstanceState.RUN
            fog.start("i1")  # the deploy goes on while the informer asks about "other"
            clock.now = 4.0
            return super().instance_info(instance_id)

    clock = Clock()
    inner = DeployMeanwhile()
    fog = CachedFog(inner, instance_ttl=10.0, clock=clock)
    inner.states.update(i1=InstanceState.CONFIGURE, other=InstanceState.RUN)
    clock.now = 1.0
    fog.configure("i1")  # CONFIGURE, after the long poll went out at 0.5
    fog.start("other")
    woken: list[Wake] = []
    informer = FogInformer(fog, index(), woken.append, name="test")  # i1 recorded RUN
    informer.apply(feed(instance("i1", InstanceState.CONFIGURE),
                        instance("other", InstanceState.CONFIGURE)), 0.5)
    assert woken == []
    assert fog.recent_instance_info("i1").state is InstanceState.RUN
