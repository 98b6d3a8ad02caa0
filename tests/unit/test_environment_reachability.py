"""The ``Reachable`` condition an Environment's fog check turns into (pure)."""

from __future__ import annotations

from controller.api.models import EnvironmentSpec
from controller.fog.client import FogTimeout, FogUnavailable, MissingLibrary
from controller.runtime.environments import reachability

ENV = EnvironmentSpec(driver="fog05", locator="10.0.0.2:7447")


def test_a_fog_that_answers_is_reachable() -> None:
    r = reachability(ENV, None)
    assert (r.status, r.reason) == ("True", "FogAnswers")
    assert r.message == "fog05 at 10.0.0.2:7447 answers"


def test_a_missing_library_is_named_by_its_own_reason() -> None:
    r = reachability(ENV, MissingLibrary("no libzenohc.so; put it at /usr/local/lib",
                                         "ZenohMissing"))
    assert (r.status, r.reason) == ("False", "ZenohMissing")
    assert r.message == "no libzenohc.so; put it at /usr/local/lib"


def test_an_unanswering_fog_is_unreachable_in_one_bounded_line() -> None:
    r = reachability(ENV, FogUnavailable("connect:\n refused " + "x" * 5000))
    assert (r.status, r.reason) == ("False", "FogUnreachable")
    assert "\n" not in r.message and r.message.startswith("connect: refused")
    assert len(r.message) <= 1000
    assert reachability(ENV, FogTimeout("no answer within 2s")).reason == "FogUnreachable"
