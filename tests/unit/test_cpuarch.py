"""CPU architecture aliases: one normalization used by placement, validation and fogsim."""

from __future__ import annotations

from pathlib import Path

import pytest
from fogsim.engine import Engine, Incompatible
from fogsim.nodes import NodeSpec

from controller.api.cpuarch import normalize_arch, same_arch
from controller.api.models import Entity, Requirements
from controller.api.validation import validate
from controller.arch.errors import PlacementError
from controller.arch.placement import plan_placement
from controller.fog.client import NodeInfo


@pytest.mark.parametrize(("alias", "canonical"), [
    ("x86_64", "x86_64"), ("amd64", "x86_64"), ("AMD64 ", "x86_64"),
    ("aarch64", "aarch64"), ("arm64", "aarch64"),
    ("armv7l", "arm"), ("armhf", "arm"), ("arm", "arm"),
    ("riscv64", "riscv64"),
])
def test_aliases_name_one_architecture(alias: str, canonical: str) -> None:
    assert normalize_arch(alias) == canonical


def test_different_architectures_stay_different() -> None:
    assert not same_arch("arm64", "armhf")
    assert not same_arch("amd64", "aarch64")


def _node(name: str, arch: str) -> NodeInfo:
    return NodeInfo(uuid=f"u-{name}", name=name, cpu_arch=arch, cores=2, ram_mb=1024,
                    disk_gb=10, ip="127.0.10.1")


@pytest.mark.parametrize(("asked", "node_arch"), [
    ("arm64", "aarch64"), ("aarch64", "arm64"), ("amd64", "x86_64"), ("armhf", "armv7l"),
])
def test_placement_compares_normalized(asked: str, node_arch: str) -> None:
    nodes = [_node("other", "riscv64"), _node("match", node_arch)]
    by_req = Entity(name="a", fdu={}, requirements=Requirements(cpu_arch=asked))
    by_fdu = Entity(name="b", fdu={"computation_requirements": {"cpu_arch": asked}})
    plan = plan_placement([by_req, by_fdu], nodes, {})
    assert set(plan.nodes.values()) == {"u-match"}


def test_placement_still_rules_out_another_architecture() -> None:
    with pytest.raises(PlacementError, match="cpu arm64"):
        plan_placement([Entity(name="a", fdu={}, requirements=Requirements(cpu_arch="arm64"))],
                       [_node("pc", "amd64")], {})


def _arch_doc(cpu_arch: str, fdu_arch: str) -> dict[str, object]:
    return {
        "apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
        "metadata": {"name": "a"},
        "spec": {"entities": [{
            "name": "e", "requirements": {"cpuArch": cpu_arch},
            "fdu": {"computation_requirements": {"cpu_arch": fdu_arch}},
        }]},
    }


def test_validation_accepts_two_spellings_of_one_architecture() -> None:
    assert validate(_arch_doc("arm64", "aarch64")) == []


def test_validation_reports_contradicting_architectures() -> None:
    problems = [str(p) for p in validate(_arch_doc("arm64", "amd64"))]
    assert problems == [
        "spec.entities[0].requirements.cpuArch: 'arm64' contradicts "
        "fdu.computation_requirements.cpu_arch 'amd64' (aarch64 vs x86_64)"
    ]


def test_fogsim_engine_uses_the_same_aliases(tmp_path: Path) -> None:
    engine = Engine([NodeSpec(name="pi", ip="127.0.10.3", arch="armv7l", cores=4,
                              ram_mb=2048)], no_processes=True, workdir=tmp_path)
    try:
        for fid, arch in (("hf", "armhf"), ("x", "amd64")):
            engine.onboard({"id": fid, "name": fid, "hypervisor": "BARE",
                            "migration_kind": "COLD", "command": {"binary": "/bin/true"},
                            "computation_requirements": {"cpu_arch": arch}})
        assert engine.define("hf", "pi")["status"] == "DEFINE"
        with pytest.raises(Incompatible):
            engine.define("x", "pi")
    finally:
        engine.close()
