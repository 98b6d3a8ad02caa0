"""The CRDs as schemas: well-formed, consistent with the models, and enforced.

Invalid fixtures carry their expectations as ``# expect: <path>: <message part>``
comment lines; each must match one reported problem.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import models, schema
from controller.api.documents import load_path
from controller.api.kinds import API_GROUP, KINDS, Kind, by_kind
from controller.api.validation import validate

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").iterdir())
REPO = Path(__file__).resolve().parents[2]


def _schemas(node: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        yield path, node
        for key in ("properties",):
            for name, sub in node.get(key, {}).items():
                yield from _schemas(sub, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), Mapping):
                yield from _schemas(node[key], f"{path}[{key}]")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_is_complete(kind: Kind) -> None:
    crd = schema.load_crd(kind)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{kind.plural}.{API_GROUP}"
    spec = crd["spec"]
    assert spec["group"] == API_GROUP
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        kind.kind,
        kind.plural,
        kind.singular,
    )
    assert tuple(names["shortNames"]) == kind.short_names
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"]
    root = version["schema"]["openAPIV3Schema"]
    assert root["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_schema_is_structural(kind: Kind) -> None:
    """What the API server would reject: untyped nodes, properties + additionalProperties."""
    for path, node in _schemas(schema.openapi_schema(kind)):
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert "type" in node or preserve, f"{kind.kind}{path}: no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if "pattern" in node:
            assert node["pattern"] in schema.PATTERN_HINTS, f"{path}: pattern without hint"
            re.compile(node["pattern"])
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_validates_as_kubernetes_crd(kind: Kind) -> None:
    """Against the Kubernetes OpenAPI schema (strict: unknown JSONSchemaProps fields fail)."""
    kv = pytest.importorskip("kubernetes_validate")
    path = REPO / "crds" / kind.crd_file
    kv.validate(yaml.safe_load(path.read_text()), "1.29.0", strict=True)  # raises if invalid


def test_closed_world_rejects_typos_but_keeps_free_form_maps() -> None:
    closed = schema.closed_world(
        {
            "type": "object",
            "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"x": {"type": "string"}},
                },
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    )
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["free"]
    assert closed["properties"]["env"]["additionalProperties"] == {"type": "string"}


def test_defaults_match_the_models() -> None:
    """The CRD defaults and the dataclass defaults must not drift apart."""
    env = schema.openapi_schema("Environment")["properties"]["spec"]["properties"]
    spec = models.EnvironmentSpec(driver="fogsim", locator="x")
    assert env["driver"]["default"] == "fogsim"
    assert env["sysid"]["default"] == spec.sysid
    assert env["tenantid"]["default"] == spec.tenantid

    document = schema.apply_defaults(
        "Architecture",
        {
            "spec": {
                "entities": [{"name": "a", "fdu": {}}],
                "health": {"probes": [{"entity": "a", "http": {"port": 80}}]},
            }
        },
    )
    health = document["spec"]["health"]
    assert health["failureThreshold"] == models.HealthSpec.failure_threshold
    assert health["successThreshold"] == models.HealthSpec.success_threshold
    http = health["probes"][0]["http"]
    assert (http["path"], http["expectedStatus"], http["scheme"]) == ("/", 200, "http")
    entity = document["spec"]["entities"][0]
    assert (entity["phase"], entity["replicas"]) == (models.Entity.phase, models.Entity.replicas)

    strategy = schema.apply_defaults("Strategy", {"spec": {"main": {"architecture": "a"}}})
    policy = strategy["spec"]["policy"]
    assert policy["maxFailoversPerHour"] == models.StrategyPolicy.max_failovers_per_hour
    assert policy["failback"]["mode"] == models.FailbackPolicy.mode
    assert policy["failback"]["makeBeforeBreak"] == models.FailbackPolicy.make_before_break
    assert strategy["spec"]["main"]["config"] == {}
    assert strategy["spec"]["replacements"] == []

    active = schema.apply_defaults("ActiveStrategy", {"spec": {}})["spec"]
    fields = {f.name: f for f in dataclasses.fields(models.ActiveStrategySpec)}
    assert active["serve"] is fields["serve"].default
    assert active["paused"] is fields["paused"].default


def test_apply_defaults_leaves_input_alone_and_tolerates_bad_types() -> None:
    raw: dict[str, Any] = {"spec": {"entities": "nope", "health": 3}}
    out = schema.apply_defaults("Architecture", raw)
    assert raw == {"spec": {"entities": "nope", "health": 3}}
    assert out == raw


def test_crds_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(schema.CRDS_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(schema.SchemaError, match="FOGSTRAT_CRDS_DIR"):
        schema.crds_dir()
    monkeypatch.setenv(schema.CRDS_DIR_ENV, str(REPO / "crds"))
    schema.clear_cache()
    assert schema.crds_dir() == REPO / "crds"
    assert schema.validator("Strategy") is schema.validator(by_kind("Strategy"))


def test_format_path() -> None:
    assert schema.format_path(["spec", "replacements", 1, "architecture"]) == (
        "spec.replacements[1].architecture"
    )
    assert schema.format_path(["metadata", "labels", "app.kubernetes.io/name"]) == (
        'metadata.labels["app.kubernetes.io/name"]'
    )
    assert str(schema.Problem("a.b", "required")) == "a.b: required"


def _expectations(path: Path) -> list[str]:
    return [
        line.split("expect:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    (document,) = load_path(path)
    problems = [str(p) for p in validate(document)]
    for expectation in expected:
        assert any(expectation in p for p in problems), f"{expectation!r} not among:\n" + "\n".join(
            problems
        )


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture(path: Path) -> None:
    for document in load_path(path):
        assert validate(document) == []
