"""evolve: the same value dataclasses.replace gives, for every reconcile model."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from controller.reconcile.evolve import evolve
from controller.reconcile.status import (
    ArchitectureStatus,
    StrategyStatus,
    Transition,
)


def test_evolve_gives_what_replace_gives_and_leaves_the_original() -> None:
    a = ArchitectureStatus(health="Healthy", consecutive_successes=3)
    b = evolve(a, consecutive_successes=4, health="Unknown")
    assert b == dataclasses.replace(a, consecutive_successes=4, health="Unknown")
    assert (a.consecutive_successes, a.health) == (3, "Healthy")
    assert type(b) is ArchitectureStatus and b is not a


def test_evolve_freezes_what_changed_as_post_init_does() -> None:
    a = evolve(ArchitectureStatus(), instances={"svc": {"0": {"ports": [80]}}},
               last_probe_values={"rtt": 1.0})
    assert isinstance(a.instances, MappingProxyType)
    assert isinstance(a.instances["svc"]["0"], MappingProxyType)
    assert a.instances["svc"]["0"]["ports"] == (80,)
    assert isinstance(a.last_probe_values, MappingProxyType)
    s = evolve(StrategyStatus(), architectures={"main": a})
    assert isinstance(s.architectures, MappingProxyType)
    assert s == dataclasses.replace(StrategyStatus(), architectures={"main": a})


def test_evolve_of_a_model_without_post_init() -> None:
    t = Transition("failover", "main", "backup", "Unhealthy", 1.0, "draining", 1.0)
    u = evolve(t, stage="deploying", stage_since=2.0)
    assert u == dataclasses.replace(t, stage="deploying", stage_since=2.0)
    assert hash(u) == hash(dataclasses.replace(t, stage="deploying", stage_since=2.0))
