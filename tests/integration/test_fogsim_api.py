"""fogsim over HTTP: a real ``fogsim serve`` subprocess, real BARE processes."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.fogsim import EXAMPLE_NODES, FogsimServer, free_port

pytestmark = pytest.mark.integration

PY = sys.executable
ECHO_SERVER = """\
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(),
                           "bound": self.server.server_address[0]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer((os.environ["FOS_NODE_IP"], int(os.environ["PORT"])), H)
print("listening on", srv.server_address, flush=True)
srv.serve_forever()
"""
SLEEP = "import time; time.sleep(300)"
IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def marker() -> str:
    return f"fogsim-test-marker-{uuid.uuid4().hex}"


def pids_with(mark: str) -> list[int]:
    """Live processes whose command line contains ``mark`` (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if mark.encode() in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z":
            out.append(int(entry.name))
    return out


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def bare(fid: str, binary: str, *args: str, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": fid, "name": fid, "hypervisor": "BARE", "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 128},
        "command": {"binary": binary, "args": list(args)},
    }
    d.update(over)
    return d


class Client:
    """Tiny helper: every call returns (status, json-or-text)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.s = requests.Session()

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        r = self.s.request(method, self.url + path, json=body, timeout=15, **kw)
        if r.headers.get("Content-Type", "").startswith("application/json"):
            return r.status_code, r.json()
        return r.status_code, r.text

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = self.call(method, path, body, **kw)
        assert status == 200, (method, path, status, data)
        return data

    def run(self, fdu: str, node: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        iid = self.ok("POST", f"/nodes/{node}/fdu/{fdu}/define")["uuid"]
        self.ok("POST", f"/fdu/instances/{iid}/configure")
        rec: dict[str, Any] = self.ok("POST", f"/fdu/instances/{iid}/start", {"env": env or {}})
        return rec

    def info(self, iid: str) -> dict[str, Any]:
        rec: dict[str, Any] = self.ok("GET", f"/fdu/instances/{iid}/info")
        return rec


@pytest.fixture(scope="module")
def sim() -> Iterator[FogsimServer]:
    with FogsimServer(EXAMPLE_NODES, stop_grace=1.0) as server:
        yield server


@pytest.fixture
def api(sim: FogsimServer) -> Iterator[Client]:
    client = Client(sim.url)
    yield client
    client.ok("PUT", "/sim/faults", {"error_rate": 0, "latency_ms": 0})


def test_nodes(api: Client) -> None:
    nodes = api.ok("GET", "/nodes/list")
    assert len(nodes) == 6 and all(uuid.UUID(n) for n in nodes)
    infos = [api.ok("GET", f"/nodes/{n}/info") for n in nodes]
    assert {i["name"] for i in infos} >= {"cloud-1", "edge-1"}
    edge = api.ok("GET", "/nodes/edge-1/info")
    assert edge["uuid"] in nodes and edge["cpu"][0]["arch"] == "aarch64"
    assert len(edge["cpu"]) == 4 and edge["ram"] == {"size": 2048.0}
    assert edge["network"][0]["intf_configuration"]["ipv4_address"] == "127.0.10.31"
    assert edge["labels"]["tier"] == "edge"
    status = api.ok("GET", f"/nodes/{edge['uuid']}/status")
    assert status["uuid"] == edge["uuid"] and status["ram"]["total"] == 2048.0
    assert status["neighbors"] == [] and status["disk"][0]["dimension"] == 32.0
    for path in ("/nodes/nope/info", "/nodes/nope/status"):
        code, body = api.call("GET", path)
        assert code == 404 and "error" in body
    code, body = api.call("GET", "/no/such/route")
    assert code == 404 and "error" in body


def test_fdu_catalog(api: Client) -> None:
    desc = {"id": "catalog-web", "name": "web", "hypervisor": "LXD", "migration_kind": "LIVE",
            "computation_requirements": {"cpu_arch": "x86_64"}, "custom": {"kept": True}}
    expected = str(uuid.uuid5(uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8"), "catalog-web"))
    out = api.ok("PUT", "/fdu/catalog-web/info", desc)
    assert out["uuid"] == expected and out["custom"] == {"kept": True}
    assert api.ok("POST", "/fdu/onboard", desc)["uuid"] == expected  # idempotent
    assert api.ok("PUT", f"/fdu/{expected}/info", desc)["uuid"] == expected
    assert api.ok("GET", f"/fdu/{expected}/info")["name"] == "web"
    assert expected in api.ok("GET", "/fdu/list")
    assert api.ok("GET", f"/fdu/{expected}/instances/list") == {}

    code, body = api.call("PUT", "/fdu/other-id/info", desc)
    assert code == 400 and "error" in body
    code, body = api.call("POST", "/fdu/onboard", dict(desc, hypervisor="lxd"))
    assert code == 400 and "hypervisor" in body["error"]
    code, body = api.call("POST", "/fdu/onboard", {"name": "x"})
    assert code == 400 and body["error"]
    code, body = api.call("POST", "/fdu/onboard", data=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert code == 400 and "error" in body

    iid = api.ok("POST", f"/nodes/fog-1/fdu/{expected}/define")["uuid"]
    code, body = api.call("DELETE", f"/fdu/{expected}/info")
    assert code == 409 and body["instances"] == [iid] and "error" in body
    api.ok("POST", f"/fdu/instances/{iid}/undefine")
    assert api.ok("DELETE", f"/fdu/{expected}/info") == {"uuid": expected}
    code, body = api.call("GET", f"/fdu/{expected}/info")
    assert code == 404 and "error" in body
    assert api.call("GET", f"/fdu/{expected}/instances/list")[0] == 404


def test_instance_listing_is_not_resent_while_unchanged(api: Client) -> None:
    """``ETag``/``If-None-Match`` on the all-instances listing: 304 until a record changes."""
    first = api.s.get(api.url + "/fdu/instances/list", timeout=15)
    etag = first.headers["ETag"]
    again = api.s.get(api.url + "/fdu/instances/list", headers={"If-None-Match": etag},
                      timeout=15)
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    fdu = api.ok("POST", "/fdu/onboard", {
        "id": "etag", "name": "etag", "hypervisor": "BARE", "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 1}})["uuid"]
    fog1 = api.ok("GET", "/nodes/fog-1/info")["uuid"]
    iid = api.ok("POST", f"/nodes/{fog1}/fdu/{fdu}/define")["uuid"]
    changed = api.s.get(api.url + "/fdu/instances/list", headers={"If-None-Match": etag},
                        timeout=15)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert iid in {rec["uuid"] for rec in changed.json()}
    api.ok("DELETE", f"/fdu/instances/{iid}/info")
    api.ok("DELETE", f"/fdu/{fdu}/info")


def test_state_machine(api: Client) -> None:
    fdu = api.ok("POST", "/fdu/onboard", {
        "id": "sm", "name": "sm", "hypervisor": "DOCKER", "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 1024}})["uuid"]
    fog1 = api.ok("GET", "/nodes/fog-1/info")["uuid"]
    rec = api.ok("POST", f"/nodes/{fog1}/fdu/{fdu}/define")
    iid = rec["uuid"]
    assert rec["status"] == "DEFINE" and rec["fdu_id"] == fdu and rec["node"] == fog1
    assert set(rec) >= {"uuid", "fdu_id", "node", "status", "error_code", "error_msg",
                        "hypervisor_info"}
    assert api.ok("GET", f"/fdu/{fdu}/instances/list") == {fog1: [iid]}

    def illegal(action: str, current: str) -> None:
        code, body = api.call("POST", f"/fdu/instances/{iid}/{action}")
        assert code == 409, (action, body)
        assert body["current"] == current and body["requested"] == action and body["error"]

    for action in ("start", "stop", "clean"):
        illegal(action, "DEFINE")
    assert api.ok("POST", f"/fdu/instances/{iid}/configure")["status"] == "CONFIGURE"
    free = api.ok("GET", "/nodes/fog-1/status")["ram"]["free"]
    assert free == 8192.0 - 1024.0
    for action in ("configure", "stop", "undefine"):
        illegal(action, "CONFIGURE")
    assert api.ok("POST", f"/fdu/instances/{iid}/start")["status"] == "RUN"
    assert api.info(iid)["hypervisor_info"]["simulated"] is True
    for action in ("configure", "start", "clean", "undefine"):
        illegal(action, "RUN")
    code, body = api.call("DELETE", f"/fdu/instances/{iid}/info")
    assert code == 409 and body["current"] == "RUN" and body["requested"] == "undefine"
    assert api.ok("POST", f"/fdu/instances/{iid}/stop")["status"] == "CONFIGURE"
    assert api.ok("POST", f"/fdu/instances/{iid}/clean")["status"] == "DEFINE"
    assert api.ok("DELETE", f"/fdu/instances/{iid}/info")["status"] == "UNDEFINE"
    for method, path in (("GET", "info"), ("POST", "configure"), ("GET", "log")):
        code, body = api.call(method, f"/fdu/instances/{iid}/{path}")
        assert code == 404 and "error" in body
    code, body = api.call("POST", f"/nodes/edge-1/fdu/{fdu}/define")
    assert code == 422 and "aarch64" in body["error"]
    code, body = api.call("POST", "/nodes/nope/fdu/sm/define")
    assert code == 404
    # force-undefine from RUN (fogsim extension)
    other = api.run("sm", "fog-2")["uuid"]
    assert api.ok("POST", f"/fdu/instances/{other}/undefine?force=true")["status"] == "UNDEFINE"
    api.ok("DELETE", f"/fdu/{fdu}/info")


def test_bare_process_on_node_ip_with_env(api: Client) -> None:
    api.ok("POST", "/fdu/onboard", bare("echo-env", PY, "-c", ECHO_SERVER))
    node = api.ok("GET", "/nodes/fog-2/info")
    ip = node["network"][0]["intf_configuration"]["ipv4_address"]
    port = free_port(ip)
    rec = api.run("echo-env", "fog-2", {"PORT": str(port), "GREETING": "hello"})
    iid = rec["uuid"]
    assert rec["status"] == "RUN" and rec["hypervisor_info"]["pid"] > 0

    def get() -> Any:
        try:
            return requests.get(f"http://{ip}:{port}/", timeout=2).json()
        except requests.RequestException:
            return None

    seen = wait_for(get, what="echo server")
    env = seen["env"]
    assert seen["bound"] == ip == env["FOS_NODE_IP"]
    assert env["FOS_NODE_ID"] == node["uuid"] and env["FOS_INSTANCE_ID"] == iid
    assert env["GREETING"] == "hello"
    assert iid in seen["cwd"]
    wait_for(lambda: "listening on" in api.ok("GET", f"/fdu/instances/{iid}/log"), what="log")
    assert len(api.ok("GET", f"/fdu/instances/{iid}/log", params={"tail": 5})) <= 5
    pid = api.info(iid)["hypervisor_info"]["pid"]
    stopped = api.ok("POST", f"/fdu/instances/{iid}/stop")
    assert stopped["status"] == "CONFIGURE" and stopped["hypervisor_info"]["pid"] is None
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), what="process gone")
    assert get() is None
    # restart with the fog05 string env form
    port2 = free_port(ip)
    api.ok("POST", f"/fdu/instances/{iid}/start", {"env": f"PORT={port2},GREETING=again"})
    assert wait_for(lambda: _get_json(f"http://{ip}:{port2}/"))["env"]["GREETING"] == "again"
    api.ok("POST", f"/fdu/instances/{iid}/undefine?force=1")
    assert api.call("GET", f"/fdu/instances/{iid}/info")[0] == 404


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _get_json(url: str) -> Any:
    try:
        return requests.get(url, timeout=2).json()
    except requests.RequestException:
        return None


def test_crash_self_exit_and_spawn_failure(api: Client, sim: FogsimServer) -> None:
    mark = marker()
    api.ok("POST", "/fdu/onboard", bare("sleeper", PY, "-c", SLEEP, mark))
    iid = api.run("sleeper", "cloud-1")["uuid"]
    wait_for(lambda: pids_with(mark), what="sleeper running")
    out = sim.cli("instance", "crash", iid)
    assert json.loads(out.stdout)["status"] == "ERROR"
    rec = api.info(iid)
    assert rec["status"] == "ERROR" and rec["error_code"] == -9 and rec["error_msg"]
    wait_for(lambda: not pids_with(mark), what="sleeper killed")
    assert api.ok("POST", f"/fdu/instances/{iid}/clean")["status"] == "DEFINE"  # way out
    api.ok("POST", f"/fdu/instances/{iid}/undefine")

    api.ok("POST", "/fdu/onboard", bare("quitter", "/bin/sh", "-c", "echo bye; exit 3"))
    iid = api.run("quitter", "cloud-1")["uuid"]
    rec = wait_for(lambda: (r := api.info(iid))["status"] == "ERROR" and r, what="ERROR")
    assert rec["error_code"] == 3 and "exited with code 3" in rec["error_msg"]
    assert rec["hypervisor_info"]["exit_code"] == 3
    assert "bye" in api.ok("GET", f"/fdu/instances/{iid}/log")

    api.ok("POST", "/fdu/onboard", bare("missing", "/nonexistent/binary"))
    rec = api.run("missing", "cloud-1")
    assert rec["status"] == "ERROR" and rec["error_code"] == 127

    # non-BARE crash: just ERROR
    api.ok("POST", "/fdu/onboard", bare("vm", "/bin/true", hypervisor="KVM"))
    iid = api.run("vm", "cloud-1")["uuid"]
    assert api.ok("POST", f"/sim/instances/{iid}/crash")["status"] == "ERROR"
    assert api.call("POST", "/sim/instances/nope/crash")[0] == 404


def test_stop_escalates_to_sigkill_without_blocking(api: Client) -> None:
    mark = marker()
    api.ok("POST", "/fdu/onboard", bare("stubborn", PY, "-c", IGNORE_TERM, mark))
    iid = api.run("stubborn", "cloud-1")["uuid"]
    wait_for(lambda: pids_with(mark), what="stubborn running")
    time.sleep(0.3)  # let it install its SIGTERM handler
    t0 = time.monotonic()
    api.ok("POST", f"/fdu/instances/{iid}/stop")
    assert time.monotonic() - t0 < 0.9  # grace is 1 s: stop did not wait for it
    api.ok("GET", "/nodes/list")  # loop still responsive
    assert pids_with(mark)  # still alive right after stop (ignores SIGTERM)
    wait_for(lambda: not pids_with(mark), timeout=5, what="SIGKILL after grace")
    assert api.info(iid)["status"] == "CONFIGURE"


def test_node_down_and_up(api: Client, sim: FogsimServer) -> None:
    mark = marker()
    api.ok("POST", "/fdu/onboard", bare("downer", PY, "-c", SLEEP, mark))
    iid = api.run("downer", "edge-2")["uuid"]
    edge2 = api.ok("GET", "/nodes/edge-2/info")["uuid"]
    wait_for(lambda: pids_with(mark), what="running")
    out = json.loads(sim.cli("node", "down", "edge-2").stdout)
    assert out["up"] is False and iid in out["removed_instances"]
    wait_for(lambda: not pids_with(mark), what="processes killed")
    assert edge2 not in api.ok("GET", "/nodes/list")
    assert api.call("GET", f"/nodes/{edge2}/info")[0] == 404
    assert api.call("GET", f"/fdu/instances/{iid}/info")[0] == 404
    assert api.ok("GET", "/fdu/downer/instances/list") == {}
    assert api.ok("POST", f"/sim/nodes/{edge2}/up")["up"] is True
    assert edge2 in api.ok("GET", "/nodes/list")
    assert api.ok("GET", "/nodes/edge-2/status")["ram"]["free"] == 1024.0
    assert api.call("POST", "/sim/nodes/nope/down")[0] == 404


def test_faults(api: Client, sim: FogsimServer) -> None:
    out = json.loads(sim.cli("faults", "--error-rate", "1").stdout)
    assert out == {"error_rate": 1.0, "latency_ms": 0.0}
    for path in ("/nodes/list", "/fdu/list", "/nodes/cloud-1/info"):
        code, body = api.call("GET", path)
        assert code == 503 and body == {"error": "injected fault"}
    assert api.ok("GET", "/sim/state")["faults"]["error_rate"] == 1.0
    assert api.ok("GET", "/sim/ping") == {"ok": True}
    api.ok("PUT", "/sim/faults", {"error_rate": 0, "latency_ms": 300})
    t0 = time.monotonic()
    api.ok("GET", "/nodes/list")
    assert time.monotonic() - t0 >= 0.3
    api.ok("GET", "/sim/faults")
    assert api.ok("POST", "/sim/faults", {"latency_ms": 0}) == {"error_rate": 0.0,
                                                                "latency_ms": 0.0}
    assert api.call("PUT", "/sim/faults", {"error_rate": 2})[0] == 400
    assert json.loads(sim.cli("faults").stdout) == {"error_rate": 0.0, "latency_ms": 0.0}


def test_state_cli(api: Client, sim: FogsimServer) -> None:
    state = json.loads(sim.cli("state").stdout)
    assert {"nodes", "fdus", "instances", "faults", "options"} <= set(state)
    assert {n["name"] for n in state["nodes"]} >= {"cloud-1", "edge-3"}
    assert state["options"]["stop_grace"] == 1.0
    bad = sim.cli("node", "down", "nope", check=False)
    assert bad.returncode != 0 and "404" in bad.stderr
    help_text = sim.cli("--help").stdout
    assert "fogsim serve" in help_text and "node down" in help_text


def test_no_processes_mode() -> None:
    with FogsimServer(EXAMPLE_NODES, no_processes=True) as server:
        api = Client(server.url)
        mark = marker()
        api.ok("POST", "/fdu/onboard", bare("sim-bare", PY, "-c", SLEEP, mark))
        rec = api.run("sim-bare", "cloud-1")
        assert rec["status"] == "RUN" and rec["hypervisor_info"]["simulated"] is True
        assert rec["hypervisor_info"]["pid"] is None
        assert not pids_with(mark)


def test_shutdown_leaves_no_process() -> None:
    mark = marker()
    server = FogsimServer(EXAMPLE_NODES, stop_grace=0.5).start()
    api = Client(server.url)
    tree = f"{PY} -c '{SLEEP}' {mark} & wait"  # the grandchild must die too
    api.ok("POST", "/fdu/onboard", bare("tree", "/bin/sh", "-c", tree))
    api.ok("POST", "/fdu/onboard", bare("stubborn2", PY, "-c", IGNORE_TERM, mark))
    for node in ("cloud-1", "fog-1", "fog-2"):
        api.run("tree", node)
    api.run("stubborn2", "cloud-1")
    wait_for(lambda: len(pids_with(mark)) >= 4, what="processes up")
    time.sleep(0.3)
    server.stop()
    wait_for(lambda: not pids_with(mark), timeout=5, what="no orphans after SIGTERM")
    server.close()


def test_sigkill_of_fogsim_kills_children() -> None:
    mark = marker()
    server = FogsimServer(EXAMPLE_NODES).start()
    api = Client(server.url)
    api.ok("POST", "/fdu/onboard", bare("orphan", PY, "-c", SLEEP, mark))
    api.run("orphan", "cloud-1")
    wait_for(lambda: pids_with(mark), what="running")
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.kill()
    wait_for(lambda: not pids_with(mark), timeout=5, what="PDEATHSIG")
    server.close()
