"""The endpoint an ActiveStrategy publishes, from the status a step decided (pure)."""

from __future__ import annotations

from typing import Any

from controller.api.models import Endpoint
from controller.reconcile.endpoint import endpoint_status, first_address, url_of
from controller.reconcile.status import ArchitectureStatus, StrategyStatus, Transition
from controller.reconcile.times import rfc3339

MAIN = Endpoint(entity="agg", port=8080, path="/predict")
BACKUP = Endpoint(entity="web", port=9090)
ENDPOINTS: dict[str, Endpoint | None] = {"main": MAIN, "backup": BACKUP}


def _instances(entity: str, node_ip: str, address: str | None = None) -> dict[str, Any]:
    replica = {"fduId": "f", "fduUuid": "u", "nodeIp": node_ip, "state": "RUN",
               **({"address": address} if address else {})}
    return {"state": "served", "entities": {entity: {"0": replica, "1": {
        **replica, "nodeIp": "10.9.9.9"}}}}


def _status(served: str | None, active: str | None = None, **archs: ArchitectureStatus
            ) -> StrategyStatus:
    architectures = {
        "main": ArchitectureStatus(state="served" if served == "main" else "deployed",
                                   instances=_instances("agg", "10.0.0.1")),
        "backup": ArchitectureStatus(state="served" if served == "backup" else "undeployed",
                                     instances=_instances("web", "10.0.0.2", "172.16.0.5")),
        **archs,
    }
    return StrategyStatus(active_architecture=active or served, architectures=architectures)


def test_the_served_architecture_s_entity_address_and_port() -> None:
    ep = endpoint_status(_status("main"), ENDPOINTS, None, 100.0)
    assert ep == {"url": "http://10.0.0.1:8080/predict", "architecture": "main",
                  "serving": True, "since": rfc3339(100.0)}


def test_the_instance_s_own_address_wins_over_its_node_s() -> None:
    ep = endpoint_status(_status("backup"), ENDPOINTS, None, 100.0)
    assert ep is not None and ep["url"] == "http://172.16.0.5:9090"


def test_the_replacement_as_soon_as_it_is_recorded_serving() -> None:
    # a failover's target is served before the transition completes (active still main)
    ep = endpoint_status(_status("backup", active="main"), ENDPOINTS, None, 100.0)
    assert ep is not None and ep["architecture"] == "backup"


def _both_served(transition_to: str | None) -> StrategyStatus:
    """A make-before-break hand-over from backup to main: both served for one step."""
    both = _status("backup")
    both = both.with_arch("main", ArchitectureStatus(state="served",
                                                     instances=_instances("agg", "10.0.0.1")))
    if transition_to is None:
        return both
    transition = Transition("failback", "backup", transition_to, "MainReady", 1.0,
                            "deploying", 1.0, (), True)
    return StrategyStatus(active_architecture="backup", architectures=both.architectures,
                          transition=transition)


def test_a_hand_over_s_target_wins_once_recorded_served() -> None:
    # consumers move to the target before the old one, still served, is undeployed
    ep = endpoint_status(_both_served("main"), ENDPOINTS, None, 100.0)
    assert ep is not None and (ep["url"], ep["architecture"]) == (
        "http://10.0.0.1:8080/predict", "main")


def test_two_served_without_a_transition_the_active_one_wins() -> None:
    ep = endpoint_status(_both_served(None), ENDPOINTS, None, 100.0)
    assert ep is not None and ep["architecture"] == "backup"


def test_nothing_serving_says_so() -> None:
    ep = endpoint_status(_status(None, active="main"), ENDPOINTS, None, 100.0)
    assert ep == {"url": None, "architecture": None, "serving": False,
                  "since": rfc3339(100.0)}


def test_since_moves_only_when_the_url_or_architecture_does() -> None:
    first = endpoint_status(_status("main"), ENDPOINTS, None, 100.0)
    again = endpoint_status(_status("main"), ENDPOINTS, first, 200.0)
    assert again == first
    moved = endpoint_status(_status("backup"), ENDPOINTS, first, 300.0)
    assert moved is not None and moved["since"] == rfc3339(300.0)


def test_no_endpoint_declared_anywhere_publishes_nothing() -> None:
    assert endpoint_status(_status("main"), {"main": None, "backup": None}, None, 1.0) is None


def test_a_serving_architecture_without_an_endpoint_has_no_url() -> None:
    ep = endpoint_status(_status("backup"), {"main": MAIN, "backup": None}, None, 1.0)
    assert ep is not None and (ep["url"], ep["architecture"], ep["serving"]) == (
        None, "backup", True)


def test_an_entity_not_placed_yet_has_no_address() -> None:
    assert first_address({"entities": {}}, "agg") is None
    assert first_address({"entities": {"agg": {"0": {"fduId": "f"}}}}, "agg") is None
    assert first_address({"entities": "garbage"}, "agg") is None


def test_ipv6_addresses_are_bracketed() -> None:
    assert url_of(Endpoint("e", 443, "https", "/x"), "fd00::1") == "https://[fd00::1]:443/x"
