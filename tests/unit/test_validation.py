"""Semantic validation, parsing into typed models, templates and document I/O."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from controller.api import documents, models, templates
from controller.api.documents import DocumentSyntaxError, decode_value, load_documents
from controller.api.parse import parse_document
from controller.api.validation import (
    InvalidDocument,
    check,
    parse_duration,
    probe_names,
    validate,
)


def architecture(*entities: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "fogstrat.io/v1alpha1",
        "kind": "Architecture",
        "metadata": {"name": "arch"},
        "spec": {"entities": list(entities), **spec},
    }


def entity(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "fdu": {"name": name}, **fields}


def messages(raw: Any) -> list[str]:
    return [str(p) for p in validate(raw)]


# --- dependency cycles and references -----------------------------------------------------


def test_cycle_through_env_references_is_named() -> None:
    raw = architecture(
        entity("a", env={"B": "{{ entities.b.ip }}"}),
        entity("b", env={"A": "http://{{ entities.a.ip }}:80"}),
    )
    assert messages(raw) == ["spec.entities: dependency cycle a -> b -> a"]


def test_cycle_mixing_depends_on_and_fdu_templates() -> None:
    raw = architecture(
        entity("x", dependsOn=["y"]),
        entity(
            "y", fdu={"name": "y", "command": {"binary": "/bin/y", "args": ["{{ entities.z.id }}"]}}
        ),
        entity("z", env={"X": "{{ entities.x.node }}"}),
    )
    assert "spec.entities: dependency cycle x -> y -> z -> x" in messages(raw)


def test_self_reference_to_placement_attributes_is_not_a_cycle() -> None:
    raw = architecture(entity("peer", replicas=3, env={"PEERS": "{{ entities.peer.ips }}"}))
    assert messages(raw) == []


def test_reference_to_missing_entity_parameter_and_namespace() -> None:
    raw = architecture(
        entity("a", env={"X": "{{ entities.nope.ip }}", "Y": "{{ params.p }}", "Z": "{{ x.y }}"})
    )
    problems = messages(raw)
    assert (
        "spec.entities[0].env.X: {{ entities.nope.ip }}: unknown entity 'nope'; entities: a"
        in problems
    )
    assert any(
        p.startswith("spec.entities[0].env.Y: {{ params.p }}: parameter 'p'") for p in problems
    )
    assert any(
        p.startswith("spec.entities[0].env.Z: {{ x.y }}: unknown namespace 'x'") for p in problems
    )


def test_declared_parameter_and_data_and_environment_references_are_fine() -> None:
    raw = architecture(
        entity(
            "a",
            env={
                "R": "{{ params.rounds }}",
                "D": "{{data.deployPath}}/x",
                "E": "{{ environment.info.region.name }}",
            },
        ),
        parameters={"rounds": {"type": "integer", "default": 3}},
    )
    assert messages(raw) == []


def test_deploy_entity_cannot_depend_on_serve_entity() -> None:
    raw = architecture(entity("s", dependsOn=["c"]), entity("c", phase="serve"))
    assert messages(raw) == [
        "spec.entities[0].dependsOn[0]: deploy-phase entity 's' cannot depend on serve-phase "
        "entity 'c' (serve-phase entities start after deployment)"
    ]


def test_serve_only_architecture_is_invalid() -> None:
    raw = architecture(entity("c", phase="serve"))
    assert messages(raw) == [
        "spec.entities: at least one entity must have phase deploy (the service itself)"
    ]


# --- names, durations, replacements -------------------------------------------------------


@pytest.mark.parametrize("name", ["Upper", "under_score", "-lead", "trail-", "a" * 64, ""])
def test_bad_names(name: str) -> None:
    raw = {
        "apiVersion": "fogstrat.io/v1alpha1",
        "kind": "ActiveStrategy",
        "metadata": {"name": name},
        "spec": {"strategy": name, "environment": "lab"},
    }
    problems = messages(raw)
    assert any(p.startswith("metadata.name: must be a DNS-1123 label") for p in problems)
    assert any(p.startswith("spec.strategy: ") for p in problems)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("5s", 5), ("2m", 120), ("1h30m", 5400), ("1.5s", 1.5), ("1m0.5s", 60.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "5 s", "s", "-1s", "1d", "", "1.s"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
    raw = architecture(entity("a"), health={"interval": text})
    assert any(p.startswith("spec.health.interval: must be a duration") for p in messages(raw))


def test_duplicate_replacements() -> None:
    raw = {
        "apiVersion": "fogstrat.io/v1alpha1",
        "kind": "Strategy",
        "metadata": {"name": "s"},
        "spec": {
            "main": {"architecture": "a"},
            "replacements": [{"architecture": "b"}, {"architecture": "a"}, {"architecture": "b"}],
        },
    }
    assert messages(raw) == [
        "spec.replacements[1].architecture: 'a' repeats the main architecture",
        "spec.replacements[2].architecture: 'b' repeats replacements[0]",
    ]


# --- all problems at once, the exception ---------------------------------------------------


def test_all_problems_are_reported_at_once() -> None:
    raw = {
        "apiVersion": "fogstrat.io/v1beta1",
        "kind": "Strategy",
        "metadata": {"name": "Bad"},
        "spec": {
            "main": {},
            "replacements": [{"architecture": "x"}, {}],
            "policy": {"failback": {"mode": "Sometimes"}, "deployTimeout": "0s"},
        },
    }
    assert messages(raw) == [
        "apiVersion: must be fogstrat.io/v1alpha1 (got 'fogstrat.io/v1beta1')",
        "metadata.name: must be a DNS-1123 label: lower-case letters, digits and '-', starting "
        "and ending with a letter or digit (got 'Bad')",
        "spec.main.architecture: required",
        "spec.policy.failback.mode: must be one of Automatic, Manual (got 'Sometimes')",
        "spec.replacements[1].architecture: required",
        "spec.policy.deployTimeout: must be longer than zero (got '0s')",
    ]


def test_invalid_document_summary_is_one_line() -> None:
    raw = {
        "apiVersion": "fogstrat.io/v1alpha1",
        "kind": "ActiveStrategy",
        "metadata": {"name": "x"},
        "spec": {"serve": "yes please"},
    }
    with pytest.raises(InvalidDocument) as caught:
        parse_document(raw)
    error = caught.value
    assert str(error) == (
        "ActiveStrategy default/x is invalid: spec.environment: required; "
        "spec.serve: must be a boolean, got string 'yes please'; spec.strategy: required"
    )
    assert (error.kind, error.namespace, error.name) == ("ActiveStrategy", "default", "x")
    assert [p.path for p in error.problems] == ["spec.environment", "spec.serve", "spec.strategy"]


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_non_mapping_documents(raw: Any) -> None:
    (problem,) = validate(raw)
    assert "must be an object" in problem.message
    with pytest.raises(InvalidDocument, match=r"^document is invalid: "):
        parse_document(raw)


# --- probes ---------------------------------------------------------------------------------


def test_probe_names_default_and_disambiguation() -> None:
    probes = [
        {"entity": "agg", "http": {"port": 1}},
        {"entity": "agg", "qos": {}},
        {"entity": "w", "tcp": {"port": 1}},
        {"entity": "w", "tcp": {"port": 2}},
        {"name": "agg-state", "entity": "agg", "state": "RUN"},
        {"entity": "agg", "state": "RUN"},
        {"qos": {"prometheus": {}}},
    ]
    assert probe_names(probes) == [
        "agg-http", "agg-qos", "w-tcp-2", "w-tcp-3", "agg-state", "agg-state-5", "qos",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ({"entity": "a"}, "set exactly one of state, http, tcp, qos (got none)"),
        ({"entity": "a", "state": "RUN", "tcp": {"port": 1}}, "(got state, tcp)"),
        ({"entity": "a", "qos": {"field": "f", "min": 1}}, "qos.http: required with field"),
        ({"entity": "a", "qos": {"http": {"port": 1}, "field": "f"}}, "qos: set min, max or both"),
        ({"tcp": {"port": 1}}, "entity: required (only a Prometheus qos probe may omit it)"),
        (
            {"entity": "a", "qos": {"http": {"port": 1}, "field": "f", "min": 3, "max": 2}},
            "min: must not be greater than max (2)",
        ),
    ],
)
def test_probe_shapes(probe: dict[str, Any], expected: str) -> None:
    raw = architecture(entity("a"), health={"probes": [probe]})
    assert any(expected in p for p in messages(raw)), messages(raw)


# --- parsing ---------------------------------------------------------------------------------


def test_parse_architecture_with_defaults() -> None:
    raw = architecture(
        entity(
            "agg", env={"P": "{{ params.port }}"}, requirements={"nodeSelector": {"tier": "cloud"}}
        ),
        entity("worker", replicas=2, fdu={"hypervisor": "BARE", "command": {"binary": "/bin/w"}}),
        parameters={"port": {"type": "integer", "default": 8080}, "name": {}},
        health={
            "interval": "1m30s",
            "probes": [
                {"entity": "agg", "http": {"port": 8080}},
                {
                    "entity": "agg",
                    "qos": {"http": {"port": 8080, "path": "/q"}, "field": "acc", "min": 0.7},
                },
            ],
        },
    )
    original = copy.deepcopy(raw)
    doc = parse_document(raw)
    assert raw == original and doc.raw is raw
    assert doc.kind == "Architecture" and doc.namespace == "default" and doc.name == "arch"
    spec = doc.spec
    assert isinstance(spec, models.ArchitectureSpec)
    assert spec.parameters["port"] == models.Parameter("port", "integer", 8080)
    assert spec.parameters["name"] == models.Parameter("name", "string")
    agg, worker = spec.entities
    assert agg.phase == "deploy" and agg.replicas == 1 and agg.fdu == {"name": "agg"}
    assert agg.requirements == models.Requirements(node_selector={"tier": "cloud"})
    assert worker.fdu["name"] == "worker" and worker.replicas == 2
    assert spec.health.interval == 90.0 and spec.health.timeout == 2.0
    assert spec.health.failure_threshold == 3 and spec.health.success_threshold == 1
    http, qos = spec.health.probes
    assert http == models.ProbeSpec(
        name="agg-http", kind="http", entity="agg", http=models.HttpCheck(port=8080)
    )
    assert qos.name == "agg-qos" and qos.kind == "qos"
    assert qos.qos == models.QosCheck(
        http=models.HttpCheck(port=8080, path="/q"), field="acc", min=0.7
    )


@pytest.mark.parametrize(("value", "expected"), [
    ("0s", "spec.health.startupInterval: must be longer than zero (got '0s')"),
    ("2s", "spec.health.startupInterval: must not be longer than interval (1s)"),
    ("soon", "spec.health.startupInterval: "),
])
def test_bad_startup_interval_is_one_line(value: str, expected: str) -> None:
    raw = architecture(entity("web"), health={"interval": "1s", "timeout": "1s",
                                              "startupInterval": value})
    (problem,) = messages(raw)
    assert problem.startswith(expected) and "\n" not in problem


def test_startup_interval_parsed_or_left_to_the_default() -> None:
    def health(**fields: str) -> models.HealthSpec:
        spec = parse_document(architecture(entity("web"), health=fields)).spec
        assert isinstance(spec, models.ArchitectureSpec)
        return spec.health

    assert health(interval="5s", startupInterval="100ms").startup_interval == 0.1
    assert health(interval="5s").startup_interval is None


def test_parse_strategy_environment_and_active_strategy_defaults() -> None:
    head = {"apiVersion": "fogstrat.io/v1alpha1", "metadata": {"name": "n", "namespace": "ns"}}
    strategy = parse_document({**head, "kind": "Strategy", "spec": {"main": {"architecture": "a"}}})
    assert strategy.namespace == "ns"
    assert strategy.spec == models.StrategySpec(
        main=models.ArchitectureRef("a"), policy=models.StrategyPolicy()
    )
    env = parse_document({**head, "kind": "Environment", "spec": {"locator": "http://h:1"}})
    assert env.spec == models.EnvironmentSpec(driver="fogsim", locator="http://h:1")
    fog05 = parse_document({**head, "kind": "Environment", "spec": {
        "driver": "fog05", "locator": "10.0.0.2:7447", "agentTimeout": "500ms"}})
    assert isinstance(fog05.spec, models.EnvironmentSpec)
    assert fog05.spec.agent_timeout == 0.5
    active = parse_document(
        {
            **head,
            "kind": "ActiveStrategy",
            "spec": {"strategy": "s", "environment": "e", "pin": "b"},
        }
    )
    assert active.spec == models.ActiveStrategySpec(strategy="s", environment="e", pin="b")
    data = parse_document(
        {**head, "kind": "ArchitectureData", "spec": {"architecture": "a", "dataId": "d.1"}}
    )
    assert data.spec == models.ArchitectureDataSpec(architecture="a", data_id="d.1")


# --- templates -------------------------------------------------------------------------------


def test_template_references_and_render() -> None:
    text = "http://{{entities.agg.ip}}:{{ params.port }}/{{ data.dataId }}"
    refs = templates.references(text)
    assert [r.dotted for r in refs] == ["entities.agg.ip", "params.port", "data.dataId"]
    context = {
        "entities": {"agg": {"ip": "10.0.0.1", "ips": ["10.0.0.1", "10.0.0.2"]}},
        "params": {"port": 8080, "on": True},
        "data": {"dataId": "hs"},
    }
    assert templates.render(text, context) == "http://10.0.0.1:8080/hs"
    assert templates.render("{{ entities.agg.ips }} {{ params.on }}", context) == (
        "10.0.0.1 10.0.0.2 true"
    )
    assert templates.render_value({"a": ["{{ params.port }}", 1]}, context) == {"a": ["8080", 1]}
    with pytest.raises(templates.TemplateError, match=r"cannot resolve \{\{ params.nope \}\}"):
        templates.render("{{ params.nope }}", context)
    with pytest.raises(templates.TemplateError, match="malformed"):
        templates.references("{{ a b }}")
    with pytest.raises(templates.TemplateError, match="unbalanced"):
        templates.references("{{ a.b }} {{ c")


# --- documents -------------------------------------------------------------------------------

YAML_TEXT = """\
# comment only document
---
apiVersion: fogstrat.io/v1alpha1
kind: Environment
metadata: {name: lab, annotations: {created: 2024-01-01}}
spec:
  locator: http://127.0.0.1:7070
  info: {region: lab, on: yes, n: 1.5}
---
---
apiVersion: fogstrat.io/v1alpha1
kind: ActiveStrategy
metadata: {name: x}
spec: {strategy: s, environment: lab}
"""


def test_multi_document_yaml_skips_empty_documents_and_keeps_lines() -> None:
    located = documents.load_documents_located(YAML_TEXT, "ex.yaml")
    assert [(d.origin, d.document["kind"]) for d in located] == [
        ("ex.yaml:3", "Environment"),
        ("ex.yaml:11", "ActiveStrategy"),
    ]
    # Timestamps stay strings and scalar keys stay as written, so the document survives JSON.
    env = located[0].document
    assert env["metadata"]["annotations"]["created"] == "2024-01-01"
    assert env["spec"]["info"] == {"region": "lab", "on": True, "n": 1.5}
    assert load_documents("80: http\ntrue: 1\n") == [{"80": "http", "true": 1}]


def test_yaml_and_json_decode_to_the_same_value() -> None:
    (from_yaml, _) = load_documents(YAML_TEXT)
    as_json = documents.dump_json(from_yaml).encode()
    assert decode_value(as_json) == from_yaml
    assert decode_value(documents.dump_yaml(from_yaml).encode()) == from_yaml
    assert decode_value(json.dumps(from_yaml, indent=None)) == from_yaml
    assert json.loads(documents.dump_json(from_yaml, indent=None)) == from_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: [1,\nc: d: e\n", "ex.yaml:3: "),
        ("kind: A\nspec:\n  x: 1\n  x: 2\n", "ex.yaml:4: duplicate key 'x'"),
        ("---\n- 1\n- 2\n", "ex.yaml:2: a document must be a mapping, got int"),
        ('{"a": 1,\n "b": }', "ex.yaml:2: Expecting value"),
        ("a: b\n\tc: d\n", "ex.yaml:2: "),
        ("a: 1\n? [x, y]\n: z\n", "ex.yaml:2: mapping keys must be strings"),
    ],
)
def test_syntax_errors_name_source_and_line(text: str, expected: str) -> None:
    with pytest.raises(DocumentSyntaxError) as caught:
        load_documents(text, "ex.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_kind_list_and_json_arrays_expand() -> None:
    doc = {"kind": "Environment", "metadata": {"name": "a"}}
    assert load_documents(json.dumps([doc, doc])) == [doc, doc]
    assert load_documents(documents.dump_yaml({"kind": "List", "items": [doc]})) == [doc]
    assert documents.dump_yaml_documents([doc, doc]).count("---\n") == 2


def test_decode_value_needs_exactly_one_document() -> None:
    with pytest.raises(DocumentSyntaxError, match="exactly one document, found 2"):
        decode_value(b"a: 1\n---\nb: 2\n")
    with pytest.raises(DocumentSyntaxError, match="not UTF-8"):
        decode_value(b"\xff\xfe")


def test_load_path_file_directory_and_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "b.yaml").write_text("kind: B\n")
    (tmp_path / "a.json").write_text('{"kind": "A"}')
    (tmp_path / "c.yml").write_text("kind: C\n---\nkind: D\n")
    (tmp_path / "notes.txt").write_text("kind: X\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.yaml").write_text("kind: E\n")
    assert [d["kind"] for d in documents.load_path(tmp_path)] == ["A", "B", "C", "D"]
    assert documents.load_path(tmp_path / "b.yaml") == [{"kind": "B"}]
    monkeypatch.setattr("sys.stdin", io.StringIO("kind: S\n"))
    assert documents.load_path("-") == [{"kind": "S"}]
    with pytest.raises(DocumentSyntaxError, match="no such file"):
        documents.load_path(tmp_path / "missing.yaml")


# --- bodies validated once per content -----------------------------------------------------


def active(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
            "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {"strategy": "web", "environment": "lab", **spec}}


def test_documents_that_differ_by_metadata_share_a_body_check_not_its_results() -> None:
    first, second = check(active("one")), check(active("two"))
    assert first["metadata"] == {"name": "one", "labels": {"team": "a"}, "namespace": "default"}
    assert second["metadata"]["name"] == "two"
    assert first["spec"] == second["spec"] and first["spec"] is not second["spec"]
    first["spec"]["strategy"] = "changed"  # a caller's copy: the next one is untouched
    assert check(active("three"))["spec"]["strategy"] == "web"
    bad_name = messages(active("Not_A_Name"))
    assert len(bad_name) == 1 and bad_name[0].startswith("metadata.name:")
    assert messages(active("four", serve="yes")) == messages(active("five", serve="yes"))
    assert messages(active("six", serve="yes")) != []
    assert messages(active("seven")) == []


def test_a_document_that_is_not_json_data_is_still_checked() -> None:
    raw = active("one", strategy=("not", "json"))  # a tuple: no canonical text, no memo
    assert any(m.startswith("spec.strategy:") for m in messages(raw))
