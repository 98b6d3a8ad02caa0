"""Dependency order from template references and dependsOn; cycle errors."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.models import Entity
from controller.arch.errors import CycleError, SpecError
from controller.arch.ordering import dependencies, dependency_order, waves

FDU: dict[str, Any] = {"name": "x", "hypervisor": "BARE", "migration_kind": "COLD",
                       "computation_requirements": {"cpu_arch": "x86_64"}}


def ent(name: str, env: dict[str, str] | None = None, deps: tuple[str, ...] = (),
        phase: str = "deploy", fdu: dict[str, Any] | None = None) -> Entity:
    return Entity(name=name, fdu=fdu or FDU, env=env or {}, depends_on=deps,
                  phase=phase)  # type: ignore[arg-type]


def test_env_refs_and_depends_on() -> None:
    c = ent("c", {"A": "{{ entities.a.ip }}:80", "B": "{{entities.b.ips}}"}, deps=("d",))
    assert dependencies(c) == ["a", "b", "d"]


def test_self_reference_is_no_dependency() -> None:
    assert dependencies(ent("a", {"ME": "{{ entities.a.ip }}"})) == []


def test_fdu_string_refs_count() -> None:
    fdu = {**FDU, "command": {"binary": "/bin/x", "args": ["--peer={{ entities.p.ip }}"]}}
    assert dependencies(ent("c", fdu=fdu)) == ["p"]


def test_order_is_topological_and_deterministic() -> None:
    ents = [
        ent("client", {"S": "{{ entities.agg.ip }}"}, phase="serve"),
        ent("worker", {"A": "{{ entities.agg.ip }}"}),
        ent("agg", {"R": "{{ params.rounds }}"}),
        ent("db"),
    ]
    assert waves(ents) == [["agg", "db"], ["client", "worker"]]
    assert dependency_order(ents) == ["agg", "db", "client", "worker"]
    assert dependency_order(list(reversed(ents))) == ["db", "agg", "worker", "client"]


def test_chain_depth() -> None:
    ents = [ent("c", deps=("b",)), ent("b", deps=("a",)), ent("a")]
    assert waves(ents) == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("ents", "cycle"),
    [
        ([ent("a", deps=("a",))], None),  # self dependsOn is dropped, not a cycle
        ([ent("a", deps=("b",)), ent("b", deps=("a",))], ["a", "b", "a"]),
        (
            [ent("a", {"X": "{{ entities.c.ip }}"}), ent("b", deps=("a",)), ent("c", deps=("b",))],
            ["a", "c", "b", "a"],
        ),
    ],
)
def test_cycles(ents: list[Entity], cycle: list[str] | None) -> None:
    if cycle is None:
        assert dependency_order(ents) == ["a"]
        return
    with pytest.raises(CycleError) as err:
        dependency_order(ents)
    assert err.value.cycle == cycle
    assert " -> ".join(cycle) in str(err.value)


def test_unknown_entity() -> None:
    with pytest.raises(SpecError, match="unknown entity 'ghost'"):
        waves([ent("a", {"X": "{{ entities.ghost.ip }}"})])


def test_deploy_cannot_depend_on_serve() -> None:
    with pytest.raises(SpecError, match="serve-phase"):
        waves([ent("a", deps=("c",)), ent("c", phase="serve")])


def test_malformed_template_is_spec_error() -> None:
    with pytest.raises(SpecError):
        dependencies(ent("a", {"X": "{{ entities.b.ip"}))
