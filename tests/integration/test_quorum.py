"""Readiness and the last-seen metric under quorum loss, on a real three-member etcd.

With two of three members stopped, the third keeps the controller's watch open and
answers serializable reads, so neither proves contact: /readyz must turn 503 and
``fogstrat_etcd_last_seen_timestamp_seconds`` must stop advancing (the
``FogstratEtcdNotSeen`` alert is built on it), and both must recover with the quorum.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_metrics_live import http_get
from tests.support.controller import ControllerProcess
from tests.support.etcd_cluster import EtcdCluster
from tests.support.scenario import wait_for

T = TypeVar("T")
LAST_SEEN = "fogstrat_etcd_last_seen_timestamp_seconds"



def last_seen(ctl: ControllerProcess) -> float:
    for family in text_string_to_metric_families(ctl.metrics()):
        for sample in family.samples:
            if sample.name == LAST_SEEN:
                return float(sample.value)
    raise AssertionError(f"no {LAST_SEEN} in /metrics")


@pytest.fixture
def cluster() -> Iterator[EtcdCluster]:
    with EtcdCluster(3) as c:
        yield c


@pytest.mark.parametrize("leader_elect", [True, False], ids=["leader", "no-election"])
def test_readyz_and_last_seen_follow_the_quorum(cluster: EtcdCluster, prefix: str,
                                                leader_elect: bool) -> None:
    with ControllerProcess(cluster.endpoints, prefix, lease_ttl=3,
                           leader_elect=leader_elect) as ctl:
        def readyz() -> str:
            return str(http_get(ctl.url + "/readyz"))

        try:
            wait_for(lambda: http_get(ctl.url + "/readyz")[0] == 200, 30, "/readyz 200", readyz)
            first = last_seen(ctl)
            wait_for(lambda: last_seen(ctl) > first, 15, "last-seen advancing with a quorum")

            for member in cluster.members[1:]:
                member.stop()
            _, reason = wait_for(
                lambda: (lambda r: r if r[0] == 503 else None)(http_get(ctl.url + "/readyz")),
                60, "/readyz 503 without quorum", readyz)
            assert "linearizable" in reason and reason.count("\n") == 1, reason
            assert http_get(ctl.url + "/healthz")[0] == 200  # alive: a restart would not help
            frozen = last_seen(ctl)
            time.sleep(6)  # three contact intervals: a live metric would have moved
            assert last_seen(ctl) == frozen, "last-seen advanced without a quorum"
            assert http_get(ctl.url + "/readyz")[0] == 503

            for member in cluster.members[1:]:
                member.start()
            wait_for(lambda: http_get(ctl.url + "/readyz")[0] == 200, 60,
                 "/readyz 200 with the quorum back", readyz)
            wait_for(lambda: last_seen(ctl) > frozen, 15, "last-seen advancing again")
        except BaseException:
            print("---- controller log\n" + ctl.log_tail(60))
            raise
    assert "Traceback" not in ctl.log_path.read_text()
