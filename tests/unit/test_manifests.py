"""deploy/kubernetes (kustomize) and deploy/examples: rendered and validated offline.

- `kubectl kustomize` renders deploy/kubernetes/ and deploy/kubernetes/monitoring/;
- every built-in object is validated with `kubernetes-validate --strict -k 1.32.0`;
- every example document is validated with check-jsonschema against its kind's
  `openAPIV3Schema`, extracted from the CRDs in crds/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIRS = [ROOT / "deploy" / "kubernetes", ROOT / "deploy" / "kubernetes" / "monitoring"]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "deploy" / "examples"
K8S_VERSION = "1.32.0"
# Kinds that are not built into Kubernetes (validated separately).
NOT_BUILTIN_GROUPS = {"monitoring.coreos.com", "fogstrat.io"}


def tool(name: str, hint: str) -> str:
    local = Path(sys.executable).parent / name
    path = str(local) if local.exists() else shutil.which(name)
    assert path, f"{name} not found: {hint}"
    return path


def kubectl() -> str:
    return tool("kubectl", "apt-get install -y kubectl (hack/install-deps.sh does)")


def render(directory: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"kubectl kustomize {directory}: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render(KUSTOMIZE_DIRS[0])


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("directory", KUSTOMIZE_DIRS, ids=lambda p: p.name)
def test_builtin_objects_validate_strict(directory: Path, tmp_path: Path) -> None:
    docs = render(directory)
    files = []
    for i, doc in enumerate(docs):
        if doc["apiVersion"].split("/")[0] in NOT_BUILTIN_GROUPS:
            continue
        f = tmp_path / f"{i:02d}-{doc['kind']}-{doc['metadata']['name']}.yaml"
        f.write_text(yaml.safe_dump(doc))
        files.append(str(f))
    assert len(files) >= 10
    validator = tool("kubernetes-validate", "pip install kubernetes-validate")
    proc = subprocess.run(
        [validator, "--strict", "-k", K8S_VERSION, *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout and "WARN" not in proc.stdout, proc.stdout


def test_all_crds_are_in_the_kustomization(rendered: list[dict[str, Any]]) -> None:
    files = sorted(p.name for p in CRDS.glob("*.fogstrat.io.yaml"))
    assert files, "no CRDs in crds/"
    listed = yaml.safe_load((CRDS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == files, "crds/kustomization.yaml must list every CRD file"
    names = {d["metadata"]["name"] for d in by_kind(rendered, "CustomResourceDefinition")}
    assert names == {f.removesuffix(".yaml") for f in files}
    for crd in by_kind(rendered, "CustomResourceDefinition"):
        assert "namespace" not in crd["metadata"], "CRDs are cluster scoped"


def test_namespaced_objects_in_fogstrat_system(rendered: list[dict[str, Any]]) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition"}
    for doc in rendered:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == "fogstrat-system", doc["metadata"]["name"]
    assert [d["metadata"]["name"] for d in by_kind(rendered, "Namespace")] == ["fogstrat-system"]


def test_controller_deployment(rendered: list[dict[str, Any]]) -> None:
    (dep,) = by_kind(rendered, "Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"requests", "limits"} <= set(c["resources"])
    assert "--leader-elect=true" in c["args"]
    assert any(a.startswith("--metrics-addr=") for a in c["args"])
    assert c["image"] == "localhost/fogstrat:dev"
    # flags/env come from the generated ConfigMap
    (cm,) = by_kind(rendered, "ConfigMap")
    assert c["envFrom"][0]["configMapRef"]["name"] == cm["metadata"]["name"]
    assert {"FOGSTRAT_ETCD_ENDPOINTS", "FOGSTRAT_PREFIX"} <= set(cm["data"])
    for arg in c["args"]:
        if "$(" in arg:
            var = arg.split("$(", 1)[1].split(")", 1)[0]
            assert var in cm["data"] or var in {e["name"] for e in c.get("env", [])}, arg
    port = c["ports"][0]
    assert port["containerPort"] == 9469 and port["name"] == "metrics"


def test_metrics_service_and_servicemonitor() -> None:
    docs = render(KUSTOMIZE_DIRS[1])
    svc = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "fogstrat-metrics"
    )
    (dep,) = by_kind(docs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (sm,) = by_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["namespace"] == "fogstrat-system"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]


def test_etcd_statefulset(rendered: list[dict[str, Any]]) -> None:
    (sts,) = by_kind(rendered, "StatefulSet")
    headless = next(
        d
        for d in by_kind(rendered, "Service")
        if d["metadata"]["name"] == sts["spec"]["serviceName"]
    )
    assert headless["spec"]["clusterIP"] == "None"
    (cm,) = by_kind(rendered, "ConfigMap")
    assert cm["data"]["FOGSTRAT_ETCD_ENDPOINTS"].startswith("etcd-client.fogstrat-system.svc:")


# --- example documents against the CRD schemas --------------------------------------


def crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in sorted(CRDS.glob("*.fogstrat.io.yaml")):
        crd = yaml.safe_load(path.read_text())
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[f"{api_version} {kind}"] = version["schema"]["openAPIV3Schema"]
    return schemas


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in {".yaml", ".yml", ".json"})


def test_examples_exist() -> None:
    assert example_files(), f"no example documents in {EXAMPLES}"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_validates_against_crd_schema(path: Path, tmp_path: Path) -> None:
    schemas = crd_schemas()
    checker = tool("check-jsonschema", "pip install check-jsonschema")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path}: empty"
    for i, doc in enumerate(docs):
        key = f"{doc.get('apiVersion')} {doc.get('kind')}"
        assert key in schemas, f"{path} document {i}: no CRD for {key}"
        schema_file = tmp_path / f"schema-{i}.json"
        schema_file.write_text(json.dumps(schemas[key]))
        doc_file = tmp_path / f"doc-{i}.json"
        doc_file.write_text(json.dumps(doc))
        proc = subprocess.run(
            [checker, "--schemafile", str(schema_file), str(doc_file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        name = doc.get("metadata", {}).get("name")
        assert proc.returncode == 0, f"{path} {key} {name}: {proc.stdout}{proc.stderr}"


def test_schema_check_rejects_a_bad_document(tmp_path: Path) -> None:
    """The validation above is not vacuous: a wrong type in a spec is refused."""
    schemas = crd_schemas()
    key = "fogstrat.io/v1alpha1 ActiveStrategy"
    assert key in schemas
    (tmp_path / "s.json").write_text(json.dumps(schemas[key]))
    bad = {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
           "metadata": {"name": "x"}, "spec": {"strategy": 42, "serve": "maybe"}}  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(bad))
    checker = tool("check-jsonschema", "pip install check-jsonschema")
    proc = subprocess.run(
        [checker, "--schemafile", str(tmp_path / "s.json"), str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout
