"""fogsim engine: state machine table, catalog, uuids, capacity (no processes)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fogsim.engine import (
    TRANSITIONS,
    Engine,
    IllegalTransition,
    Incompatible,
    InUse,
    InvalidDescriptor,
    NotFound,
    State,
    fdu_uuid_for,
    parse_env,
)
from fogsim.nodes import NodesFileError, NodeSpec, load_nodes, node_uuid, parse_nodes

EXAMPLE = Path(__file__).resolve().parents[2] / "hack" / "fogsim" / "nodes.yaml"
ACTIONS = ["configure", "start", "stop", "clean", "undefine"]
STATES = [s.value for s in State]


def descriptor(fid: str = "web", **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": fid,
        "name": fid,
        "hypervisor": "LXD",
        "migration_kind": "COLD",
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 512,
                                     "storage_size_gb": 2},
    }
    d.update(over)
    return d


@pytest.fixture
def nodes() -> list[NodeSpec]:
    return [
        NodeSpec(name="big", ip="127.0.10.1", cores=8, ram_mb=4096, disk_gb=100,
                 labels={"tier": "cloud"}),
        NodeSpec(name="small", ip="127.0.10.2", cores=1, ram_mb=1024, disk_gb=4),
        NodeSpec(name="arm", ip="127.0.10.3", arch="aarch64", cores=4, ram_mb=2048),
    ]


@pytest.fixture
def engine(nodes: list[NodeSpec], tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(nodes, no_processes=True, workdir=tmp_path)
    yield eng
    eng.close()


def _drive(engine: Engine, iid: str, state: str) -> None:
    """Put a fresh DEFINE instance into ``state`` through legal steps."""
    steps = {"DEFINE": [], "CONFIGURE": ["configure"], "RUN": ["configure", "start"],
             "ERROR": ["configure", "start"]}[state]
    for step in steps:
        getattr(engine, step)(iid)
    if state == "ERROR":
        engine.crash(iid)
    assert engine.instance_info(iid)["status"] == state


EXPECTED = {
    ("DEFINE", "configure"): "CONFIGURE",
    ("CONFIGURE", "start"): "RUN",
    ("RUN", "stop"): "CONFIGURE",
    ("CONFIGURE", "clean"): "DEFINE",
    ("ERROR", "clean"): "DEFINE",
    ("DEFINE", "undefine"): None,
}


def test_table_matches_expected() -> None:
    table = {(src.value, action): (tgt.value if tgt else None)
             for action, (srcs, tgt) in TRANSITIONS.items() for src in srcs}
    assert table == EXPECTED


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition(engine: Engine, state: str, action: str) -> None:
    engine.onboard(descriptor())
    iid = engine.define("web", "big")["uuid"]
    _drive(engine, iid, state)
    call: Callable[[str], dict[str, Any]] = getattr(engine, action)
    if (state, action) in EXPECTED:
        record = call(iid)
        target = EXPECTED[(state, action)]
        if target is None:
            assert record["status"] == "UNDEFINE"
            with pytest.raises(NotFound):
                engine.instance_info(iid)
        else:
            assert record["status"] == target
            assert engine.instance_info(iid)["status"] == target
            assert record["error_code"] == 0
    else:
        with pytest.raises(IllegalTransition) as exc:
            call(iid)
        assert exc.value.current == state
        assert exc.value.requested == action
        assert engine.instance_info(iid)["status"] == state


@pytest.mark.parametrize("state", STATES)
def test_crash_from_any_state_and_forced_undefine(engine: Engine, state: str) -> None:
    engine.onboard(descriptor())
    iid = engine.define("web", "big")["uuid"]
    _drive(engine, iid, state)
    rec = engine.crash(iid)
    assert (rec["status"], rec["error_code"]) == ("ERROR", -9)
    assert "fault injection" in rec["error_msg"]
    assert engine.undefine(iid, force=True)["status"] == "UNDEFINE"
    assert engine.instances_of("web") == {}


def test_unknown_instance_is_not_found(engine: Engine) -> None:
    for action in [*ACTIONS, "instance_info", "crash"]:
        with pytest.raises(NotFound):
            getattr(engine, action)("nope")


def test_deterministic_fdu_uuid_and_idempotent_onboard(engine: Engine) -> None:
    expected = str(uuid.uuid5(uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8"), "web"))
    assert fdu_uuid_for("web") == expected
    first = engine.onboard(descriptor())
    second = engine.onboard(descriptor(description="v2"))
    assert first["uuid"] == second["uuid"] == expected
    assert engine.list_fdus() == [expected]
    assert engine.fdu_info(expected)["description"] == "v2"
    assert engine.fdu_info("web")["uuid"] == expected  # by descriptor id too
    given = str(uuid.uuid4())
    assert engine.onboard(descriptor("other", uuid=given))["uuid"] == given


@pytest.mark.parametrize("bad", [
    {"name": "x"},
    descriptor(hypervisor="bare"),
    descriptor(migration_kind="WARM"),
    descriptor(computation_requirements={}),
    descriptor(uuid="not-a-uuid"),
    descriptor(hypervisor="BARE", command={"binary": "python3"}),
    "not an object",
])
def test_invalid_descriptors(engine: Engine, bad: Any) -> None:
    with pytest.raises(InvalidDescriptor):
        engine.onboard(bad)
    assert engine.list_fdus() == []


def test_offload_refused_while_instances_exist(engine: Engine) -> None:
    uid = engine.onboard(descriptor())["uuid"]
    iid = engine.define(uid, "big")["uuid"]
    with pytest.raises(InUse) as exc:
        engine.offload(uid)
    assert exc.value.instances == [iid]
    engine.undefine(iid)
    assert engine.offload(uid) == uid
    with pytest.raises(NotFound):
        engine.fdu_info(uid)


def test_define_checks(engine: Engine) -> None:
    engine.onboard(descriptor())
    with pytest.raises(NotFound):
        engine.define("web", "no-such-node")
    with pytest.raises(NotFound):
        engine.define("no-such-fdu", "big")
    with pytest.raises(Incompatible):
        engine.define("web", "arm")
    engine.onboard(descriptor("armfdu", computation_requirements={"cpu_arch": "arm64"}))
    assert engine.define("armfdu", "arm")["status"] == "DEFINE"  # arm64 == aarch64


def test_capacity_accounting(engine: Engine) -> None:
    engine.onboard(descriptor())  # 512 MB, 2 GB
    small = engine.node_info("small")["uuid"]
    assert engine.node_status(small)["ram"] == {"total": 1024.0, "free": 1024.0}
    a = engine.define("web", "small")["uuid"]
    b = engine.define("web", "small")["uuid"]
    c = engine.define("web", "small")["uuid"]
    assert engine.node_status("small")["ram"]["free"] == 1024.0  # DEFINE holds nothing
    engine.configure(a)
    st = engine.node_status("small")
    assert st["ram"]["free"] == 512.0 and st["disk"][0]["free"] == 2.0
    engine.start(a)
    engine.configure(b)
    st = engine.node_status("small")
    assert st["ram"]["free"] == 0.0 and st["disk"][0]["free"] == 0.0
    assert st["overcommitted"] is False
    engine.configure(c)  # fog05 0.2 does not check capacity: accepted, reported
    st = engine.node_status("small")
    assert st["ram"]["free"] == 0.0 and st["overcommitted"] is True
    engine.crash(c)  # ERROR holds nothing
    assert engine.node_status("small")["overcommitted"] is False
    engine.stop(a)
    engine.clean(a)
    engine.clean(b)
    assert engine.node_status("small")["ram"]["free"] == 1024.0


def test_instances_of_and_records(engine: Engine) -> None:
    uid = engine.onboard(descriptor())["uuid"]
    big, small = engine.node_info("big")["uuid"], engine.node_info("small")["uuid"]
    i1 = engine.define(uid, "big")
    i2 = engine.define(uid, small)
    i3 = engine.define(uid, "big")
    assert engine.instances_of("web") == {big: [i1["uuid"], i3["uuid"]], small: [i2["uuid"]]}
    assert {"uuid", "fdu_id", "node", "status", "error_code", "error_msg",
            "hypervisor_info"} <= set(i1)
    assert i1["fdu_id"] == uid and i1["node"] == big and i1["node_ip"] == "127.0.10.1"
    assert i1["hypervisor_info"]["simulated"] is True
    engine.configure(i1["uuid"])
    rec = engine.start(i1["uuid"], {"A": 1, "B": "x"})
    assert rec["env"] == {"A": "1", "B": "x"}
    assert engine.instance_log(i1["uuid"]) == ""


def test_the_stored_listing_follows_every_change(engine: Engine) -> None:
    """The fog-wide listing served from stored records equals one rendered afresh after
    each kind of change (a field change that kept a stale record would show here)."""
    def same() -> None:
        assert json.loads(engine.all_instances_json()) == engine.all_instances()

    engine.onboard(descriptor())
    a = engine.define("web", "big")["uuid"]
    b = engine.define("web", "small")["uuid"]
    same()
    engine.configure(a)
    same()
    engine.start(a, {"A": 1})
    same()
    engine.crash(a)
    same()
    engine.clean(a)
    same()
    engine.undefine(b)
    same()
    engine.node_down("big")
    same()
    assert json.loads(engine.all_instances_json()) == []


def test_node_down_and_up(engine: Engine) -> None:
    engine.onboard(descriptor())
    iid = engine.define("web", "big")["uuid"]
    other = engine.define("web", "small")["uuid"]
    big = engine.node_info("big")["uuid"]
    out = engine.node_down("big")
    assert out == {"node": big, "name": "big", "up": False, "removed_instances": [iid]}
    assert big not in engine.node_list()
    for call in (engine.node_info, engine.node_status):
        with pytest.raises(NotFound):
            call("big")
    with pytest.raises(NotFound):
        engine.instance_info(iid)
    with pytest.raises(NotFound):
        engine.define("web", "big")
    assert engine.node_down(big)["up"] is False  # idempotent, by uuid
    assert engine.instance_info(other)["status"] == "DEFINE"
    assert engine.node_up("big")["up"] is True
    assert big in engine.node_list()
    assert engine.node_status("big")["ram"]["free"] == 4096.0
    assert engine.instances_of("web") == {engine.node_info("small")["uuid"]: [other]}


def test_node_info_shape(engine: Engine) -> None:
    info = engine.node_info("big")
    assert info["uuid"] == node_uuid("big") and info["name"] == "big"
    assert len(info["cpu"]) == 8 and info["cpu"][0]["arch"] == "x86_64"
    assert set(info["cpu"][0]) == {"model", "frequency", "arch"}
    assert info["ram"] == {"size": 4096.0}
    assert set(info["disks"][0]) == {"local_address", "dimension", "mount_point", "filesystem"}
    assert info["network"][0]["intf_configuration"]["ipv4_address"] == "127.0.10.1"
    assert info["io"] == [] and info["accelerator"] == []
    assert info["labels"] == {"tier": "cloud"}
    status = engine.node_status("big")
    assert set(status) >= {"uuid", "ram", "disk", "neighbors"}


def test_example_nodes_file_is_heterogeneous() -> None:
    specs = load_nodes(EXAMPLE)
    assert len(specs) >= 5
    assert len({s.arch for s in specs}) >= 2
    assert len({s.cores for s in specs}) >= 2
    assert len({s.ram_mb for s in specs}) >= 3
    assert len({s.ip for s in specs}) == len(specs)
    assert all(s.ip.startswith("127.0.10.") for s in specs)


@pytest.mark.parametrize("bad", [
    [],
    [{"ip": "127.0.10.1"}],
    [{"name": "a", "ip": "10.0.0.1"}],
    [{"name": "a", "cores": 0}],
    [{"name": "a", "ramMB": "lots"}],
    [{"name": "a", "ip": "127.0.10.1"}, {"name": "b", "ip": "127.0.10.1"}],
    [{"name": "a"}, {"name": "a", "ip": "127.0.10.99"}],
])
def test_bad_nodes_files(bad: Any) -> None:
    with pytest.raises(NodesFileError):
        parse_nodes({"nodes": bad})


def test_parse_env() -> None:
    assert parse_env("A=1,B=2") == {"A": "1", "B": "2"}
    assert parse_env({"A": 1}) == {"A": "1"}
    assert parse_env(None) == {}
    with pytest.raises(ValueError):
        parse_env("novalue")


def test_scale_2000_instances_on_50_nodes(tmp_path: Path) -> None:
    specs = [NodeSpec(name=f"n{i}", ip=f"127.0.11.{i + 1}", ram_mb=1 << 20) for i in range(50)]
    with Engine(specs, no_processes=True, workdir=tmp_path) as eng:
        eng.onboard(descriptor(hypervisor="BARE", command={"binary": "/bin/true"}))
        for i in range(2000):
            iid = eng.define("web", f"n{i % 50}")["uuid"]
            eng.configure(iid)
            eng.start(iid)
        assert sum(len(v) for v in eng.instances_of("web").values()) == 2000
        assert len(eng.state()["instances"]) == 2000
        assert eng.node_status("n0")["ram"]["free"] == (1 << 20) - 40 * 512
