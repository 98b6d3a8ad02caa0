"""The example workloads (deploy/examples/workloads) as real processes on loopback IPs.

They are started the way fogsim starts BARE FDUs: ``python3 <script>`` in a temp cwd, with
the env the architecture documents give plus FOS_NODE_ID/FOS_NODE_IP/FOS_INSTANCE_ID.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

WORKLOADS = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "workloads"
DATA_ID = "hydraulic-system"


@dataclass
class Workload:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Crash it (node lost): no chance to clean up."""
        self.killed = True
        self.popen.kill()
        self.popen.wait(timeout=5)


Launch = Callable[..., Workload]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pids_with(mark: str) -> list[int]:
    """Live, non-zombie processes whose command line contains ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            alive = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            if alive and mark.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start workloads; on teardown SIGTERM each one and insist it exits 0 promptly."""
    mark = f"fogstrat-workload-test-{uuid.uuid4().hex}"
    started: list[Workload] = []

    def _launch(script: str, node_ip: str, **env: str) -> Workload:
        cwd = tmp_path / f"{script}-{len(started)}"
        cwd.mkdir()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FOS_NODE_ID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node_ip)),
            "FOS_NODE_IP": node_ip,
            "FOS_INSTANCE_ID": str(uuid.uuid4()),
            "DATA_DIR": str(WORKLOADS),
            "DATA_ID": DATA_ID,
            **env,
        }
        log = cwd / "fdu.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, str(WORKLOADS / script), mark], cwd=cwd, env=full_env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(Workload(f"{script}@{node_ip}", popen, log))
        return started[-1]

    try:
        yield _launch
    finally:
        problems = []
        for w in started:
            if w.popen.poll() is None:
                w.popen.send_signal(signal.SIGTERM)
        for w in started:
            try:
                rc = w.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.popen.kill()
                w.popen.wait(timeout=5)
                problems.append(f"{w.name} ignored SIGTERM")
                continue
            if not w.killed and rc != 0:
                problems.append(f"{w.name} exited {rc}:\n{w.output()}")
            if "Traceback" in w.output():
                problems.append(f"{w.name} printed a traceback:\n{w.output()}")
        leftovers = pids_with(mark)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes left behind: {leftovers}"
        assert not problems, "\n".join(problems)


def get(url: str, timeout: float = 1.0) -> Any:
    """JSON from ``url``, or None if it does not answer."""
    try:
        resp = requests.get(url, timeout=timeout)
        return resp.json() if resp.ok else None
    except (requests.RequestException, ValueError):
        return None


def post(url: str, body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=2)


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def accurate(url: str, minimum: float) -> Callable[[], bool]:
    """A check: does the learner at ``url`` report at least ``minimum`` accuracy?"""
    return lambda: bool((get(f"{url}/qos") or {}).get("accuracy", 0) >= minimum)


def events(w: Workload) -> list[dict[str, Any]]:
    """The JSON lines (client up/down transitions) in a workload's output."""
    return [json.loads(line) for line in w.output().splitlines() if line.startswith("{")]


def federated_aggregator(launch: Launch, ip: str, port: int, workers: int = 2) -> Workload:
    """The aggregator with the env of 10-architecture-federated-learning.yaml."""
    return launch("aggregator.py", ip, BIND=ip, PORT=str(port), ROUNDS="10",
                  WORKERS=str(workers), REGION="lab")


# --------------------------------------------------------------------------- federated
def test_federated_learning_trains_serves_and_fakes_faults(launch: Launch) -> None:
    ip, worker_ips = "127.0.10.201", ["127.0.10.202", "127.0.10.203"]
    port = free_port(ip)
    url = f"http://{ip}:{port}"
    federated_aggregator(launch, ip, port)
    assert wait_for("aggregator /healthz", lambda: get(f"{url}/healthz"), 10) == {"status": "ok"}
    before = get(f"{url}/qos")
    assert before["round"] == 0 and before["workers"] == 0
    assert 0.5 <= before["accuracy"] < 0.8  # pre-trained on a slice: meaningful, not good

    for wip in worker_ips:
        launch("worker.py", wip, AGGREGATOR=url)
    wait_for("accuracy >= 0.8", accurate(url, 0.8), 20)
    assert get(f"{url}/qos")["round"] >= 1
    assert wait_for("both workers counted", lambda: get(f"{url}/qos")["workers"] == 2, 10)

    answer = get(f"{url}/predict")
    assert answer["label"] in (0, 1) and 0.0 <= answer["probability"] <= 1.0
    assert len(answer["features"]) == len(get(f"{url}/model")["weights"]) - 1
    resp = post(f"{url}/predict", {"features": answer["features"]})
    assert resp.status_code == 200 and resp.json()["label"] == answer["label"]
    assert post(f"{url}/predict", {"features": [1, 2]}).status_code == 400

    assert post(f"{url}/admin/qos", {"accuracy": 0.1}).json() == {"override": 0.1}
    assert get(f"{url}/qos")["accuracy"] == 0.1
    post(f"{url}/admin/qos", {"accuracy": None})
    assert get(f"{url}/qos")["accuracy"] >= 0.8


def test_worker_waits_for_a_late_aggregator(launch: Launch) -> None:
    ip = "127.0.10.204"
    port = free_port(ip)
    worker = launch("worker.py", "127.0.10.205", AGGREGATOR=f"http://{ip}:{port}",
                    WORKER_INDEX="1")
    wait_for("worker to notice", lambda: "unreachable" in worker.output(), 10)
    assert worker.popen.poll() is None
    federated_aggregator(launch, ip, port, workers=1)
    wait_for("the worker's updates", lambda: (get(f"http://{ip}:{port}/qos") or {})
             .get("round", 0) >= 2, 20)
    assert "reachable again" in worker.output()


# --------------------------------------------------------------------------- gossip
def test_gossip_peers_learn_and_survive_a_lost_peer(launch: Launch) -> None:
    ips = ["127.0.10.206", "127.0.10.207", "127.0.10.208"]
    port = free_port(ips[0])
    peers = [launch("peer.py", ip, PEERS=",".join(ips), PORT=str(port), GOSSIP_INTERVAL="2s")
             for ip in ips]
    urls = [f"http://{ip}:{port}" for ip in ips]

    for u in urls:
        wait_for(f"{u} accuracy >= 0.7", accurate(u, 0.7), 20)
    wait_for("a merge on every peer", lambda: all(get(f"{u}/qos")["merges"] >= 1 for u in urls),
             20)

    peers[0].kill()
    survivors = urls[1:]
    rounds = {u: get(f"{u}/qos")["rounds"] for u in survivors}
    wait_for("survivors to keep gossiping",
             lambda: all(get(f"{u}/qos")["rounds"] >= rounds[u] + 2 for u in survivors), 20)
    for u in survivors:
        assert get(f"{u}/qos")["accuracy"] >= 0.7
        assert get(f"{u}/predict")["label"] in (0, 1)
        assert post(f"{u}/admin/qos", {"accuracy": 0.2}).json() == {"override": 0.2}
        assert get(f"{u}/qos")["accuracy"] == 0.2


# --------------------------------------------------------------------------- client
def test_client_measures_an_aggregator_outage(launch: Launch) -> None:
    ip, client_ip = "127.0.10.209", "127.0.10.210"
    port, client_port = free_port(ip), free_port(client_ip)
    aggregator = federated_aggregator(launch, ip, port)
    wait_for("aggregator /healthz", lambda: get(f"http://{ip}:{port}/healthz"), 10)
    client = launch("client.py", client_ip, SERVICE=f"http://{ip}:{port}",
                    CLIENT_PORT=str(client_port))
    qos_url = f"http://{client_ip}:{client_port}/qos"

    qos = wait_for("10 requests", lambda: (q := get(qos_url)) and q["requests"] >= 10 and q, 20)
    assert qos["successRate"] >= 0.95 and qos["failures"] == 0
    assert qos["p50Ms"] is not None and qos["p99Ms"] >= qos["p50Ms"]
    assert get(f"http://{client_ip}:{client_port}/healthz") == {"status": "ok"}

    aggregator.kill()
    outage = wait_for("failures", lambda: (q := get(qos_url)) and q["failures"] >= 3 and q, 20)
    assert outage["successRate"] < qos["successRate"]
    assert outage["lastSuccess"] <= time.time()
    wait_for("a down event", lambda: any(e["event"] == "down" for e in events(client)), 5)

    federated_aggregator(launch, ip, port)  # the service comes back (e.g. after failover)
    ups = wait_for("an up event after the outage",
                   lambda: [e for e in events(client) if e["previous"] == "down"], 20)
    assert ups[0]["event"] == "up" and ups[0]["previousFor"] > 0


def test_gossip_client_skips_dead_peers(launch: Launch) -> None:
    ips = ["127.0.10.211", "127.0.10.212", "127.0.10.213"]
    port = free_port(ips[0])
    for ip in ips[:2]:  # the third peer never comes up
        launch("peer.py", ip, PEERS=",".join(ips), PORT=str(port), GOSSIP_INTERVAL="2s")
        wait_for(f"peer {ip}", functools.partial(get, f"http://{ip}:{port}/healthz"), 10)
    client_port = free_port(ips[0])
    launch("client.py", ips[0], SERVICE=",".join(ips), SERVICE_PORT=str(port),
           CLIENT_PORT=str(client_port))
    qos = wait_for("15 requests",
                   lambda: (q := get(f"http://{ips[0]}:{client_port}/qos"))
                   and q["requests"] >= 15 and q, 20)
    assert qos["failures"] == 0 and qos["successRate"] == 1.0
