"""An Environment says whether its fog can be used: ``Reachable`` on its own status, with
one line saying what is missing and where to put it; the real controller, the real
fog05/yaks/zenoh stack and a real fogsim."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.etcd import EtcdServer, free_port
from tests.support.fogsim import FogsimServer
from tests.support.scenario import Scenario, doc, environment, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def _reachable(s: Scenario, name: str) -> dict[str, Any] | None:
    status = s.get("environment", name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Reachable"),
                None)


def _wait_reachable(s: Scenario, name: str, status: str, timeout: float = 30
                    ) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        cond = _reachable(s, name)
        return cond if cond is not None and cond["status"] == status else None

    return wait_for(found, timeout, f"Environment {name} Reachable={status}",
                    lambda: f"now: {_reachable(s, name)}\n{s.describe()}")


def test_fog05_without_native_zenoh_library_says_what_is_missing_and_where(
        s: Scenario) -> None:
    s.given.web_strategy(active=False)
    s.given.documents(
        doc("Environment", "real", {"driver": "fog05", "locator": f"127.0.0.1:{free_port()}",
                                    "timeout": "2s"}),
        doc("ActiveStrategy", s.name, {"strategy": "web", "environment": "real"}),
    )
    s.given.controller(env={"FOGSTRAT_ZENOH_LIB": "/nonexistent/libzenohc.so"})
    cond = _wait_reachable(s, "real", "False")
    assert cond["reason"] == "ZenohMissing"
    message = cond["message"]
    assert "\n" not in message
    assert "the native zenoh library is missing: no /nonexistent/libzenohc.so" in message
    assert "put it at /usr/local/lib/libzenohc.so, or set FOGSTRAT_ZENOH_LIB" in message
    # the ActiveStrategy on it holds, with the same line on its own condition
    st = s.then.status_matches(
        lambda st: any(c.get("reason") == "FogUnreachable" and c.get("status") == "True"
                       for c in st.get("conditions") or []),
        "a FogUnreachable condition", timeout=30)
    degraded = next(c for c in st["conditions"] if c.get("reason") == "FogUnreachable")
    assert "the native zenoh library is missing" in degraded["message"]
    assert s.instances() == []
    valid = next(c for c in s.get("environment", "real")["status"]["conditions"]
                 if c["type"] == "Valid")
    assert valid["status"] == "True"


def test_unreachable_fog_flips_back_when_it_answers(s: Scenario) -> None:
    later = FogsimServer(stop_grace=0.5)  # its port is chosen now, it starts later
    try:
        s.given.documents(environment("later", later.url))
        s.given.controller()
        down = _wait_reachable(s, "later", "False")
        assert down["reason"] == "FogUnreachable"
        assert later.url.removeprefix("http://") in down["message"]
        assert "\n" not in down["message"]
        later.start()
        up = _wait_reachable(s, "later", "True")
        assert up["reason"] == "FogAnswers"
        assert up["lastTransitionTime"] >= down["lastTransitionTime"]
    finally:
        later.close()



def test_fogs_that_never_answer_do_not_hold_the_workers(s: Scenario) -> None:
    """Eight Environments on a fog that accepts connections and never answers, with a
    10-minute call deadline. Checked on the workers, they would hold all four and the
    strategy beside them would not deploy; checked on their own pool (a check waits at
    most 30 s), it serves, and they are told unreachable."""
    silent = socket.socket()
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel accepts; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        s.given.documents(*(doc("Environment", f"silent-{i}", {
            "driver": "fogsim", "locator": url, "timeout": "10m"}) for i in range(8)))
        s.given.web_strategy().controller(workers=4).serving("web-main")

        def one_told() -> dict[str, Any] | None:
            found = (_reachable(s, f"silent-{i}") for i in range(8))
            return next((c for c in found if c is not None and c["status"] == "False"), None)

        told = wait_for(one_told, 90, "a silent Environment told unreachable", s.describe)
        assert told["reason"] == "FogUnreachable" and "30s" in told["message"]
    finally:
        silent.close()
