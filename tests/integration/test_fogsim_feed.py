"""fogsim's change feed over HTTP: a real ``fogsim serve``, real BARE processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.fogsim import FogsimServer

pytestmark = pytest.mark.integration

LIST = "/fdu/instances/list"


def descriptor() -> dict[str, Any]:
    return {"id": "feed-sleeper", "name": "feed-sleeper", "hypervisor": "BARE",
            "migration_kind": "COLD",
            "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
            "command": {"binary": "/bin/sleep", "args": ["300"]}}


@pytest.fixture(scope="module")
def sim() -> Iterator[FogsimServer]:
    with FogsimServer(extra_args=("--feed-capacity", "32")) as server:
        yield server


def _get(sim: FogsimServer, **params: Any) -> requests.Response:
    return requests.get(sim.url + LIST, params=params, timeout=30)


def _running(sim: FogsimServer) -> tuple[str, str]:
    fid = requests.put(sim.url + "/fdu/feed-sleeper/info", json=descriptor(),
                       timeout=5).json()["uuid"]
    node = requests.get(sim.url + "/nodes/list", timeout=5).json()[0]
    iid = requests.post(sim.url + f"/nodes/{node}/fdu/{fid}/define", timeout=5).json()["uuid"]
    for op in ("configure", "start"):
        requests.post(sim.url + f"/fdu/instances/{iid}/{op}", timeout=5).raise_for_status()
    return iid, node


def test_a_long_poll_is_woken_by_a_process_that_dies(sim: FogsimServer) -> None:
    iid, _ = _running(sim)
    listing = _get(sim)
    rev, epoch = int(listing.headers["X-Fogsim-Revision"]), listing.headers["X-Fogsim-Epoch"]
    assert iid in {r["uuid"] for r in listing.json()}
    pid = next(r for r in listing.json() if r["uuid"] == iid)["hypervisor_info"]["pid"]
    answer: dict[str, requests.Response] = {}
    waiting = threading.Thread(target=lambda: answer.setdefault(
        "r", _get(sim, since=rev, watch="true", timeout=120, epoch=epoch)))
    waiting.start()
    os.kill(pid, signal.SIGKILL)  # not through fogsim: the fog notices by itself
    waiting.join(60)
    assert not waiting.is_alive()
    body = answer["r"].json()
    assert answer["r"].status_code == 200 and body["revision"] > rev
    mine = [c for c in body["changes"] if c["kind"] == "instance"]
    assert [(c["id"], c["record"]["status"]) for c in mine] == [(iid, "ERROR")]
    assert mine[0]["record"]["error_msg"] == "process killed by signal 9"


def test_since_answers_a_delta_and_nothing_twice(sim: FogsimServer) -> None:
    iid, node = _running(sim)
    rev = int(_get(sim).headers["X-Fogsim-Revision"])
    quiet = _get(sim, since=rev)
    assert quiet.json()["changes"] == [] and quiet.json()["revision"] == rev
    requests.post(sim.url + f"/sim/nodes/{node}/down", timeout=5).raise_for_status()
    try:
        delta = _get(sim, since=rev).json()
        gone = {c["id"] for c in delta["changes"] if c["record"] is None}
        assert iid in gone and node in gone
        assert _get(sim, since=delta["revision"], watch="true", timeout=0).json()[
            "changes"] == []
    finally:
        requests.post(sim.url + f"/sim/nodes/{node}/up", timeout=5).raise_for_status()


def test_a_revision_it_cannot_resume_is_gone(sim: FogsimServer) -> None:
    head = int(_get(sim).headers["X-Fogsim-Revision"])
    for since, epoch in ((head + 5, None), (head, "another-run")):
        params = {"since": since} | ({"epoch": epoch} if epoch else {})
        gone = _get(sim, **params)
        assert gone.status_code == 410
        assert gone.json()["revision"] == head and "list again" in gone.json()["error"]
    for _ in range(20):  # more changes than the log of 32 keeps
        _running(sim)
    assert _get(sim, since=head).status_code == 410


@pytest.mark.parametrize("params", [{"since": "x"}, {"since": 0, "timeout": "soon"},
                                    {"since": 0, "timeout": 9999}])
def test_bad_parameters_are_one_line_400s(sim: FogsimServer, params: dict[str, Any]) -> None:
    resp = _get(sim, **params)
    assert resp.status_code == 400
    assert "\n" not in resp.json()["error"]
