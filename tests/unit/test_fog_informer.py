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
    counted: list[None] = []
    wakes = Wakes(queued.append, lambda: counted.append(None))
    idx = index()
    for wake in wakes_for(idx, feed(FogChange(FogChangeKind.NODE, "n2", 9, gone=True))):
        wakes.wake(wake)
    assert sorted(k.name for k in queued) == ["side", "web"] and len(counted) == 2
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


def test_a_deploy_and_a_read_after_a_change_was_checked_wake_no_one() -> None:
    """The answer says DEFINE, checked at once (nothing learnt since the long poll went
    out); while the informer asks the fog about the rest of the answer, the deploy starts
    the instance, its status records RUN, and a fog-wide read forgets the start: the
    change is checked again against that read before it wakes anyone."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    class DeployAndReadMeanwhile(CountingFog):
        def instance_info(self, instance_id: str, *, timeout: float | None = None
                          ) -> InstanceInfo:
            if instance_id == "other" and clock.now < 3.0:
                clock.now = 3.0
                self.states["i1"] = InstanceState.RUN
                fog.start("i1")
                clock.now = 4.0
                fog.recent_instance_info("i2")  # a fog-wide read: it forgets the start
                clock.now = 5.0
            return super().instance_info(instance_id)

    clock = Clock()
    inner = DeployAndReadMeanwhile()
    fog = CachedFog(inner, instance_ttl=10.0, clock=clock)
    inner.states.update(i1=InstanceState.DEFINE, i2=InstanceState.RUN,
                        other=InstanceState.RUN)
    clock.now = 0.2
    fog.configure("i1")  # before the long poll went out at 0.5: i1 is not asked about
    clock.now = 1.0
    fog.start("other")  # after it: "other" is
    woken: list[Wake] = []
    informer = FogInformer(fog, index(), woken.append, name="test")  # i1 recorded RUN
    informer.apply(feed(instance("i1", InstanceState.DEFINE),
                        instance("other", InstanceState.CONFIGURE)), 0.5)
    assert woken == []
    assert fog.recent_instance_info("i1").state is InstanceState.RUN


def test_an_own_call_answered_while_the_fog_is_asked_wins_over_the_answer() -> None:
    """The question about a change and the deploy's own calls cross: the fog answered
    CONFIGURE before it started the instance, but the start's answer came back first."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    class StartOvertakes(CountingFog):
        def instance_info(self, instance_id: str, *, timeout: float | None = None
                          ) -> InstanceInfo:
            answer = super().instance_info(instance_id)  # CONFIGURE, as the fog saw it
            if instance_id == "i1" and self.states["i1"] is InstanceState.CONFIGURE:
                clock.now = 2.0
                self.states["i1"] = InstanceState.RUN
                fog.start("i1")  # its answer arrives before the question's
                clock.now = 3.0
            return answer

    clock = Clock()
    inner = StartOvertakes()
    fog = CachedFog(inner, instance_ttl=10.0, clock=clock)
    inner.states.update(i1=InstanceState.DEFINE)
    clock.now = 1.0
    fog.configure("i1")  # after the long poll went out at 0.5, its answer not yet back:
    inner.states["i1"] = InstanceState.CONFIGURE  # the client holds DEFINE, is asked
    woken: list[Wake] = []
    informer = FogInformer(fog, index(), woken.append, name="test")  # i1 recorded RUN
    informer.apply(feed(instance("i1", InstanceState.CONFIGURE)), 0.5)
    assert woken == []
    assert fog.recent_instance_info("i1").state is InstanceState.RUN


def test_a_change_checked_again_still_wakes_when_the_fog_confirms_it() -> None:
    """Checking again is no way to lose a real change: the read after the check says
    ERROR too, and the owner is woken."""
    from controller.fog.cache import CachedFog
    from controller.runtime.fog_informer import FogInformer, Wake
    from tests.unit.test_fog_cache import Clock, CountingFog

    class ReadMeanwhile(CountingFog):
        def instance_info(self, instance_id: str, *, timeout: float | None = None
                          ) -> InstanceInfo:
            if instance_id == "other" and clock.now < 3.0:
                clock.now = 3.0
                fog.recent_instance_info("i2")  # a fog-wide read, which sees i1 failed
                clock.now = 4.0
            return super().instance_info(instance_id)

    clock = Clock()
    inner = ReadMeanwhile()
    fog = CachedFog(inner, instance_ttl=10.0, clock=clock)
    inner.states.update(i1=InstanceState.ERROR, i2=InstanceState.RUN,
                        other=InstanceState.RUN)
    clock.now = 1.0
    fog.start("other")
    woken: list[Wake] = []
    informer = FogInformer(fog, index(), woken.append, name="test")
    informer.apply(feed(instance("i1", InstanceState.ERROR),
                        instance("other", InstanceState.CONFIGURE)), 0.5)
    assert [(w.owner, w.reason) for w in woken] == [(WEB, "instance i1 is ERROR (was RUN)")]
    assert fog.recent_instance_info("i1").state is InstanceState.ERROR
