"""Every example document in deploy/examples is valid and parses into typed models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.api import models, schema
from controller.api.documents import load_path, load_path_located
from controller.api.kinds import KINDS, by_kind
from controller.api.parse import parse_document
from controller.api.validation import validate
from controller.cli import envsubst

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
# What `source .run/env` gives the documents' ${...} references.
LOCAL_STACK_ENV = {"FOGSIM_URL": "http://127.0.0.1:7070"}
FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_is_valid(path: Path) -> None:
    located = load_path_located(path)
    assert located, f"{path.name} holds no document"
    for doc in located:
        expanded = envsubst.expand(doc.document, LOCAL_STACK_ENV)
        assert validate(expanded) == [], doc.origin
        parse_document(expanded)


def test_examples_cover_the_prediction_scenario() -> None:
    docs = {(d.kind, d.name): d for d in (parse_document(envsubst.expand(raw, LOCAL_STACK_ENV))
                                          for raw in load_path(EXAMPLES))}
    assert {kind for kind, _ in docs} == {
        "Environment", "Architecture", "ArchitectureData", "Strategy", "ActiveStrategy",
    }  # fmt: skip
    strategy = docs[("Strategy", "prediction")].spec
    assert isinstance(strategy, models.StrategySpec)
    assert [r.architecture for r in strategy.candidates] == [
        "federated-learning",
        "gossip-learning",
    ]
    assert strategy.policy.failback.stabilization_window == 30.0
    for ref in strategy.candidates:
        assert ("Architecture", ref.architecture) in docs
        data = [
            d.spec
            for d in docs.values()
            if isinstance(d.spec, models.ArchitectureDataSpec)
            and d.spec.architecture == ref.architecture
        ]
        assert [d.data_id for d in data] == ["hydraulic-system"]
    active = docs[("ActiveStrategy", "prediction-lab")].spec
    assert isinstance(active, models.ActiveStrategySpec)
    assert ("Environment", active.environment) in docs
    assert ("Strategy", active.strategy) in docs
    fl = docs[("Architecture", "federated-learning")].spec
    assert isinstance(fl, models.ArchitectureSpec)
    assert {p.kind for p in fl.health.probes} >= {"http", "qos"}
    assert any(e.phase == "serve" for e in fl.entities)


def test_examples_match_crd_schemas_with_check_jsonschema(tmp_path: Path) -> None:
    """An independent validator reading the same CRD schemas agrees with ours."""
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip("check-jsonschema not installed")
    by_kind_docs: dict[str, list[Path]] = {}
    for index, located in enumerate(load_path_located(EXAMPLES)):
        kind = located.document["kind"]
        target = tmp_path / f"{index}-{kind}.json"
        target.write_text(json.dumps(located.document))
        by_kind_docs.setdefault(kind, []).append(target)
    for kind, paths in by_kind_docs.items():
        schema_file = tmp_path / f"{kind}.schema.json"
        schema_file.write_text(
            json.dumps(schema.closed_world(schema.openapi_schema(by_kind(kind))))
        )
        result = subprocess.run(
            [tool, "--schemafile", str(schema_file), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_kind_has_its_crd_file() -> None:
    crds = EXAMPLES.parents[1] / "crds"
    for kind in KINDS:
        crd = yaml.safe_load((crds / kind.crd_file).read_text())
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["spec"]["names"]["kind"] == kind.kind
