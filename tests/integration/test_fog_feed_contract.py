"""The change feed of the FogClient contract (``watch_instances``), on both drivers: fogsim's
long-polled ``?since=`` feed, and fog05's YAKS subscription (the real FIMAPI over the YAKS
stand-in, which delivers subscriptions as YAKS does).

A reader applies each answer to what it knows; after every step that must equal what the
fog lists, so no change is lost, and an answer that goes on from a cursor carries only
changes after it, each record once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from controller.fog.client import (
    FeedCursor,
    FogChangeKind,
    FogClient,
    FogFeed,
    InstanceState,
)
from controller.fog.factory import make_fog_client
from tests.integration import test_fog_contract as contract
from tests.integration.test_fog_contract import Fog, descriptor

pytestmark = pytest.mark.integration

# The contract's fogs, for both drivers.
nodes_file = contract.nodes_file
sim = contract.sim
fogsim_fog = contract.fogsim_fog
fog05_fog = contract.fog05_fog
fog = contract.fog

MAX_ANSWERS = 50
"""Answers a reader may need to see a change through (each long poll waits for one)."""


@dataclass
class Reader:
    """What a feed reader knows: instance states and the nodes that are up."""

    client: FogClient
    cursor: FeedCursor | None = None
    instances: dict[str, InstanceState] = field(default_factory=dict)
    nodes: set[str] = field(default_factory=set)
    answers: list[FogFeed] = field(default_factory=list)

    def read(self, wait: float = 5.0) -> FogFeed:
        feed = self.client.watch_instances(self.cursor, wait=wait)
        if feed.relisted:
            self.instances.clear()
            self.nodes.clear()
        else:
            assert self.cursor is not None
            assert all(c.revision > self.cursor.revision for c in feed.changes), feed
            ids = [(c.kind, c.id) for c in feed.changes]
            assert len(ids) == len(set(ids)), f"a record twice in one answer: {ids}"
        for change in feed.changes:
            if change.kind is FogChangeKind.NODE:
                (self.nodes.discard if change.gone else self.nodes.add)(change.id)
            elif change.gone:
                self.instances.pop(change.id, None)
            else:
                assert change.instance is not None
                self.instances[change.id] = change.instance.state
        self.cursor = feed.cursor
        self.answers.append(feed)
        return feed

    def until(self, fog: FogClient, ok: object = None) -> None:
        """Read until what it knows is what the fog lists."""
        for _ in range(MAX_ANSWERS):
            truth = {i: info.state for i, info in fog.all_instances().items()}
            if self.instances == truth and self.nodes == set(fog.list_nodes()):
                return
            self.read()
        pytest.fail(f"the feed never showed the fog: {self.instances} vs {truth}")


def test_a_change_is_delivered(fog: Fog) -> None:
    c = fog.client
    reader = Reader(c)
    first = reader.read()
    assert first.relisted  # no cursor yet: a full listing
    reader.until(c)
    fid = c.onboard(descriptor("feed"))
    iid = c.define(fid, fog.nodes["alpha"]).instance_id
    c.configure(iid)
    reader.until(c)
    assert reader.instances[iid] is InstanceState.CONFIGURE
    assert not any(a.relisted for a in reader.answers[1:])
    c.clean(iid)
    c.undefine(iid)
    reader.until(c)
    assert iid not in reader.instances
    c.offload(fid)


def test_a_reader_that_stopped_reading_resumes_without_loss(fog: Fog) -> None:
    c = fog.client
    reader = Reader(c)
    reader.read()
    reader.until(c)
    fid = c.onboard(descriptor("resume"))
    a = c.define(fid, fog.nodes["alpha"]).instance_id  # made while nobody reads
    b = c.define(fid, fog.nodes["beta"]).instance_id
    c.configure(b)
    c.undefine(a)
    seen = len(reader.answers)
    reader.until(c)
    assert a not in reader.instances and reader.instances[b] is InstanceState.CONFIGURE
    assert not any(f.relisted for f in reader.answers[seen:])
    c.clean(b)
    c.undefine(b)
    c.offload(fid)


def test_a_disconnect_resumes_or_relists_and_loses_nothing(fog: Fog) -> None:
    c = fog.client
    reader = Reader(c)
    reader.read()
    reader.until(c)
    c.close()  # connections (fogsim) or the YAKS session and its subscription (fog05) gone
    fid = c.onboard(descriptor("reconnect"))
    iid = c.define(fid, fog.nodes["beta"]).instance_id
    seen = len(reader.answers)
    reader.until(c)
    assert iid in reader.instances
    # fogsim keeps a log to go on from; YAKS keeps no history, so fog05 lists again
    assert any(f.relisted for f in reader.answers[seen:]) == (fog.kind == "fog05")
    c.undefine(iid)
    c.offload(fid)


def test_a_cursor_the_fog_cannot_resume_relists(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("expired"))
    iid = c.define(fid, fog.nodes["alpha"]).instance_id
    reader = Reader(c, cursor=FeedCursor("an-epoch-long-gone", 12345))
    assert reader.read().relisted
    reader.until(c)
    assert iid in reader.instances
    c.undefine(iid)
    c.offload(fid)


def test_node_down_is_in_the_feed(fog: Fog) -> None:
    c = fog.client
    reader = Reader(c)
    reader.read()
    fid = c.onboard(descriptor("nodefeed"))
    beta = fog.nodes["beta"]
    iid = c.define(fid, beta).instance_id
    reader.until(c)
    fog.node_down("beta")
    reader.until(c)
    assert beta not in reader.nodes and iid not in reader.instances
    fog.node_up("beta")
    reader.until(c)
    assert beta in reader.nodes
    c.offload(fid)


def test_fogsim_a_second_client_goes_on_from_the_first_ones_cursor(fogsim_fog: Fog) -> None:
    first = Reader(fogsim_fog.client)
    first.read()
    first.until(fogsim_fog.client)
    fid = fogsim_fog.client.onboard(descriptor("handover"))
    iid = fogsim_fog.client.define(fid, fogsim_fog.nodes["alpha"]).instance_id
    other = make_fog_client("fogsim", fogsim_fog.extra.url, timeout=5.0)
    try:
        second = Reader(other, cursor=first.cursor, instances=dict(first.instances),
                        nodes=set(first.nodes))
        feed = second.read()
        assert not feed.relisted and [c.id for c in feed.changes] == [iid]
    finally:
        other.close()
    fogsim_fog.client.undefine(iid)
    fogsim_fog.client.offload(fid)
