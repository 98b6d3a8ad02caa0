"""Published fog05 0.2 descriptors, pasted as they are: accepted, ids derived from the
user's own, ``name`` kept, and fog05's own FDU model run by ``fogstrat validate``."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from controller.api.models import Entity
from controller.api.validation import validate
from controller.arch.descriptor import build_descriptor
from controller.arch.fdu_model import fog05_model_problems
from controller.arch.ids import MAX_ID_LENGTH, ArchitectureKey, fdu_uuid, owns, replica_fdu
from controller.fog.client import InvalidDescriptor
from controller.fog.fog05_compat import fdu_from_descriptor
from tests.support.cli import Cli
from tests.support.fogsim import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fog05-descriptors"
PUBLISHED = sorted(FIXTURES.glob("*.json"))
KEY = ArchitectureKey("default", "lab", "edge")


def published(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def architecture(*fdus: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "fogstrat.io/v1alpha1", "kind": "Architecture",
        "metadata": {"name": "edge"},
        "spec": {"entities": [{"name": f"e{i}", "fdu": fdu} for i, fdu in enumerate(fdus)]},
    }


def test_the_fixtures_cover_four_hypervisors() -> None:
    assert {published(p.name)["hypervisor"] for p in PUBLISHED} == {
        "BARE", "LXD", "KVM", "DOCKER"}


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_a_published_descriptor_is_valid_as_pasted(path: Path) -> None:
    raw = architecture(published(path.name))
    assert validate(raw) == []
    assert fog05_model_problems(raw) == []


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_the_descriptor_onboarded_keeps_the_users_id_name_and_uuid(path: Path) -> None:
    fdu = published(path.name)
    ref = replica_fdu(KEY, "e", fdu, 0)
    descriptor = build_descriptor(Entity(name="e", fdu=fdu), ref.id)
    assert descriptor["id"] == ref.id == f"fs.default.lab.edge.e.0.{fdu['id']}"
    assert owns(KEY, ref.id)
    assert descriptor["name"] == fdu["name"]
    assert descriptor["uuid"] == ref.uuid == fdu_uuid(ref.id)
    assert fdu_from_descriptor(descriptor).get_uuid() == ref.uuid  # fog05 agrees


def test_derived_ids_are_unique_per_strategy_architecture_and_replica() -> None:
    fdu = published("fdu_lxd.json")
    refs = {replica_fdu(ArchitectureKey("default", s, a), e, fdu, r)
            for s in ("lab", "prod") for a in ("edge", "cloud") for e in ("e", "f")
            for r in (0, 1)}
    assert len({r.id for r in refs}) == len({r.uuid for r in refs}) == 16
    assert replica_fdu(KEY, "e", fdu, 0) == replica_fdu(KEY, "e", copy.deepcopy(fdu), 0)


def test_a_user_uuid_is_the_namespace_of_the_derived_one() -> None:
    fdu = {**published("fdu_lxd.json"), "uuid": "1e57bb0e-cb41-4b23-bca3-1fa761a83c02"}
    ref = replica_fdu(KEY, "e", fdu, 0)
    assert ref.uuid == str(uuid.uuid5(uuid.UUID(fdu["uuid"]), ref.id))
    assert ref.uuid != replica_fdu(KEY, "e", published("fdu_lxd.json"), 0).uuid
    assert build_descriptor(Entity(name="e", fdu=fdu), ref.id)["uuid"] == ref.uuid


def test_a_long_user_id_is_hashed_to_fit() -> None:
    fdu = {"id": "an-id-much-too-long-to-fit-beside-the-owner-" * 3}
    ref = replica_fdu(KEY, "e", fdu, 0)
    assert len(ref.id) <= MAX_ID_LENGTH and owns(KEY, ref.id)
    assert ref != replica_fdu(KEY, "e", {"id": fdu["id"] + "x"}, 0)


def test_name_defaults_to_the_entity_name() -> None:
    fdu = {k: v for k, v in published("fdu_zenod.json").items() if k != "name"}
    assert build_descriptor(Entity(name="zenohd", fdu=fdu), "x")["name"] == "zenohd"


def test_a_uuid_that_is_no_uuid_is_reported() -> None:
    raw = architecture({**published("fdu_lxd.json"), "uuid": "not-a-uuid"})
    assert [str(p) for p in validate(raw)] == [
        "spec.entities[0].fdu.uuid: must be a UUID, as fog05's FDU model requires "
        "(got 'not-a-uuid'); or leave it out"
    ]


BROKEN: list[tuple[str, Any, str]] = [
    ("interfaces", [{"name": "eth0", "is_mgmt": False, "if_type": "WIRELESS",
                     "virtual_interface": {"intf_type": "VIRTIO", "vpci": "0:0:0",
                                           "bandwidth": 10}}],
     "spec.entities[0].fdu.interfaces[0].if_type: rejected by fog05's FDU model: if_type must "
     "be of a type compatible with intf_t"),
    ("computation_requirements", {"cpu_arch": "x86_64", "ram_size_mb": "lots"},
     "spec.entities[0].fdu.computation_requirements.ram_size_mb: rejected by fog05's FDU "
     "model: must be a number"),
    ("computation_requirements", {"ram_size_mb": 64},
     "spec.entities[0].fdu.computation_requirements.cpu_arch: rejected by fog05's FDU model: "
     "FDU.Computation_Requirements.CPU_Arch cannot be empty"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_fog05s_own_model_names_the_field(field: str, value: Any, expected: str) -> None:
    fdu = {**published("fdu_lxd.json"), field: value}
    raw = architecture(fdu)
    assert validate(raw) == []  # fogstrat's own rules cannot see these
    assert [str(p) for p in fog05_model_problems(raw)] == [expected]


def test_a_bad_item_in_a_list_is_named_by_index() -> None:
    fdu = published("fdu_lxd.json")
    fdu["interfaces"] = [fdu["interfaces"][0], {**fdu["interfaces"][0], "name": "eth1",
                                                "is_mgmt": "maybe"}]
    assert [str(p) for p in fog05_model_problems(architecture(fdu))] == [
        "spec.entities[0].fdu.interfaces[1].is_mgmt: rejected by fog05's FDU model: is_mgmt "
        "must be of a type compatible with boolean"
    ]
    with pytest.raises(InvalidDescriptor, match=r"rejected by fog05 at interfaces\[1\]\.is_mgmt"):
        fdu_from_descriptor(build_descriptor(Entity(name="e", fdu=fdu), "x"))


def test_fogstrat_validate_runs_fog05s_model(tmp_path: Path) -> None:
    cli = Cli(f"127.0.0.1:{free_port()}", "/nowhere")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(architecture(*(published(p.name) for p in PUBLISHED))))
    assert cli.ok("validate", "-f", str(good)).out.strip() == \
        "architecture.fogstrat.io/edge valid (namespace default)"
    bad = tmp_path / "bad.json"
    kvm = published("fdu_kvm_nonet.json")
    kvm["computation_requirements"]["storage_size_gb"] = "3 GB"
    bad.write_text(json.dumps(architecture(kvm)))
    res = cli.run("validate", "-f", str(bad))
    assert res.rc == 1 and res.out == ""
    assert res.err.splitlines() == [
        f"error: {bad}:1: Architecture default/edge: "
        "spec.entities[0].fdu.computation_requirements.storage_size_gb: rejected by fog05's "
        "FDU model: must be a number"
    ]
