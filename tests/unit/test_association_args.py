"""``associationArgs`` per architecture, and ``{{ association.KEY }}`` in templates."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.models import ActiveStrategySpec, Entity
from controller.api.parse import parse_document
from controller.api.validation import validate
from controller.arch.context import Inputs, build_context, check_bindings
from controller.arch.errors import BindingError
from controller.arch.record import ArchitectureRecord
from controller.arch.templating import render


def active(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "ActiveStrategy",
            "metadata": {"name": "lab"},
            "spec": {"strategy": "prediction", "environment": "lab", **spec}}


def test_each_architecture_gets_the_shared_args_and_its_own() -> None:
    spec = parse_document(active(
        associationArgs={"zone": "z1", "qos": "gold"},
        associationArgsByArchitecture={"gossip-learning": {"zone": "z2"}})).spec
    assert isinstance(spec, ActiveStrategySpec)
    assert spec.association_args_for("federated-learning") == {"zone": "z1", "qos": "gold"}
    assert spec.association_args_for("gossip-learning") == {"zone": "z2", "qos": "gold"}


def test_by_architecture_must_be_objects() -> None:
    problems = [str(p) for p in validate(active(associationArgsByArchitecture={"a": 3}))]
    assert problems and problems[0].startswith("spec.associationArgsByArchitecture.a:")


def _architecture(env: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
            "metadata": {"name": "a"},
            "spec": {"entities": [{"name": "e", "env": env, "fdu": {"name": "e"}}]}}


def test_validation_knows_the_association_namespace() -> None:
    assert validate(_architecture({"Z": "{{ association.zone }}"})) == []
    assert [str(p) for p in validate(_architecture({"Z": "{{ association }}"}))] == [
        "spec.entities[0].env.Z: {{ association }}: expected {{ association.KEY }}"]


def test_render_and_a_missing_key_is_a_binding_error() -> None:
    entity = Entity(name="e", fdu={}, env={"Z": "{{ association.broker.host }}"})
    inputs = Inputs(association={"broker": {"host": "mqtt.local"}})
    check_bindings([entity], inputs)
    ctx = build_context(ArchitectureRecord(), inputs)
    assert render(entity.env["Z"], ctx, entity="e", where="env Z") == "mqtt.local"
    with pytest.raises(BindingError, match=r"association args have no broker\.host"):
        check_bindings([entity], Inputs(association={"broker": {}}))
