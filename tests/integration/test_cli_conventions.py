"""CLI conventions against a real etcd: flags on either side of the verb, ``--version``,
shell completion, ``${NAME}`` expansion, ``wait``, ``logs`` on fog05, and the messages
that say what happens next. Statuses are written with ``etcdctl``, as a controller would."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.store.keys import status_key
from tests.support.cli import FOGSTRAT, Cli
from tests.support.etcd import EtcdServer, free_port

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.fixture
def cli(etcd: EtcdServer, prefix: str) -> Cli:
    c = Cli(etcd.endpoint, prefix)
    c.env["FOGSIM_URL"] = "http://127.0.0.1:7070"
    c.ok("apply", "--env-subst", "-f", str(EXAMPLES))
    return c


def put_status(etcd: EtcdServer, prefix: str, name: str, status: dict[str, Any]) -> None:
    key = status_key(prefix, "activestrategies", "default", name)
    subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "put", key, json.dumps(status)],
                   check=True, capture_output=True)


def test_connection_flags_before_or_after_the_verb(etcd: EtcdServer, prefix: str) -> None:
    bare = Cli(f"127.0.0.1:{free_port()}", "/nowhere")  # the environment points nowhere
    bare.env["FOGSIM_URL"] = "http://127.0.0.1:7070"
    before = bare.ok("--endpoints", etcd.endpoint, "--prefix", prefix, "apply", "--env-subst",
                     "-f", str(EXAMPLES / "00-environment-lab.yaml"))
    assert before.out.strip() == "environment.fogstrat.io/lab created"
    after = bare.ok("get", "env", "--endpoints", etcd.endpoint, "--prefix", prefix)
    assert after.out.splitlines()[1].split()[:3] == ["lab", "fogsim", "http://127.0.0.1:7070"]
    # after the verb wins over before it, as the later flag does
    mixed = bare.run("--endpoints", etcd.endpoint, "get", "env", "--prefix", prefix,
                     "--endpoints", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert mixed.rc != 0 and "unreachable" in mixed.err


def test_version_and_completion(etcd: EtcdServer) -> None:
    version = Cli(etcd.endpoint, "/x").ok("--version").out
    assert version.startswith("fogstrat ") and version.split()[1][0].isdigit()
    assert "complete" in Cli(etcd.endpoint, "/x").ok("completion", "bash").out
    with tempfile.NamedTemporaryFile("r") as out:
        env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": "bash",
               "COMP_LINE": "fogstrat sw", "COMP_POINT": "11", "_ARGCOMPLETE_IFS": "\n",
               "_ARGCOMPLETE_STDOUT_FILENAME": out.name}
        proc = subprocess.run([FOGSTRAT], env=env, capture_output=True, text=True, timeout=30,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        assert out.read().split() == ["switch"]


def test_a_reference_is_expanded_only_when_asked(cli: Cli) -> None:
    env_doc = str(EXAMPLES / "00-environment-lab.yaml")
    refused = cli.run("apply", "-f", env_doc)
    assert refused.rc != 0 and refused.err.count("\n") == 1
    assert "spec.locator refers to ${FOGSIM_URL}; run with --env-subst" in refused.err
    cli.env["FOGSIM_URL"] = "http://127.0.0.1:17070"
    cli.env["FOGSTRAT_ENV_SUBST"] = "1"
    assert cli.ok("apply", "-f", env_doc).out.strip() == "environment.fogstrat.io/lab configured"
    assert cli.get_json("env", "lab")["spec"]["locator"] == "http://127.0.0.1:17070"
    del cli.env["FOGSIM_URL"]
    unset = cli.run("apply", "-f", env_doc)
    assert unset.rc != 0 and "FOGSIM_URL is not set" in unset.err


def test_unpin_says_when_failback_follows(cli: Cli, etcd: EtcdServer, prefix: str) -> None:
    put_status(etcd, prefix, "prediction-lab",
               {"phase": "Serving", "activeArchitecture": "gossip-learning"})
    pinned = cli.ok("switch", "prediction-lab", "--to", "gossip-learning").out.strip()
    assert pinned == ("activestrategy.fogstrat.io/prediction-lab switching to gossip-learning; "
                      "it stays there, whatever its health, until fogstrat switch "
                      "prediction-lab --unpin")
    out = cli.ok("switch", "prediction-lab", "--unpin").out.strip()
    assert out == ("activestrategy.fogstrat.io/prediction-lab unpinned; failback to "
                   "federated-learning follows once it has been healthy for the stabilization "
                   "window of 30s")
    manual = yaml.safe_load((EXAMPLES / "30-strategy-prediction.yaml").read_text())
    manual["spec"]["policy"]["failback"]["mode"] = "Manual"
    cli.ok("apply", "-f", "-", stdin=json.dumps(manual))
    out = cli.ok("switch", "prediction-lab", "--unpin").out
    assert "gossip-learning stays active: failback is Manual" in out


def test_wait_returns_when_there_and_stops_at_once_on_the_reason(
        cli: Cli, etcd: EtcdServer, prefix: str) -> None:
    put_status(etcd, prefix, "prediction-lab", {"phase": "Serving",
                                                "activeArchitecture": "federated-learning"})
    done = cli.ok("wait", "as", "prediction-lab", "--for", "phase=Serving")
    assert "phase=Serving activeArchitecture=federated-learning" in done.out
    put_status(etcd, prefix, "prediction-lab", {"phase": "Degraded", "conditions": [
        {"type": "Degraded", "status": "True", "reason": "FogUnreachable",
         "message": "fog unreachable: fogsim at http://127.0.0.1:1"}]})
    # the wait timeout is far beyond the test's: only the reason can end the wait in time
    stuck = cli.run("wait", "as", "prediction-lab", "--for", "phase=Serving",
                    "--wait-timeout", "3600")
    assert stuck.rc == 1 and stuck.err == (
        "error: prediction-lab will not reach phase=Serving: FogUnreachable: fog unreachable: "
        "fogsim at http://127.0.0.1:1\n")
    missing = cli.run("wait", "as", "nope", "--for", "phase=Serving")
    assert missing.rc == 1 and "not found" in missing.err


def test_logs_on_fog05_says_plainly_where_the_output_is(cli: Cli, etcd: EtcdServer,
                                                        prefix: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    env = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Environment",
           "metadata": {"name": "lab"},
           "spec": {"driver": "fog05", "locator": dead, "timeout": "2s"}}
    cli.ok("apply", "-f", "-", stdin=json.dumps(env))
    rec = {"fduId": "f", "fduUuid": "u", "nodeName": "edge-1", "instanceId": "i-1"}
    put_status(etcd, prefix, "prediction-lab", {
        "phase": "Serving", "activeArchitecture": "federated-learning", "architectures": {
            "federated-learning": {"instances": {"entities": {"aggregator": {"0": rec}}}}}})
    res = cli.run("logs", "as", "prediction-lab")
    assert res.rc == 1 and res.err.count("\n") == 1 and "Traceback" not in res.err
    assert res.err.startswith(f"error: the fog05 driver cannot read instance output from {dead}")
    assert res.err.rstrip().endswith("read it on the nodes themselves: edge-1")
    put_status(etcd, prefix, "prediction-lab", {"phase": "Deploying"})
    idle = cli.ok("logs", "as", "prediction-lab")
    assert idle.err == "prediction-lab runs no instances right now\n"
