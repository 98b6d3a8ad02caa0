"""``fogsim instance list|log`` and ``fogsim serve --ip-block`` against a real fogsim."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from fogsim.cli import InstanceRow, instance_rows
from fogsim.nodes import NodesFileError, load_nodes, parse_ip_block, rebase

from tests.support.fogsim import EXAMPLE_NODES, FogsimServer

pytestmark = pytest.mark.integration

# Prints numbered lines slowly, so most of them appear after the follower has started.
TALKER = "import time\nfor i in range(40):\n    print('line', i, flush=True)\n    time.sleep(0.1)\n"


@pytest.fixture(scope="module")
def sim() -> Iterator[FogsimServer]:
    with FogsimServer(EXAMPLE_NODES, stop_grace=1.0, extra_args=("--ip-block", "127.0.77")) as s:
        yield s


def _run(sim: FogsimServer, fdu: str, node: str, script: str) -> str:
    s = requests.Session()
    s.post(sim.url + "/fdu/onboard", json={
        "id": fdu, "name": fdu, "hypervisor": "BARE", "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64"},
        "command": {"binary": sys.executable, "args": ["-c", script]},
    }, timeout=10).raise_for_status()
    iid = str(s.post(f"{sim.url}/nodes/{node}/fdu/{fdu}/define", timeout=10).json()["uuid"])
    s.post(f"{sim.url}/fdu/instances/{iid}/configure", timeout=10).raise_for_status()
    s.post(f"{sim.url}/fdu/instances/{iid}/start", json={}, timeout=10).raise_for_status()
    return iid


def test_ip_block_moves_every_node_and_keeps_last_octets(sim: FogsimServer) -> None:
    nodes = {n["name"]: n["ip"] for n in sim.state()["nodes"]}
    assert nodes["cloud-1"] == "127.0.77.11" and nodes["edge-3"] == "127.0.77.33"
    assert all(ip.startswith("127.0.77.") for ip in nodes.values())


def test_ip_block_rejects_what_is_not_a_loopback_block() -> None:
    assert parse_ip_block(" 127.0.042 ") == "127.0.42"
    for bad in ("10.0.1", "127.0", "127.0.300", "127.0.x"):
        with pytest.raises(NodesFileError, match="--ip-block"):
            parse_ip_block(bad)
    nodes = load_nodes(EXAMPLE_NODES)
    clash = [nodes[0], type(nodes[0])(name="twin", ip="127.0.11.11")]
    with pytest.raises(NodesFileError, match="twin"):
        rebase(clash, "127.0.12")
    refused = subprocess.run([sys.executable, "-m", "fogsim", "serve", "--ip-block", "10.1.2"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode != 0, refused
    assert refused.stderr.count("\n") == 1 and "--ip-block" in refused.stderr, refused.stderr


def test_instance_list_shows_node_names_states_and_pids(sim: FogsimServer) -> None:
    iid = _run(sim, "listed", "fog-2", "import time; time.sleep(60)")
    out = sim.cli("instance", "list").stdout.splitlines()
    assert out[0].split() == ["INSTANCE", "FDU", "NODE", "STATE", "PID"]
    row = next(line.split() for line in out if line.startswith(iid))
    pid = next(i["hypervisor_info"]["pid"] for i in sim.state()["instances"] if i["uuid"] == iid)
    assert row == [iid, "listed", "fog-2", "RUN", str(pid)]
    # the columns line up: every row's FDU starts where the header's does
    assert {line.index("listed") for line in out if iid in line} == {out[0].index("FDU")}


def test_instance_rows_are_plain_data() -> None:
    state = {"nodes": [{"uuid": "n1", "name": "edge-1"}], "fdus": [{"uuid": "f2", "id": "b"}],
             "instances": [{"uuid": "i2", "fdu_id": "f2", "node": "n1", "status": "DEFINE",
                            "hypervisor_info": {"pid": None}},
                           {"uuid": "i1", "fdu_id": "a", "node": "gone", "status": "RUN",
                            "hypervisor_info": {"pid": 42}}]}
    assert instance_rows(state) == [InstanceRow("i2", "b", "edge-1", "DEFINE", "-"),
                                    InstanceRow("i1", "a", "gone", "RUN", "42")]


def test_instance_log_and_follow_until_the_instance_is_gone(sim: FogsimServer) -> None:
    iid = _run(sim, "talker", "edge-2", TALKER)
    env = dict(os.environ, FOGSIM_URL=sim.url)
    follower = subprocess.Popen([sys.executable, "-m", "fogsim", "instance", "log", iid, "-f"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()
        assert first == "line 0\n"
        # the follower keeps printing what the process writes after it started
        for i in range(1, 40):
            assert follower.stdout.readline() == f"line {i}\n"
        requests.post(f"{sim.url}/fdu/instances/{iid}/undefine?force=true", timeout=10)
        rest, err = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert rest == "" and follower.returncode == 0
    assert f"instance {iid} is gone" in err
    missing = sim.cli("instance", "log", "no-such-instance", check=False)
    assert missing.returncode != 0 and missing.stderr.strip() == \
        "fogsim: no instance no-such-instance"


def test_instance_log_without_follow_prints_what_is_there(sim: FogsimServer) -> None:
    iid = _run(sim, "once", "cloud-1", "print('hello from once', flush=True)")
    for _ in range(100):
        if "hello" in sim.cli("instance", "log", iid).stdout:
            break
        time.sleep(0.1)
    assert sim.cli("instance", "log", iid).stdout == "hello from once\n"
    offset = requests.get(f"{sim.url}/fdu/instances/{iid}/log", params={"offset": 6},
                          timeout=10)
    assert offset.text == "from once\n" and offset.headers["X-Fogsim-Log-End"] == "16"
