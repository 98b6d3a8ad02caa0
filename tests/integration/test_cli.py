"""The ``fogstrat`` CLI as a subprocess against a real etcd."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import Cli
from tests.support.etcd import EtcdServer, free_port

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"

STRATEGY = """\
apiVersion: fogstrat.io/v1alpha1
kind: Strategy
metadata: {name: prediction}
spec:
  main: {architecture: federated-learning, config: {rounds: 20}}
  replacements:
    - {architecture: gossip-learning}
"""

BROKEN = """\
apiVersion: fogstrat.io/v1alpha1
kind: Strategy
metadata: {name: Not_A_Name}
spec:
  main: {architecture: federated-learning}
  replacements:
    - {architecture: federated-learning}
    - {config: {}}
"""


@pytest.fixture
def cli(etcd: EtcdServer, prefix: str) -> Cli:
    return Cli(etcd.endpoint, prefix)


def etcd_keys(etcd: EtcdServer, prefix: str) -> list[str]:
    out = subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "get", prefix + "/",
                          "--prefix", "--keys-only"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if line]


def test_apply_get_describe_delete_round_trip(cli: Cli, etcd: EtcdServer, prefix: str,
                                              tmp_path: Path) -> None:
    f = tmp_path / "strategy.yaml"
    f.write_text(STRATEGY)
    assert cli.ok("apply", "-f", str(f)).out.strip() == \
        "strategy.fogstrat.io/prediction created"
    assert cli.ok("apply", "-f", str(f)).out.strip() == \
        "strategy.fogstrat.io/prediction unchanged"
    f.write_text(STRATEGY.replace("rounds: 20", "rounds: 30"))
    assert cli.ok("apply", "-f", str(f)).out.strip() == \
        "strategy.fogstrat.io/prediction configured"

    table = cli.ok("get", "strategies").out.splitlines()
    assert table[0].split()[:3] == ["NAME", "MAIN", "REPLACEMENTS"]
    assert table[1].split()[:3] == ["prediction", "federated-learning", "gossip-learning"]

    doc = cli.get_json("st", "prediction")
    assert doc["kind"] == "Strategy"
    assert doc["spec"]["main"]["config"] == {"rounds": 30}
    assert doc["metadata"]["generation"] == 2  # created, then configured once
    # a raw write with etcdctl is one more generation, as any spec write
    key = f"{prefix}/strategies/default/prediction"
    assert key in etcd_keys(etcd, prefix), etcd_keys(etcd, prefix)
    raw = subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "get", key,
                          "--print-value-only"], capture_output=True, text=True,
                         check=True).stdout
    subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "put", key,
                    raw.replace("30", "40")], capture_output=True, check=True)
    doc = cli.get_json("st", "prediction")
    assert doc["metadata"]["generation"] == 3
    assert doc["spec"]["main"]["config"] == {"rounds": 40}
    listing = cli.get_json("strategy")
    assert listing["kind"] == "List" and len(listing["items"]) == 1
    assert yaml.safe_load(cli.ok("get", "st", "prediction", "-o", "yaml").out)["kind"] == \
        "Strategy"

    described = cli.ok("describe", "strategy", "prediction").out
    assert "Name:" in described and "prediction" in described and "gossip-learning" in described

    assert cli.ok("delete", "st", "prediction").out.strip() == \
        "strategy.fogstrat.io/prediction deleted"
    gone = cli.run("get", "st", "prediction")
    assert gone.rc != 0 and gone.err.count("\n") == 1 and "not found" in gone.err
    assert etcd_keys(etcd, prefix) == []


def test_apply_examples_directory_and_all_kinds_listed(cli: Cli) -> None:
    cli.env["FOGSIM_URL"] = "http://127.0.0.1:7070"
    out = cli.ok("apply", "--env-subst", "-f", str(EXAMPLES)).out
    assert "activestrategy.fogstrat.io/prediction-lab created" in out
    for kind in ("environments", "architectures", "ad", "st", "as"):
        assert cli.get_json(kind)["items"], kind
    table = cli.ok("get", "as").out.splitlines()
    assert table[0].split() == ["NAME", "STRATEGY", "PHASE", "ACTIVE", "ROLE", "FAILOVERS",
                                "AGE"]
    wide = cli.ok("get", "as", "-o", "wide").out.splitlines()[0].split()
    assert "ENVIRONMENT" in wide and "FAILBACKS" in wide


def test_invalid_file_writes_nothing_and_reports_every_problem(
        cli: Cli, etcd: EtcdServer, prefix: str, tmp_path: Path) -> None:
    f = tmp_path / "mixed.yaml"
    f.write_text(STRATEGY + "---\n" + BROKEN)
    res = cli.run("apply", "-f", str(f))
    assert res.rc != 0
    assert "nothing was applied" in res.err
    assert "metadata.name" in res.err
    assert "spec.replacements[1].architecture" in res.err
    assert "Traceback" not in res.err
    assert etcd_keys(etcd, prefix) == []


def test_malformed_yaml_is_one_line_with_location(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("kind: Strategy\nmetadata: {name: x\nspec: [\n")
    res = cli.run("apply", "-f", str(f))
    assert res.rc != 0
    assert res.err.count("\n") == 1 and "bad.yaml" in res.err
    assert "Traceback" not in res.err


def test_validate_is_offline(tmp_path: Path) -> None:
    cli = Cli(f"127.0.0.1:{free_port()}", "/nowhere")
    cli.env["FOGSIM_URL"] = "http://127.0.0.1:7070"
    assert cli.ok("validate", "--env-subst", "-f", str(EXAMPLES)).rc == 0
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN)
    res = cli.run("validate", "-f", str(f))
    assert res.rc != 0 and "spec.replacements[1].architecture" in res.err


UNDECLARED = """\
apiVersion: fogstrat.io/v1alpha1
kind: Strategy
metadata: {name: typo}
spec:
  main: {architecture: federated-learning, config: {roundz: 20}}
  replacements:
    - {architecture: gossip-learning, config: {peers: "3"}}
"""


def test_validate_and_apply_judge_config_by_the_architectures_parameters(
        cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "typo.yaml"
    f.write_text(UNDECLARED)
    arch = EXAMPLES / "10-architecture-federated-learning.yaml"
    # offline, with the Architecture in the same files
    res = Cli(f"127.0.0.1:{free_port()}", "/nowhere").run("validate", "-f", str(f),
                                                             "-f", str(arch))
    assert res.rc == 1, res.out
    assert "error: " + str(f) in res.err, res.err
    assert ("Strategy default/typo: spec.main.config: "
            "Architecture federated-learning declares no parameter roundz") in res.err, res.err
    assert "(UnknownParameter)" in res.err and "Traceback" not in res.err
    # apply, with the Architectures already in etcd
    cli.ok("apply", "-f", str(arch), "-f", str(EXAMPLES / "11-architecture-gossip-learning.yaml"))
    res = cli.run("apply", "-f", str(f))
    assert res.rc == 1
    assert "declares no parameter roundz" in res.err, res.err
    assert "spec.replacements[0].config.peers: must be integer" in res.err, res.err
    assert "nothing was applied" in res.err
    assert cli.run("get", "strategy", "typo").rc != 0


def test_apply_from_stdin_and_namespace_flag(cli: Cli) -> None:
    cli.ok("apply", "-f", "-", "-n", "team-a", stdin=STRATEGY)
    assert cli.get_json("st", "prediction", namespace="team-a")["metadata"]["namespace"] == \
        "team-a"
    assert cli.run("get", "st", "prediction").rc != 0
    all_ns = cli.ok("get", "st", "-A").out.splitlines()
    assert all_ns[0].startswith("NAMESPACE") and "team-a" in all_ns[1]


def test_raw_etcdctl_documents_read_back_like_cli_ones(cli: Cli, etcd: EtcdServer,
                                                       prefix: str) -> None:
    as_json = json.dumps(yaml.safe_load(STRATEGY))
    subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "put",
                    f"{prefix}/strategies/default/from-json",
                    as_json.replace('"prediction"', '"from-json"')], check=True,
                   capture_output=True)
    subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "put",
                    f"{prefix}/strategies/default/from-yaml",
                    STRATEGY.replace("name: prediction", "name: from-yaml")], check=True,
                   capture_output=True)
    a = cli.get_json("st", "from-json")
    b = cli.get_json("st", "from-yaml")
    assert a["spec"] == b["spec"]
    assert {i["metadata"]["name"] for i in cli.get_json("st")["items"]} == {"from-json",
                                                                            "from-yaml"}


def test_pause_resume_switch(cli: Cli) -> None:
    cli.env["FOGSIM_URL"] = "http://127.0.0.1:7070"
    cli.ok("apply", "--env-subst", "-f", str(EXAMPLES))
    cli.ok("pause", "prediction-lab")
    assert cli.get_json("as", "prediction-lab")["spec"]["paused"] is True
    cli.ok("resume", "prediction-lab")
    assert cli.get_json("as", "prediction-lab")["spec"]["paused"] is False
    cli.ok("switch", "prediction-lab", "--to", "gossip-learning")
    assert cli.get_json("as", "prediction-lab")["spec"]["pin"] == "gossip-learning"
    bad = cli.run("switch", "prediction-lab", "--to", "nope")
    assert bad.rc != 0 and "not part of strategy" in bad.err
    cli.ok("switch", "prediction-lab", "--unpin")
    assert "pin" not in cli.get_json("as", "prediction-lab")["spec"]


def test_unknown_kind_and_missing_object_are_one_line_errors(cli: Cli) -> None:
    res = cli.run("get", "pods")
    assert res.rc != 0 and res.err.count("\n") == 1 and "unknown resource type" in res.err
    res = cli.run("describe", "as", "missing")
    assert res.rc != 0 and res.err.count("\n") == 1 and "not found" in res.err


def test_unreachable_etcd_is_one_line_naming_the_endpoint() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    cli = Cli(endpoint, "/fogstrat")
    res = cli.run("--help")
    assert res.rc == 0
    res = cli.run("get", "as", "--timeout", "2")
    assert res.rc != 0
    assert res.err.count("\n") == 1, res.err
    assert endpoint in res.err and "unreachable" in res.err
    assert "Traceback" not in res.err


def test_a_malformed_raw_document_does_not_hide_the_others(cli: Cli, etcd: EtcdServer,
                                                            prefix: str) -> None:
    cli.ok("apply", "-f", "-", stdin=STRATEGY)
    subprocess.run(["etcdctl", "--endpoints", etcd.endpoint, "put",
                    f"{prefix}/strategies/default/broken", "kind: Strategy\nspec: {main: [\n"],
                   check=True, capture_output=True)
    rows = cli.ok("get", "strategies").out.splitlines()
    assert [r.split()[0] for r in rows[1:]] == ["broken", "prediction"]
    assert rows[1].split()[-2] == "False"  # VALID
    described = cli.ok("describe", "st", "broken").out
    assert "Error:" in described and "strategies/default/broken" in described
    assert cli.get_json("st", "broken")["metadata"]["name"] == "broken"
