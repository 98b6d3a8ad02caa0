"""configure() parameter validation, binding checks and template resolution."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from controller.api.models import (
    ArchitectureDataSpec,
    ArchitectureSpec,
    Entity,
    EnvironmentSpec,
    Parameter,
    Requirements,
)
from controller.arch.context import Inputs, build_context, check_bindings
from controller.arch.declarative import DeclarativeArchitecture
from controller.arch.descriptor import build_descriptor
from controller.arch.errors import BindingError, ConfigError, LifecycleError, SpecError
from controller.arch.ids import MAX_ID_LENGTH, ArchitectureKey, fdu_id, fdu_uuid, owns
from controller.arch.params import validate_config
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.arch.templating import render

PARAMS = {
    "rounds": Parameter("rounds", "integer", default=10),
    "rate": Parameter("rate", "number"),
    "mode": Parameter("mode", "string", required=True),
    "debug": Parameter("debug", "boolean", default=False),
}


def test_config_defaults_and_types() -> None:
    assert validate_config(PARAMS, {"mode": "fast", "rate": 1}) == {
        "rounds": 10, "rate": 1, "mode": "fast", "debug": False}
    assert validate_config(PARAMS, {"mode": "x", "rate": 0.5, "rounds": 3})["rounds"] == 3


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "parameter mode is required"),
        ({"mode": "x", "typo": 1}, "unknown parameter(s) typo"),
        ({"mode": 3}, "parameter mode must be string, got int 3"),
        ({"mode": "x", "rounds": "3"}, "parameter rounds must be integer"),
        ({"mode": "x", "rounds": True}, "parameter rounds must be integer"),
        ({"mode": "x", "rounds": 1.5}, "parameter rounds must be integer"),
        ({"mode": "x", "rate": False}, "parameter rate must be number"),
        ({"mode": "x", "debug": "yes"}, "parameter debug must be boolean"),
    ],
)
def test_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(PARAMS, config)
    assert message in str(err.value)


def test_configure_enforces_lifecycle() -> None:
    arch = DeclarativeArchitecture(ArchitectureKey("ns", "as", "a"), ArchitectureSpec(PARAMS))
    with pytest.raises(ConfigError):
        arch.configure({})
    assert arch.state.value == "new"
    arch.configure({"mode": "m"})
    assert arch.params["mode"] == "m" and arch.state.value == "configured"
    with pytest.raises(LifecycleError, match="cannot configure an architecture that is configured"):
        arch.configure({"mode": "m"})
    with pytest.raises(LifecycleError, match="cannot deploy"):
        arch.deploy()


FDU = {"name": "x", "hypervisor": "BARE", "migration_kind": "COLD",
       "computation_requirements": {"cpu_arch": "x86_64"},
       "command": {"binary": "/usr/bin/python3", "args": ["{{ data.deployPath }}/w.py"]}}
ENV = EnvironmentSpec("fogsim", "http://x", info={"region": "eu", "deep": {"k": 1}},
                      directives={"zone": "z1"})
DATA = ArchitectureDataSpec("a", "hydraulic", deploy_path="/data/d", serve_path=None)


def ent(env: dict[str, str], name: str = "w", fdu: dict[str, Any] | None = None) -> Entity:
    return Entity(name=name, fdu=fdu or {k: v for k, v in FDU.items() if k != "command"},
                  env=env)


def test_bindings_ok() -> None:
    e = ent({"R": "{{ params.rounds }}", "D": "{{ data.deployPath }}", "I": "{{ data.dataId }}",
             "G": "{{ environment.info.region }}", "K": "{{ environment.info.deep.k }}",
             "Z": "{{ environment.directives.zone }}", "A": "{{ entities.agg.ips }}",
             "ME": "{{ entities.w.ip }}"}, fdu=FDU)
    check_bindings([e], Inputs({"rounds": 3}, ENV, DATA))


@pytest.mark.parametrize(
    ("env", "inputs", "error", "message"),
    [
        ({"D": "{{ data.deployPath }}"}, Inputs({}, ENV, None), BindingError,
         "no ArchitectureData is bound"),
        ({"D": "{{ data.servePath }}"}, Inputs({}, ENV, DATA), BindingError,
         "ArchitectureData 'hydraulic' has no servePath"),
        ({"R": "{{ params.nope }}"}, Inputs({}, ENV, DATA), BindingError,
         "parameter nope has no value"),
        ({"G": "{{ environment.info.zone }}"}, Inputs({}, ENV, DATA), BindingError,
         "the Environment has no info.zone"),
        ({"X": "{{ entities.a.colour }}"}, Inputs({}, ENV, DATA), SpecError,
         "use entities.<name>"),
        ({"X": "{{ entities.w.id }}"}, Inputs({}, ENV, DATA), SpecError,
         "can only read its own"),
        ({"X": "{{ secrets.k }}"}, Inputs({}, ENV, DATA), SpecError, "unknown reference"),
    ],
)
def test_binding_errors(env: dict[str, str], inputs: Inputs, error: type[Exception],
                        message: str) -> None:
    with pytest.raises(error) as err:
        check_bindings([ent(env)], inputs)
    assert message in str(err.value) and str(err.value).startswith("w: bind: env ")


def test_fdu_string_binding_checked() -> None:
    with pytest.raises(BindingError, match=r"fdu command.args.0: data.deployPath"):
        check_bindings([ent({}, fdu=FDU)], Inputs({}, ENV, None))


def rec(ip: str, node: str, iid: str | None) -> ReplicaRecord:
    return ReplicaRecord("f", "u", node_id=node, node_name="n-" + node, node_ip=ip,
                         instance_id=iid)


def test_render_from_record_and_inputs() -> None:
    record = ArchitectureRecord()
    record.put("agg", 0, rec("127.0.10.1", "n1", "i1"))
    record.put("w", 0, rec("127.0.10.2", "n2", "i2"))
    record.put("w", 1, rec("127.0.10.3", "n3", None))  # placed, not yet defined
    ctx = build_context(record, Inputs({"rounds": 3}, ENV, DATA))

    def r(template: str) -> str:
        return render(template, ctx, entity="x", where="env X")

    assert r("http://{{ entities.agg.ip }}:8080") == "http://127.0.10.1:8080"
    assert r("{{ entities.w.ips }}") == "127.0.10.2 127.0.10.3"
    assert r("{{ entities.w.ips | join(',') }}") == "127.0.10.2,127.0.10.3"
    assert r("{{ entities.w.nodes | join(':') }}|{{ entities.agg.node }}") == "n2:n3|n1"
    assert r("{{ entities.agg.id }} {{ entities.agg.instance }}") == "i1 i1"
    assert r("{{ params.rounds }} {{ data.deployPath }} {{ data.dataId }}") == "3 /data/d hydraulic"
    assert r("{{ environment.info.region }}/{{ environment.directives.zone }}") == "eu/z1"
    with pytest.raises(BindingError, match=r"x: render: env X: .*instance"):
        r("{{ entities.w.instances }}")  # not all replicas have an instance yet


def test_descriptor() -> None:
    e = Entity(name="w", fdu=FDU, env={}, requirements=Requirements(ram_mb=300, min_cores=2))
    key = ArchitectureKey("default", "prediction-lab", "federated")
    did = fdu_id(key, "w", 0)
    d = build_descriptor(e, did, {"data": {"deployPath": "/srv"}})
    assert d["id"] == did == "fs.default.prediction-lab.federated.w.0"
    assert d["uuid"] == fdu_uuid(did) and d["name"] == FDU["name"]  # the user's name kept
    assert d["command"]["args"] == ["/srv/w.py"]
    assert d["computation_requirements"] == {"cpu_arch": "x86_64", "ram_size_mb": 300.0,
                                             "cpu_min_count": 2}
    assert FDU["command"]["args"] == ["{{ data.deployPath }}/w.py"]  # type: ignore[index]


def test_ids_deterministic_bounded_and_owned() -> None:
    key = ArchitectureKey("default", "s", "a")
    assert fdu_id(key, "e", 1) == fdu_id(ArchitectureKey("default", "s", "a"), "e", 1)
    assert fdu_id(key, "e", 1) != fdu_id(key, "e", 2)
    long = ArchitectureKey("n" * 63, "s" * 63, "a" * 63)
    ids = {fdu_id(long, "e" * 63 + str(i), r) for i in range(3) for r in range(3)}
    assert len(ids) == 9 and all(len(i) <= MAX_ID_LENGTH for i in ids)
    assert all(owns(long, i) for i in ids) and not owns(key, next(iter(ids)))
    # separators cannot collide: "a-b"+"c" vs "a"+"b-c"
    assert fdu_id(ArchitectureKey("a-b", "c", "x"), "e", 0) != fdu_id(
        ArchitectureKey("a", "b-c", "x"), "e", 0)
    # fog05's own derivation
    assert fdu_uuid("x") == str(uuid.uuid5(uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8"), "x"))


def test_record_round_trip() -> None:
    record = ArchitectureRecord(state="deployed")
    record.put("agg", 0, rec("127.0.10.1", "n1", "i1"))
    record.put("w", 2, rec("127.0.10.3", "n3", None))
    data = json.loads(json.dumps(record.to_dict()))
    assert ArchitectureRecord.from_dict(data) == record
    assert record.placement() == {"agg": ["n-n1"], "w": ["n-n3"]}
    assert record.instance_ids() == {"agg": ["i1"], "w": [None]}
