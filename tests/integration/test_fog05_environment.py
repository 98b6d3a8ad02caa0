"""A ``driver: fog05`` Environment the controller cannot use says exactly why, in one line
on the ActiveStrategy's status: the real controller, the real fog05/yaks/zenoh stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.etcd import EtcdServer, free_port
from tests.support.scenario import Scenario, doc

pytestmark = pytest.mark.integration


@pytest.fixture
def s(etcd: EtcdServer, prefix: str) -> Iterator[Scenario]:
    with Scenario(etcd.endpoint, prefix, etcd=etcd) as scenario:
        yield scenario


def _fog05_lab(s: Scenario) -> None:
    s.given.web_strategy(active=False)
    s.given.documents(
        doc("Environment", "real", {"driver": "fog05", "locator": f"127.0.0.1:{free_port()}",
                                    "timeout": "2s"}),
        doc("ActiveStrategy", s.name, {"strategy": "web", "environment": "real"}),
    )


def _unreachable(s: Scenario) -> dict[str, Any]:
    st = s.then.status_matches(
        lambda st: any(c.get("reason") == "FogUnreachable" and c.get("status") == "True"
                       for c in st.get("conditions") or []),
        "a FogUnreachable condition", timeout=30)
    return next(c for c in st["conditions"] if c.get("reason") == "FogUnreachable")


def test_missing_native_zenoh_library_is_one_line_saying_where_to_put_it(s: Scenario) -> None:
    _fog05_lab(s)
    s.given.controller(env={"FOGSTRAT_ZENOH_LIB": "/nonexistent/libzenohc.so"})
    message = _unreachable(s)["message"]
    assert "\n" not in message
    assert "the native zenoh library is missing: no /nonexistent/libzenohc.so" in message
    assert "put it at /usr/local/lib/libzenohc.so, or set FOGSTRAT_ZENOH_LIB" in message
    assert s.instances() == []
