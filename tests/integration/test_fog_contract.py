"""The FogClient contract, run against both drivers.

* ``fogsim``: :class:`FogsimClient` against a real ``fogsim serve`` subprocess.
* ``fog05``: :class:`Fog05Client` driving the REAL ``fog05.FIMAPI`` code, whose YAKS
  connection is replaced by :mod:`tests.support.yaks_standin` (fog05's key layout and agent
  behaviour, backed by fogsim's engine in-process).

Driver-specific tests (fault injection, hung agents, env encoding) follow the contract.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from controller.fog.client import (
    FogClient,
    FogError,
    FogTimeout,
    FogUnavailable,
    IllegalTransition,
    InstanceState,
    InvalidDescriptor,
    NotFound,
)
from controller.fog.factory import make_fog_client
from controller.fog.fogsim_driver import FogsimClient
from controller.fog.fogsim_http import HttpSettings
from tests.support.fogsim import FogsimServer, free_port

pytestmark = pytest.mark.integration

FDU_NAMESPACE = uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8")
SLACK = 0.75  # seconds a call may overrun its timeout (thread hand-off, teardown of a socket)

NODES_YAML = """\
nodes:
  - {name: alpha, ip: 127.0.10.101, arch: x86_64, cores: 4, ramMB: 4096, diskGB: 40,
     labels: {tier: fog}}
  - {name: beta, ip: 127.0.10.102, arch: x86_64, cores: 2, ramMB: 2048, diskGB: 20}
  - {name: gamma, ip: 127.0.10.103, arch: aarch64, cores: 1, ramMB: 1024, diskGB: 8}
"""


@dataclass
class Fog:
    """A fog under test: a client plus the simulator's fault knobs."""

    kind: str
    client: FogClient
    nodes: dict[str, str]  # name -> uuid
    node_down: Callable[[str], object]  # what they return is not used
    node_up: Callable[[str], object]
    extra: Any = None


def descriptor(tag: str = "", **over: Any) -> dict[str, Any]:
    fid = f"contract-{tag}-{uuid.uuid4().hex[:8]}"
    d: dict[str, Any] = {
        "id": fid,
        "name": fid,
        "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
        "hypervisor": "BARE",
        "migration_kind": "LIVE",
        "command": {"binary": "/bin/sleep", "args": ["30"]},
    }
    d.update(over)
    return d


@pytest.fixture(scope="module")
def nodes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fog") / "nodes.yaml"
    path.write_text(NODES_YAML)
    return path


@pytest.fixture(scope="module")
def sim(nodes_file: Path) -> Iterator[FogsimServer]:
    with FogsimServer(nodes_file, no_processes=True) as server:
        yield server


def _set_faults(sim: FogsimServer, **faults: float) -> None:
    requests.put(sim.url + "/sim/faults", json=faults, timeout=5).raise_for_status()


@pytest.fixture
def fogsim_fog(sim: FogsimServer) -> Iterator[Fog]:
    _set_faults(sim, error_rate=0.0, latency_ms=0)
    client = make_fog_client("fogsim", sim.url, timeout=5.0)
    state = sim.state()
    names = {n["name"]: n["uuid"] for n in state["nodes"]}

    def sim_post(path: str) -> None:
        requests.post(sim.url + path, timeout=5).raise_for_status()

    fog = Fog(
        "fogsim",
        client,
        names,
        lambda name: sim_post(f"/sim/nodes/{name}/down"),
        lambda name: sim_post(f"/sim/nodes/{name}/up"),
        sim,
    )
    yield fog
    _set_faults(sim, error_rate=0.0, latency_ms=0)
    for name in names:
        sim_post(f"/sim/nodes/{name}/up")
    client.close()


@pytest.fixture
def fog05_fog(nodes_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fog]:
    from controller.fog import fog05_compat

    fog05_compat.install_collections_shim()
    from fogsim.engine import Engine
    from fogsim.nodes import load_nodes

    from tests.support.yaks_standin import YaksStandin, install

    engine = Engine(load_nodes(nodes_file), no_processes=True)
    standin = YaksStandin(engine)
    install(monkeypatch, standin)
    # fog05 reports no node labels: the Environment gives fogsim's file's ones centrally
    client = make_fog_client("fog05", "127.0.0.1:7447", sysid="0", tenantid="0", timeout=5.0,
                             node_labels={"alpha": {"tier": "fog"}})
    names = {engine.node_info(n)["name"]: n for n in engine.node_list()}
    fog = Fog(
        "fog05",
        client,
        names,
        engine.node_down,
        engine.node_up,
        standin,
    )
    yield fog
    client.close()
    standin.close()
    engine.close()


@pytest.fixture(params=["fogsim", "fog05"])
def fog(request: pytest.FixtureRequest) -> Fog:
    return request.getfixturevalue(f"{request.param}_fog")  # type: ignore[no-any-return]


def _one_line(exc: BaseException, *ids: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text
    for i in ids:
        assert i in text, (i, text)


# --- the contract ----------------------------------------------------------------------


def test_nodes_list_info_status(fog: Fog) -> None:
    c = fog.client
    assert sorted(c.list_nodes()) == sorted(fog.nodes.values())
    info = c.node_info(fog.nodes["alpha"])
    assert (info.uuid, info.name, info.cpu_arch, info.cores) == (
        fog.nodes["alpha"],
        "alpha",
        "x86_64",
        4,
    )
    assert info.ram_mb == 4096 and info.disk_gb == pytest.approx(40)
    assert info.ip == "127.0.10.101"
    assert info.labels.get("tier") == "fog"
    assert c.node_info(fog.nodes["gamma"]).cpu_arch == "aarch64"
    status = c.node_status(fog.nodes["beta"])
    assert status.uuid == fog.nodes["beta"]
    assert status.ram_total_mb == pytest.approx(2048)
    assert 0 <= status.ram_free_mb <= status.ram_total_mb
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound) as ei:
        c.node_info(missing)
    _one_line(ei.value, missing)
    with pytest.raises(NotFound):
        c.node_status(missing)


def test_onboard_idempotent_deterministic_uuid(fog: Fog) -> None:
    c = fog.client
    d = descriptor("onb")
    u1 = c.onboard(d)
    u2 = c.onboard(d)
    assert u1 == u2 == str(uuid.uuid5(FDU_NAMESPACE, d["id"]))
    assert u1 in c.list_fdus()
    info = c.fdu_info(u1)
    assert info["id"] == d["id"] and info["uuid"] == u1
    assert info["hypervisor"] == "BARE"
    c.offload(u1)
    assert u1 not in c.list_fdus()
    with pytest.raises(NotFound) as ei:
        c.fdu_info(u1)
    _one_line(ei.value, u1)


def test_invalid_descriptor(fog: Fog) -> None:
    with pytest.raises(InvalidDescriptor) as ei:
        fog.client.onboard(descriptor("bad", hypervisor="bare-metal"))
    _one_line(ei.value)
    with pytest.raises(InvalidDescriptor):
        fog.client.onboard({"name": "no id"})


def test_lifecycle_define_to_undefine(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("life"))
    node = fog.nodes["alpha"]
    inst = c.define(fid, node)
    iid = inst.instance_id
    assert (inst.state, inst.fdu_id, inst.node_id) == (InstanceState.DEFINE, fid, node)
    assert c.instance_info(iid).state is InstanceState.DEFINE
    assert c.configure(iid).state is InstanceState.CONFIGURE
    running = c.start(iid, {"GREETING": "hello world", "N": "1"})
    assert running.state is InstanceState.RUN
    assert running.error_code is None and running.error_msg is None
    assert c.instance_info(iid).state is InstanceState.RUN
    assert c.instances(fid) == {node: [iid]}
    assert c.stop(iid).state is InstanceState.CONFIGURE
    assert c.clean(iid).state is InstanceState.DEFINE
    c.undefine(iid)
    with pytest.raises(NotFound) as ei:
        c.instance_info(iid)
    _one_line(ei.value, iid)
    assert c.instances(fid) == {}
    c.offload(fid)
    assert fid not in c.list_fdus()


def test_illegal_transitions(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("illegal"))
    iid = c.define(fid, fog.nodes["beta"]).instance_id
    with pytest.raises(IllegalTransition) as ei:
        c.start(iid)
    assert (ei.value.current, ei.value.requested) == ("DEFINE", "start")
    _one_line(ei.value, iid)
    with pytest.raises(IllegalTransition):
        c.stop(iid)
    c.configure(iid)
    with pytest.raises(IllegalTransition) as ei:
        c.undefine(iid)
    assert (ei.value.current, ei.value.requested) == ("CONFIGURE", "undefine")
    with pytest.raises(IllegalTransition):
        c.offload(fid)  # still has an instance
    assert c.instance_info(iid).state is InstanceState.CONFIGURE
    c.clean(iid)
    c.undefine(iid)
    c.offload(fid)


def test_unknown_ids_are_not_found(fog: Fog) -> None:
    c = fog.client
    ghost = str(uuid.uuid4())
    calls: list[Callable[[], object]] = [
        lambda: c.instance_info(ghost),
        lambda: c.configure(ghost),
        lambda: c.start(ghost, {"A": "1"}),
        lambda: c.stop(ghost),
        lambda: c.clean(ghost),
        lambda: c.undefine(ghost),
        lambda: c.fdu_info(ghost),
        lambda: c.instances(ghost),
        lambda: c.offload(ghost),
        lambda: c.define(ghost, fog.nodes["alpha"]),
    ]
    for call in calls:
        with pytest.raises(NotFound) as ei:
            call()
        _one_line(ei.value, ghost)
    fid = c.onboard(descriptor("ghostnode"))
    with pytest.raises(NotFound):
        c.define(fid, ghost)
    c.offload(fid)


def test_define_on_wrong_arch_is_an_error(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("arch"))
    with pytest.raises(FogError) as ei:
        c.define(fid, fog.nodes["gamma"])
    assert not isinstance(ei.value, (NotFound, FogUnavailable, FogTimeout))
    _one_line(ei.value, fid)
    assert c.instances(fid) == {}
    c.offload(fid)


def test_instances_by_node(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("spread"))
    a, b = fog.nodes["alpha"], fog.nodes["beta"]
    on_a = {c.define(fid, a).instance_id for _ in range(2)}
    on_b = {c.define(fid, b).instance_id}
    got = c.instances(fid)
    assert {n: set(v) for n, v in got.items()} == {a: on_a, b: on_b}
    other = c.onboard(descriptor("other"))
    assert c.instances(other) == {}
    for iid in on_a | on_b:
        c.undefine(iid)
    c.offload(fid)
    c.offload(other)


def test_all_instances_in_one_read(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("everyone"))
    a, b = fog.nodes["alpha"], fog.nodes["beta"]
    defined = c.define(fid, a)
    running = c.define(fid, b)
    assert c.all_instances()[running.instance_id].state is InstanceState.DEFINE
    c.configure(running.instance_id)
    c.start(running.instance_id, {})
    got = c.all_instances()
    assert c.all_instances() == got  # unchanged: the same answer (fogsim: a 304)
    assert got[defined.instance_id] == c.instance_info(defined.instance_id)
    assert got[running.instance_id] == c.instance_info(running.instance_id)
    assert got[defined.instance_id].node_id == a and got[running.instance_id].node_id == b
    assert got[running.instance_id].state is InstanceState.RUN
    assert got[running.instance_id].fdu_id == fid
    c.stop(running.instance_id)
    c.clean(running.instance_id)
    for iid in (defined.instance_id, running.instance_id):
        c.undefine(iid)
    assert not {defined.instance_id, running.instance_id} & set(c.all_instances())
    c.offload(fid)


def test_node_down_makes_its_instances_vanish(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("down"))
    beta = fog.nodes["beta"]
    keep = c.define(fid, fog.nodes["alpha"]).instance_id
    lost = c.define(fid, beta).instance_id
    c.configure(lost)
    fog.node_down("beta")
    assert beta not in c.list_nodes()
    with pytest.raises(NotFound):
        c.node_info(beta)
    with pytest.raises(NotFound) as ei:
        c.instance_info(lost)
    _one_line(ei.value, lost)
    with pytest.raises(NotFound):
        c.configure(lost)
    assert c.instances(fid) == {fog.nodes["alpha"]: [keep]}
    fog.node_up("beta")
    assert beta in c.list_nodes()
    with pytest.raises(NotFound):
        c.instance_info(lost)
    c.undefine(keep)
    c.offload(fid)


# --- fogsim driver only -----------------------------------------------------------------


def _timed(limit: float, fn: Callable[[], Any]) -> Any:
    t0 = time.monotonic()
    try:
        return fn()
    finally:
        took = time.monotonic() - t0
        assert took <= limit + SLACK, f"call took {took:.2f}s, timeout {limit}s"


def test_fogsim_survives_error_rate_and_latency(sim: FogsimServer, fogsim_fog: Fog) -> None:
    timeout = 8.0
    c = FogsimClient(sim.url, HttpSettings(timeout=timeout, max_attempts=12, backoff_cap=0.5))
    _set_faults(sim, error_rate=0.3, latency_ms=200)
    try:
        node = fogsim_fog.nodes["alpha"]
        for _ in range(2):
            fid = _timed(timeout, lambda: c.onboard(descriptor("faulty")))
            inst = _timed(timeout, lambda: c.define(fid, node))  # noqa: B023
            iid = inst.instance_id
            assert _timed(timeout, lambda: c.configure(iid)).state is InstanceState.CONFIGURE  # noqa: B023
            assert _timed(timeout, lambda: c.start(iid, {"A": "1"})).state is InstanceState.RUN  # noqa: B023
            assert _timed(timeout, lambda: c.instances(fid)) == {node: [iid]}  # noqa: B023
            assert _timed(timeout, lambda: c.stop(iid)).state is InstanceState.CONFIGURE  # noqa: B023
            assert _timed(timeout, lambda: c.clean(iid)).state is InstanceState.DEFINE  # noqa: B023
            _timed(timeout, lambda: c.undefine(iid))  # noqa: B023
            _timed(timeout, lambda: c.offload(fid))  # noqa: B023
        _set_faults(sim, error_rate=0.0, latency_ms=0)
        # no duplicate instance was created by a retried define
        assert all(i["fdu_id"] != fid for i in sim.state()["instances"])
    finally:
        _set_faults(sim, error_rate=0.0, latency_ms=0)
        c.close()


def test_fogsim_deadline_is_respected(sim: FogsimServer, fogsim_fog: Fog) -> None:
    c = FogsimClient(sim.url, HttpSettings(timeout=0.6))
    _set_faults(sim, latency_ms=1500)
    try:
        with pytest.raises(FogTimeout) as ei:
            _timed(0.6, c.list_nodes)
        _one_line(ei.value)
        with pytest.raises(FogTimeout):
            _timed(0.3, lambda: c.node_info(fogsim_fog.nodes["alpha"], timeout=0.3))
    finally:
        _set_faults(sim, error_rate=0.0, latency_ms=0)
        c.close()


def test_fogsim_persistent_503_is_unavailable(sim: FogsimServer, fogsim_fog: Fog) -> None:
    c = FogsimClient(sim.url, HttpSettings(timeout=3.0))
    _set_faults(sim, error_rate=1.0)
    try:
        with pytest.raises(FogUnavailable) as ei:
            _timed(3.0, c.list_fdus)
        _one_line(ei.value)
    finally:
        _set_faults(sim, error_rate=0.0)
        c.close()


def test_fogsim_unreachable_is_unavailable_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    c = make_fog_client("fogsim", url, timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(FogUnavailable) as ei:
        c.list_nodes()
    assert time.monotonic() - t0 < 3.0
    _one_line(ei.value, url)


# --- fog05 driver only ------------------------------------------------------------------


def test_fog05_hung_agent_times_out(fog05_fog: Fog) -> None:
    c = fog05_fog.client
    fid = c.onboard(descriptor("hang"))
    fog05_fog.extra.hang_evals = True  # every agent eval now blocks forever
    with pytest.raises(FogTimeout) as ei:
        _timed(1.0, lambda: c.define(fid, fog05_fog.nodes["alpha"], timeout=1.0))
    _one_line(ei.value, fid)


def test_fog05_agent_that_never_acts_times_out(
    fog05_fog: Fog, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = fog05_fog.client
    fid = c.onboard(descriptor("deaf"))
    iid = c.define(fid, fog05_fog.nodes["alpha"]).instance_id
    monkeypatch.setattr(fog05_fog.extra, "_apply_desired", lambda *a: None)
    with pytest.raises(FogTimeout) as ei:
        _timed(1.0, lambda: c.configure(iid, timeout=1.0))
    _one_line(ei.value, iid)
    assert c.instance_info(iid).state is InstanceState.DEFINE


def test_fog05_env_encoding(fog05_fog: Fog) -> None:
    from controller.fog.fog05_driver import encode_env

    assert encode_env({"A": "1", "B": "two words"}, "x") == "A=1,B=two words"
    assert encode_env(None, "x") == ""
    c = fog05_fog.client
    fid = c.onboard(descriptor("env"))
    iid = c.define(fid, fog05_fog.nodes["alpha"]).instance_id
    c.configure(iid)
    for bad in ("a,b", "k=v", "x;y"):
        with pytest.raises(InvalidDescriptor) as ei:
            c.start(iid, {"BAD": bad})
        _one_line(ei.value, iid, "BAD")
    assert c.instance_info(iid).state is InstanceState.CONFIGURE
    assert c.start(iid, {"GOOD": "ok"}).state is InstanceState.RUN
    engine = fog05_fog.extra.engine
    assert engine.instance_info(iid)["env"] == {"GOOD": "ok"}


def test_fog05_unreachable_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real yaks/zenoh stack: no libzenohc or no server -> FogUnavailable, one line."""
    import zenoh.zenoh_api

    monkeypatch.setattr(zenoh.zenoh_api, "zenoh_lib_path", zenoh.zenoh_api.zenoh_lib_path)
    monkeypatch.setenv("FOGSTRAT_ZENOH_LIB", "/nonexistent/libzenohc.so")
    c = make_fog_client("fog05", f"127.0.0.1:{free_port()}", timeout=3.0)
    t0 = time.monotonic()
    with pytest.raises(FogUnavailable) as ei:
        c.list_nodes()
    assert time.monotonic() - t0 < 3.0 + SLACK
    _one_line(ei.value, "FOGSTRAT_ZENOH_LIB")


def test_fogsim_lost_responses_neither_duplicate_nor_fail(
    sim: FogsimServer, fogsim_fog: Fog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that reached fogsim but whose answer was lost (the ambiguous case): define
    adopts the instance it created instead of defining a second one, and a transition
    re-reads the state and finds it already done."""
    c = FogsimClient(sim.url, HttpSettings(timeout=5.0))
    real = c._session.request
    lose = {"define", "configure", "start"}

    def lossy(method: str, url: str, **kw: Any) -> requests.Response:
        resp = real(method, url, **kw)
        op = url.rsplit("/", 1)[-1]
        if method == "POST" and op in lose:
            lose.discard(op)
            raise requests.exceptions.ConnectionError("connection reset by peer")
        return resp

    monkeypatch.setattr(c._session, "request", lossy)
    node = fogsim_fog.nodes["alpha"]
    fid = c.onboard(descriptor("lossy"))
    inst = c.define(fid, node)
    assert c.instances(fid) == {node: [inst.instance_id]}
    assert c.configure(inst.instance_id).state is InstanceState.CONFIGURE
    assert c.start(inst.instance_id).state is InstanceState.RUN
    assert not lose
    lose.add("define")  # the caller says what existed: no listing first, same adoption
    other = c.define(fid, fogsim_fog.nodes["beta"], existing=[inst.instance_id])
    assert not lose and other.instance_id != inst.instance_id
    assert c.instances(fid) == {node: [inst.instance_id],
                                fogsim_fog.nodes["beta"]: [other.instance_id]}
    c.undefine(other.instance_id)
    c.stop(inst.instance_id)
    c.clean(inst.instance_id)
    c.undefine(inst.instance_id)
    c.offload(fid)
    c.close()


def test_clean_of_a_crashed_instance(fog: Fog) -> None:
    c = fog.client
    fid = c.onboard(descriptor("crashclean"))
    iid = c.define(fid, fog.nodes["alpha"]).instance_id
    c.configure(iid)
    c.start(iid)
    if fog.kind == "fogsim":
        requests.post(f"{fog.extra.url}/sim/instances/{iid}/crash", timeout=5).raise_for_status()
    else:
        fog.extra.engine.crash(iid)
    assert c.instance_info(iid).state is InstanceState.ERROR
    assert c.clean(iid).state is InstanceState.DEFINE
    c.undefine(iid)
    c.offload(fid)
