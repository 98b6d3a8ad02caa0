"""Node labels: well-known ones from fog05 node info, the Environment's, the fog's own."""

from __future__ import annotations

from typing import Any

from controller.api.models import Entity, EnvironmentSpec, Requirements
from controller.api.parse import parse_document
from controller.api.validation import validate
from controller.arch.placement import plan_placement
from controller.fog.records import node_info_from_record

UUID = "7f1a3b9e-0000-4000-8000-000000000001"


def record(**over: Any) -> dict[str, Any]:
    """A node info record as fog05 0.2 reports it (no labels)."""
    rec: dict[str, Any] = {
        "uuid": UUID, "name": "pi 4 (lab)", "os": "Linux",
        "cpu": [{"model": "Cortex-A72", "frequency": 1500.0, "arch": "arm64"}] * 4,
        "ram": {"size": 4096.0}, "disks": [{"dimension": 32.0}],
        "network": [{"intf_name": "eth0", "intf_configuration": {"ipv4_address": "10.0.0.4"}}],
    }
    rec.update(over)
    return rec


def test_well_known_labels_from_fog05_node_info() -> None:
    info = node_info_from_record(record())
    assert info.labels == {
        "fogstrat.io/arch": "aarch64", "fogstrat.io/os": "linux",
        "fogstrat.io/node-name": "pi-4-lab", "fogstrat.io/node-uuid": UUID,
    }


def test_sources_merge_in_order() -> None:
    central = {"pi 4 (lab)": {"tier": "edge", "site": "a"}, UUID: {"site": "b"},
               "other": {"tier": "cloud"}}
    rec = record(labels={"tier": "fog", "gpu": "no", "fogstrat.io/arch": "x86"})
    labels = node_info_from_record(rec, central).labels
    assert labels["tier"] == "edge"  # the Environment's by name over the fog's own
    assert labels["site"] == "b"  # by uuid over by name
    assert labels["gpu"] == "no"  # the fog's own kept
    assert labels["fogstrat.io/arch"] == "aarch64"  # facts win


def test_a_selector_matches_on_a_fog_without_labels() -> None:
    pi = node_info_from_record(record(), {UUID: {"tier": "edge"}})
    pc = node_info_from_record(record(uuid="u-pc", name="pc", cpu=[{"arch": "amd64"}] * 8))
    ents = [Entity(name="a", fdu={}, requirements=Requirements(node_selector={"tier": "edge"})),
            Entity(name="b", fdu={}, requirements=Requirements(
                node_selector={"fogstrat.io/arch": "x86_64"}))]
    assert plan_placement(ents, [pi, pc], {}).nodes == {("a", 0): UUID, ("b", 0): "u-pc"}


def environment(node_labels: Any) -> dict[str, Any]:
    return {"apiVersion": "fogstrat.io/v1alpha1", "kind": "Environment",
            "metadata": {"name": "lab"},
            "spec": {"driver": "fog05", "locator": "127.0.0.1:7447", "nodeLabels": node_labels}}


def test_environment_node_labels_parse_and_validate() -> None:
    raw = environment({"cloud-1": {"tier": "cloud"}, UUID: {"zone": "z1"}})
    spec = parse_document(raw).spec
    assert isinstance(spec, EnvironmentSpec)
    assert spec.node_labels == {"cloud-1": {"tier": "cloud"}, UUID: {"zone": "z1"}}
    problems = [str(p) for p in validate(environment({"n": {"tier": "no spaces allowed"},
                                                       "m": {"tier": 3}}))]
    assert any(p.startswith("spec.nodeLabels.n.tier: invalid label value") for p in problems)
    assert any(p.startswith("spec.nodeLabels.m.tier:") for p in problems)
