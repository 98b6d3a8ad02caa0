"""``make run`` as a new user meets it: two clones side by side on non-default ports, the
README's commands against them, ``make demo-failover`` with the console dashboard open in
a real browser, and stacks that must refuse to start or stop at once with the reason.

Two stacks start once for the module (they are slow); the tests run in file order.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support import browser
from tests.support.process import free_port
from tests.support.stack import OUTPUT, REPO, LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@dataclass
class Stacks:
    a: LocalStack
    b: LocalStack
    root: Path


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    root = tmp_path_factory.mktemp("clones")
    with LocalStack(root / "a") as a, LocalStack(root / "b") as b:
        yield Stacks(a, b, root)


def ip_block(stack: LocalStack) -> str:
    return (stack.run_dir / "ip-block").read_text().strip()


def status(stack: LocalStack) -> dict[str, object]:
    res = stack.shell("fogstrat get as prediction-lab -o json")
    assert res.returncode == 0, res.stderr
    st: dict[str, object] = json.loads(res.stdout)["status"]
    return st


def readme_snippet(containing: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return str(next(b for b in blocks if containing in b))


def test_make_run_on_other_ports_serves_and_says_where(stacks: Stacks) -> None:
    a = stacks.a
    res = a.make("run")
    assert res.returncode == 0, res.stdout + res.stderr + a.log("controller")
    assert re.search(r"prediction-lab +prediction +Serving +federated-learning +main", res.stdout)
    progress = re.findall(r"^ +\d+\.\ds  phase=(\S+)", res.stdout, re.M)
    assert progress[-1] == "Serving" and len(progress) >= 2, res.stdout  # shown while waiting
    assert f"Dashboard:  http://{a.prometheus_addr}/consoles/fogstrat.html" in res.stdout
    env = (a.run_dir / "env").read_text()
    port = a.env["FOGSTRAT_ETCD_PORT"]
    for line in (f"ETCDCTL_ENDPOINTS=127.0.0.1:{port}", f"FOGSIM_URL=http://{a.fogsim_addr}",
                 f"FOGSTRAT_METRICS_URL=http://{a.metrics_addr}",
                 f"FOGSTRAT_PROMETHEUS_URL=http://{a.prometheus_addr}"):
        assert f"export {line}\n" in env
    lab = json.loads(a.shell("fogstrat get env lab -o json").stdout)
    assert lab["spec"]["locator"] == f"http://{a.fogsim_addr}"
    # applying the examples again (as the README says) keeps the locator on this stack
    again = a.shell("fogstrat apply -f deploy/examples/")
    assert again.returncode == 0, again.stderr
    assert "environment.fogstrat.io/lab unchanged" in again.stdout


def test_the_example_publishes_where_its_service_is(stacks: Stacks) -> None:
    a = stacks.a
    endpoint = status(a)["endpoint"]
    assert isinstance(endpoint, dict) and endpoint["architecture"] == "federated-learning"
    url = str(endpoint["url"])
    assert re.fullmatch(r"http://[0-9.]+:8080/predict", url), url
    with urllib.request.urlopen(url, timeout=5) as resp:  # the aggregator answers there
        assert "probability" in json.loads(resp.read())
    listed = a.shell("fogstrat get endpoints")
    assert re.search(rf"default +prediction-lab +{re.escape(url)} +federated-learning",
                     listed.stdout), listed.stdout + listed.stderr


def test_readme_etcdctl_snippet_runs_against_the_stack(stacks: Stacks) -> None:
    res = stacks.a.shell(readme_snippet("etcdctl put"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["activeArchitecture"] in (
        "federated-learning", None)


def test_a_second_clone_runs_beside_the_first(stacks: Stacks) -> None:
    a, b = stacks.a, stacks.b
    res = b.make("run")
    assert res.returncode == 0, res.stdout + res.stderr + b.log("controller")
    assert ip_block(a) != ip_block(b)
    nodes = json.loads(b.shell("fogsim state").stdout)["nodes"]
    assert {n["ip"].rsplit(".", 1)[0] for n in nodes} == {ip_block(b)}
    for stack in (a, b):
        assert status(stack)["phase"] == "Serving"
        assert status(stack)["activeArchitecture"] == "federated-learning"


def test_a_stack_never_uses_what_it_did_not_start(stacks: Stacks) -> None:
    a = stacks.a
    c = LocalStack(stacks.root / "c", FOGSIM_ADDR=a.fogsim_addr)
    try:
        cases: dict[str, dict[str, str]] = {"FOGSIM_ADDR": {}, "FOGSTRAT_ETCD_PORT": {
            "FOGSIM_ADDR": f"127.0.0.1:{free_port()}",
            "FOGSTRAT_ETCD_PORT": a.env["FOGSTRAT_ETCD_PORT"]},
            "FOGSTRAT_NODE_IP_BLOCK": {
            "FOGSIM_ADDR": f"127.0.0.1:{free_port()}", "FOGSTRAT_NODE_IP_BLOCK": ip_block(a)}}
        for variable, env in cases.items():
            res = c.make("run", env)
            assert res.returncode != 0
            error = res.stderr.strip().splitlines()
            assert error[0].startswith("error: ") and variable in error[0], res.stderr
            assert c.started() == [], variable
        demo = c.make("demo-failover")
        assert demo.returncode != 0
        assert demo.stderr.splitlines()[0] == \
            "error: .run/env not found: start the stack with make run first"
    finally:
        c.close()


def test_logs_and_instances_of_the_stack(stacks: Stacks) -> None:
    a = stacks.a
    logs = a.shell("fogstrat logs as prediction-lab aggregator")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.startswith("==> aggregator[0] on ")
    assert f"aggregator listening on {ip_block(a)}." in logs.stdout
    tail = a.shell("fogstrat logs as prediction-lab aggregator --tail 1").stdout.splitlines()
    assert len(tail) == 2 and tail[0] == logs.stdout.splitlines()[0]
    envs = a.shell("fogstrat get env -o wide").stdout.splitlines()
    assert envs[0].split()[-1] == "REACHABLE" and envs[1].split()[-1] == "True"
    rows = a.shell("fogsim instance list").stdout.splitlines()
    assert rows[0].split() == ["INSTANCE", "FDU", "NODE", "STATE", "PID"]
    assert len(rows) == 5 and all(r.split()[3] == "RUN" for r in rows[1:])


def _console_shows_the_failover(page: str) -> bool:
    return ('<td class="architecture">gossip-learning</td>' in page
            and re.search(r'<tr class="failover"><td>failover</td><td>prediction-lab</td>'
                          r"<td>federated-learning</td><td>gossip-learning</td>", page) is not None
            and 'data-series="prediction-lab / gossip-learning"' in page)


def test_demo_failover_seen_on_the_console_dashboard(stacks: Stacks) -> None:
    a = stacks.a
    url = f"http://{a.prometheus_addr}/consoles/fogstrat.html?range=600"
    demo = a.popen_make("demo-failover")
    try:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if line.startswith("== gossip learning serves"):
                break
        assert seen and seen[-1].startswith("== gossip learning serves"), "".join(seen)
        # Prometheus scrapes every 5s: render until a scrape after the failover is in
        page = ""
        for _ in range(30):
            page = browser.dom(url)
            if _console_shows_the_failover(page):
                break
        shot = browser.screenshot(url, OUTPUT / "console-during-failover.png")
        print(f"console screenshot: {shot}")
        assert _console_shows_the_failover(page), page
        rest, _ = demo.communicate(timeout=600)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, "".join(seen) + rest
    assert re.search(r'fogstrat_failbacks_total\{from="gossip-learning".*\} 1\.0', rest)
    assert status(a)["activeRole"] == "main"


def test_a_wrong_fog_address_stops_make_run_at_once_with_the_reason(stacks: Stacks,
                                                                    tmp_path: Path) -> None:
    b = stacks.b
    assert b.make("stop").returncode == 0
    docs = tmp_path / "documents"
    shutil.copytree(b.path / "deploy" / "examples", docs, ignore=shutil.ignore_patterns("workl*"))
    env_doc = docs / "00-environment-lab.yaml"
    dead = f"http://127.0.0.1:{free_port()}"
    doc = yaml.safe_load(env_doc.read_text())
    doc["spec"]["locator"] = dead
    env_doc.write_text(yaml.safe_dump(doc))
    # a wait timeout far beyond the test's own: only the status's reason can end it in time
    res = b.make("run", {"FOGSTRAT_DOCUMENTS": str(docs), "FOGSTRAT_WAIT_TIMEOUT": "3600"})
    assert res.returncode != 0
    assert "error: prediction-lab will not reach phase=Serving: FogUnreachable: " in res.stderr
    assert dead.removeprefix("http://") in res.stderr, res.stderr
    # the stack stays up for a look, and the environment shows what the controller saw
    envs = b.shell("fogstrat get env -o wide").stdout.splitlines()
    assert envs[1].endswith(" ago)") and "   False (FogUnreachable " in envs[1], envs
