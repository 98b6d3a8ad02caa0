"""fogsim's engine: nodes, FDU catalog, instance state machine, capacity.

A plain synchronous, thread-safe class with no HTTP in it, so the same fog
can be served over HTTP (``fogsim.server``) or used in-process (e.g. behind a
stand-in fog05 YAKS connection). Errors are typed exceptions the HTTP layer
maps to status codes: :class:`NotFound` 404, :class:`IllegalTransition` 409,
:class:`InUse` 409, :class:`InvalidDescriptor` 400, :class:`Incompatible` 422.

Returned values are fresh JSON-able dicts/lists (callers may mutate them).

Threading: BARE processes are spawned on the calling thread, and Linux's
``PR_SET_PDEATHSIG`` fires when *that thread* exits, so call :meth:`start`
from a long-lived thread.
"""

from __future__ import annotations

import copy
import enum
import ipaddress
import itertools
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.api.cpuarch import normalize_arch
from fogsim.changes import DEFAULT_CAPACITY, INSTANCE, NODE, ChangeKey, ChangeLog
from fogsim.fog05_compat import DescriptorError, validate_fdu
from fogsim.networks import Networks
from fogsim.nodes import NodeSpec
from fogsim.processes import SpawnError, Supervisor

#: fog05 0.2's namespace for FDU uuids derived from the descriptor ``id``.
FDU_NAMESPACE = uuid.UUID("6ba7b842-9dad-11d1-80b4-00c04fd430c8")
#: where simulated containers' addresses come from (a loopback block no node uses)
CONTAINER_BLOCK = ipaddress.IPv4Network("127.200.0.0/16")

class State(enum.StrEnum):
    """The fog05 instance states fogsim reports (no transient ones)."""

    DEFINE = "DEFINE"
    CONFIGURE = "CONFIGURE"
    RUN = "RUN"
    ERROR = "ERROR"


#: action -> (legal source states, target state; None = removed)
TRANSITIONS: dict[str, tuple[frozenset[State], State | None]] = {
    "configure": (frozenset({State.DEFINE}), State.CONFIGURE),
    "start": (frozenset({State.CONFIGURE}), State.RUN),
    "stop": (frozenset({State.RUN}), State.CONFIGURE),
    "clean": (frozenset({State.CONFIGURE, State.ERROR}), State.DEFINE),
    "undefine": (frozenset({State.DEFINE}), None),
}

#: States in which an instance holds its FDU's RAM/disk on its node.
HOLDING = frozenset({State.CONFIGURE, State.RUN})

CRASH_CODE = -9
SPAWN_FAILED_CODE = 127
# A follower reads the log in pieces of at most this many bytes.
LOG_CHUNK = 1 << 20


class FogsimError(Exception):
    """Base of fogsim's typed errors."""


class NotFound(FogsimError):
    """Unknown (or vanished) node, FDU or instance."""


class InvalidDescriptor(FogsimError):
    """The FDU descriptor is rejected (fog05 model or fogsim checks)."""


class Incompatible(FogsimError):
    """The node cannot host the FDU (cpu architecture)."""


class InUse(FogsimError):
    """The FDU still has instances and cannot be offloaded."""

    def __init__(self, message: str, instances: list[str]) -> None:
        super().__init__(message)
        self.instances = instances


class IllegalTransition(FogsimError):
    """The requested action is not legal in the instance's current state."""

    def __init__(self, iid: str, current: str, requested: str) -> None:
        super().__init__(f"cannot {requested} instance {iid} in state {current}")
        self.iid = iid
        self.current = current
        self.requested = requested


@dataclass
class _Node:
    spec: NodeSpec
    up: bool = True
    instances: dict[str, None] = field(default_factory=dict)  # ordered set


@dataclass
class _Instance:
    uuid: str
    fdu_id: str
    node: str
    descriptor: dict[str, Any]
    status: State = State.DEFINE
    error_code: int = 0
    error_msg: str = ""
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    proc_key: str | None = None
    exit_code: int | None = None
    cwd: Path | None = None
    log_path: Path | None = None
    stored: bytes | None = field(default=None, compare=False, repr=False)
    """The record as JSON, as fog05 keeps it in its store; any change of a field drops it."""

    @property
    def hypervisor(self) -> str:
        return str(self.descriptor.get("hypervisor", ""))

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "stored":
            object.__setattr__(self, "stored", None)

    def requirement(self, key: str) -> float:
        reqs = self.descriptor.get("computation_requirements") or {}
        value = reqs.get(key) or 0
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.0


def fdu_uuid_for(descriptor_id: str) -> str:
    """fog05's uuid for a descriptor without one: uuid5 of its ``id``."""
    return str(uuid.uuid5(FDU_NAMESPACE, descriptor_id))


def _container_network(inst: _Instance) -> dict[str, Any]:
    """What fog05's LXD plugin reports of a running container's interfaces, for the
    containers (LXD, KVM, DOCKER) fogsim simulates: an address of their own in
    :data:`CONTAINER_BLOCK`, derived from the instance uuid. Nothing listens on it."""
    if inst.hypervisor == "BARE" or inst.status is not State.RUN:
        return {}
    offset = uuid.UUID(inst.uuid).int % (CONTAINER_BLOCK.num_addresses - 2) + 1
    address = str(CONTAINER_BLOCK[offset])
    return {"network": {"eth0": {"addresses": [
        {"family": "inet", "address": address, "netmask": str(CONTAINER_BLOCK.prefixlen),
         "scope": "global"}], "state": "up"}}}


def _cp_ids(descriptor: Mapping[str, Any]) -> list[str]:
    """The uuids of the connection points an FDU descriptor names."""
    cps = descriptor.get("connection_points")
    if not isinstance(cps, list):
        return []
    return [str(cp["uuid"]) for cp in cps if isinstance(cp, Mapping) and cp.get("uuid")]


def parse_env(env: Mapping[str, Any] | str | None) -> dict[str, str]:
    """Accept a dict or fog05's ``"A=1,B=2"`` string form."""
    if env is None:
        return {}
    if isinstance(env, str):
        out: dict[str, str] = {}
        for item in env.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"bad env entry {item!r} (want KEY=VALUE)")
            out[key.strip()] = value
        return out
    if isinstance(env, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    raise ValueError("env must be an object or a 'A=1,B=2' string")


class Engine:
    """The simulated fog. Thread-safe; every public method takes the lock."""

    def __init__(
        self,
        nodes: Iterable[NodeSpec],
        *,
        no_processes: bool = False,
        stop_grace: float = 5.0,
        workdir: str | Path | None = None,
        poll_interval: float = 0.1,
        feed_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._lock = threading.RLock()
        self.changes = ChangeLog(feed_capacity)
        """Which records changed, by revision: fogsim's watch (``?since=``)."""
        self._nodes: dict[str, _Node] = {}
        self._by_name: dict[str, str] = {}
        for spec in nodes:
            if spec.uuid in self._nodes or spec.name in self._by_name:
                raise ValueError(f"duplicate node {spec.name}")
            self._nodes[spec.uuid] = _Node(spec)
            self._by_name[spec.name] = spec.uuid
        self._fdus: dict[str, dict[str, Any]] = {}
        self._instances: dict[str, _Instance] = {}
        self._by_fdu: dict[str, dict[str, None]] = {}
        """FDU uuid -> its instance ids (in order), as fog05 keys them under the FDU, so a
        lookup does not scan every instance of a big fog."""
        self.no_processes = no_processes
        self.stop_grace = stop_grace
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fogsim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(on_exit=self._on_exit, poll_interval=poll_interval)
        self._closed = False
        self._generation = itertools.count(1)
        self.networks = Networks(on_change=self._forget_stored)
        """Virtual networks and connection points (fogsim.networks)."""

    def _forget_stored(self) -> None:
        """A connection point changed: the records showing it are rendered afresh."""
        with self._lock:
            for inst in self._instances.values():
                inst.stored = None

    # ------------------------------------------------------------------ nodes
    def _node(self, ref: str, *, include_down: bool = False) -> _Node:
        uid = ref if ref in self._nodes else self._by_name.get(ref)
        node = self._nodes.get(uid) if uid else None
        if node is None or (not node.up and not include_down):
            raise NotFound(f"node {ref} not found")
        return node

    def node_list(self) -> list[str]:
        """Uuids of the nodes that are up (fog05 ``node.list()``)."""
        with self._lock:
            return [uid for uid, n in self._nodes.items() if n.up]

    def node_info(self, node: str) -> dict[str, Any]:
        """fog05 ``node.info()`` plus ``labels``."""
        with self._lock:
            return self._node(node).spec.info()

    def node_status(self, node: str) -> dict[str, Any]:
        """fog05 ``node.status()``; free RAM/disk after CONFIGURE/RUN instances."""
        with self._lock:
            n = self._node(node)
            ram = disk = 0.0
            for iid in n.instances:
                inst = self._instances[iid]
                if inst.status in HOLDING:
                    ram += inst.requirement("ram_size_mb")
                    disk += inst.requirement("storage_size_gb")
            spec = n.spec
            return {
                "uuid": spec.uuid,
                "ram": {"total": float(spec.ram_mb), "free": max(0.0, spec.ram_mb - ram)},
                "disk": [
                    {
                        "mount_point": "/",
                        "dimension": float(spec.disk_gb),
                        "free": max(0.0, spec.disk_gb - disk),
                    }
                ],
                "neighbors": [],
                "overcommitted": ram > spec.ram_mb or disk > spec.disk_gb,
            }

    def node_down(self, node: str) -> dict[str, Any]:
        """Kill the node's processes and drop its instances (a dead agent)."""
        with self._lock:
            n = self._node(node, include_down=True)
            removed = list(n.instances)
            for iid in removed:
                inst = self._instances[iid]
                self._kill(inst)
                self._drop(iid)
                self.changes.record(ChangeKey(INSTANCE, iid, inst.node, inst.fdu_id))
            if n.up:
                n.up = False
                self.changes.record(ChangeKey(NODE, n.spec.uuid))
            return {"node": n.spec.uuid, "name": n.spec.name, "up": False,
                    "removed_instances": removed}

    def node_up(self, node: str) -> dict[str, Any]:
        """Bring a node back, empty."""
        with self._lock:
            n = self._node(node, include_down=True)
            if not n.up:
                n.up = True
                self.changes.record(ChangeKey(NODE, n.spec.uuid))
            return {"node": n.spec.uuid, "name": n.spec.name, "up": True,
                    "removed_instances": []}

    # ---------------------------------------------------------------- catalog
    def _fdu(self, ref: str) -> dict[str, Any]:
        fdu = self._fdus.get(ref)
        if fdu is None:
            alt = fdu_uuid_for(ref)
            fdu = self._fdus.get(alt)
        if fdu is None:
            raise NotFound(f"FDU {ref} not found")
        return fdu

    def onboard(self, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and store a descriptor; idempotent per ``id``."""
        desc = self.validate_descriptor(descriptor)
        with self._lock:
            self._fdus[desc["uuid"]] = desc
            return copy.deepcopy(desc)

    def validate_descriptor(self, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        """The descriptor as it would be stored (with uuid), or InvalidDescriptor."""
        if not isinstance(descriptor, Mapping):
            raise InvalidDescriptor("invalid FDU descriptor: must be a JSON object")
        desc = copy.deepcopy(dict(descriptor))
        try:
            validate_fdu(copy.deepcopy(desc))
        except DescriptorError as exc:
            raise InvalidDescriptor(f"invalid FDU descriptor: {exc}") from exc
        if not isinstance(desc.get("id"), str):
            raise InvalidDescriptor("invalid FDU descriptor: id must be a string")
        raw_uuid = desc.get("uuid")
        if raw_uuid:
            try:
                desc["uuid"] = str(uuid.UUID(str(raw_uuid)))
            except ValueError as exc:
                raise InvalidDescriptor(f"invalid FDU descriptor: bad uuid {raw_uuid!r}") from exc
        else:
            desc["uuid"] = fdu_uuid_for(desc["id"])
        command = desc.get("command")
        if desc.get("hypervisor") == "BARE" and isinstance(command, Mapping):
            binary = command.get("binary")
            if binary is not None and not str(binary).startswith("/"):
                raise InvalidDescriptor(
                    f"invalid FDU descriptor: command.binary must be an absolute path, "
                    f"got {binary!r}"
                )
        return desc

    def offload(self, fdu: str) -> str:
        """Remove an FDU from the catalog; refused while it has instances."""
        with self._lock:
            desc = self._fdu(fdu)
            uid = desc["uuid"]
            users = list(self._by_fdu.get(uid, ()))
            if users:
                raise InUse(f"FDU {uid} has instances", users)
            del self._fdus[uid]
            return str(uid)

    def fdu_info(self, fdu: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._fdu(fdu))

    def list_fdus(self) -> list[str]:
        with self._lock:
            return list(self._fdus)

    def instances_of(self, fdu: str) -> dict[str, list[str]]:
        """fog05 ``instance_list(fduid)``: ``{node_uuid: [iid, ...]}``."""
        with self._lock:
            uid = self._fdu(fdu)["uuid"]
            out: dict[str, list[str]] = {}
            for iid in self._by_fdu.get(uid, ()):
                inst = self._instances[iid]
                out.setdefault(inst.node, []).append(inst.uuid)
            return out

    # -------------------------------------------------------------- instances
    def _inst(self, iid: str) -> _Instance:
        inst = self._instances.get(iid)
        if inst is None:
            raise NotFound(f"instance {iid} not found")
        return inst

    def _check(self, inst: _Instance, action: str) -> State | None:
        sources, target = TRANSITIONS[action]
        if inst.status not in sources:
            raise IllegalTransition(inst.uuid, inst.status.value, action)
        return target

    def _record(self, inst: _Instance, status: str | None = None) -> dict[str, Any]:
        simulated = self.no_processes or inst.hypervisor != "BARE"
        node = self._nodes[inst.node].spec
        hypervisor_info: dict[str, Any] = {
            "pid": inst.pid,
            "pgid": inst.pid,
            "cwd": str(inst.cwd) if inst.cwd else None,
            "log": str(inst.log_path) if inst.log_path else None,
            "exit_code": inst.exit_code,
            "simulated": simulated,
            **_container_network(inst),
        }
        cps = _cp_ids(inst.descriptor)
        ports = self.networks.interfaces(cps) if cps else {}
        if ports:  # first: the instance's address is its network's, not its node's
            hypervisor_info["network"] = {**ports, **hypervisor_info.get("network", {})}
        return {
            "uuid": inst.uuid,
            "fdu_id": inst.fdu_id,
            "node": inst.node,
            "status": status or inst.status.value,
            "error_code": inst.error_code,
            "error_msg": inst.error_msg,
            "hypervisor": inst.hypervisor,
            "hypervisor_info": hypervisor_info,
            "env": dict(inst.env),
            "node_ip": node.ip,
        }

    def define(self, fdu: str, node: str) -> dict[str, Any]:
        """Create an instance in DEFINE. Capacity is not checked (as fog05 0.2)."""
        with self._lock:
            desc = self._fdu(fdu)
            n = self._node(node)
            want = str((desc.get("computation_requirements") or {}).get("cpu_arch", ""))
            if want and normalize_arch(want) != normalize_arch(n.spec.arch):
                raise Incompatible(
                    f"node {n.spec.name} ({n.spec.arch}) cannot run FDU {desc['uuid']} "
                    f"requiring {want}"
                )
            iid = str(uuid.uuid4())
            inst = _Instance(uuid=iid, fdu_id=desc["uuid"], node=n.spec.uuid,
                             descriptor=copy.deepcopy(desc))
            self._instances[iid] = inst
            self._by_fdu.setdefault(inst.fdu_id, {})[iid] = None
            n.instances[iid] = None
            self._changed(inst, held=False)
            return self._record(inst)

    def configure(self, iid: str) -> dict[str, Any]:
        with self._lock:
            inst = self._inst(iid)
            self._check(inst, "configure")
            inst.status = State.CONFIGURE
            self._changed(inst, held=False)
            return self._record(inst)

    def start(self, iid: str, env: Mapping[str, Any] | str | None = None) -> dict[str, Any]:
        """CONFIGURE -> RUN; BARE FDUs really start (spawn failure -> ERROR 127)."""
        try:
            start_env = parse_env(env)
        except ValueError as exc:
            raise InvalidDescriptor(str(exc)) from exc
        with self._lock:
            inst = self._inst(iid)
            self._check(inst, "start")
            held = inst.status in HOLDING
            inst.env = start_env
            inst.error_code, inst.error_msg, inst.exit_code = 0, "", None
            if inst.hypervisor == "BARE" and not self.no_processes:
                self._spawn(inst)
            else:
                inst.status = State.RUN
            self._changed(inst, held)
            return self._record(inst)

    def _spawn(self, inst: _Instance) -> None:
        node = self._nodes[inst.node].spec
        inst.cwd = self.workdir / inst.uuid
        inst.log_path = inst.cwd / "fdu.log"
        inst.cwd.mkdir(parents=True, exist_ok=True)
        command = inst.descriptor.get("command") or {}
        binary = command.get("binary") if isinstance(command, Mapping) else None
        args = (command.get("args") or []) if isinstance(command, Mapping) else []
        env = dict(os.environ)
        env.update(inst.env)
        env.update({
            "FOS_NODE_ID": node.uuid,
            "FOS_NODE_NAME": node.name,
            "FOS_NODE_IP": node.ip,
            "FOS_INSTANCE_ID": inst.uuid,
            "FOS_FDU_ID": inst.fdu_id,
        })
        if not binary:
            self._fail(inst, SPAWN_FAILED_CODE, "BARE FDU has no command.binary")
            return
        key = f"{inst.uuid}#{next(self._generation)}"
        try:
            inst.pid = self.supervisor.spawn(
                key, [str(binary), *[str(a) for a in args]], env, inst.cwd, inst.log_path
            )
        except SpawnError as exc:
            self._fail(inst, SPAWN_FAILED_CODE, f"cannot start {binary}: {exc}")
            return
        inst.proc_key = key
        inst.status = State.RUN

    def _kill(self, inst: _Instance, *, graceful: bool = False) -> None:
        """Signal the instance's process group (if any) and forget it."""
        if inst.proc_key is not None:
            if graceful:
                self.supervisor.stop(inst.proc_key, self.stop_grace)
            else:
                self.supervisor.kill(inst.proc_key)
        inst.proc_key = None
        inst.pid = None

    def _fail(self, inst: _Instance, code: int, msg: str) -> None:
        inst.status = State.ERROR
        inst.error_code = code
        inst.error_msg = msg
        self._kill(inst)

    def stop(self, iid: str) -> dict[str, Any]:
        """RUN -> CONFIGURE at once; the process is terminated in the background."""
        with self._lock:
            inst = self._inst(iid)
            self._check(inst, "stop")
            self._kill(inst, graceful=True)
            inst.status = State.CONFIGURE
            self._changed(inst, held=True)
            return self._record(inst)

    def clean(self, iid: str) -> dict[str, Any]:
        """CONFIGURE/ERROR -> DEFINE (kills any leftover process)."""
        with self._lock:
            inst = self._inst(iid)
            self._check(inst, "clean")
            held = inst.status in HOLDING
            self._kill(inst)
            inst.status = State.DEFINE
            inst.error_code, inst.error_msg = 0, ""
            self._changed(inst, held)
            return self._record(inst)

    def undefine(self, iid: str, *, force: bool = False) -> dict[str, Any]:
        """Remove an instance (from DEFINE, or from any state with ``force``)."""
        with self._lock:
            inst = self._inst(iid)
            if not force:
                self._check(inst, "undefine")
            self._kill(inst)
            record = self._record(inst, status="UNDEFINE")
            self._drop(iid)
            self._changed(inst, inst.status in HOLDING, gone=True)
            return record

    def _drop(self, iid: str) -> None:
        inst = self._instances.pop(iid)
        self._nodes[inst.node].instances.pop(iid, None)
        users = self._by_fdu.get(inst.fdu_id)
        if users is not None:
            users.pop(iid, None)
            if not users:
                del self._by_fdu[inst.fdu_id]

    def _changed(self, inst: _Instance, held: bool, *, gone: bool = False) -> None:
        """Log an instance change, and its node's when what the node holds changed."""
        self.changes.record(ChangeKey(INSTANCE, inst.uuid, inst.node, inst.fdu_id))
        if held != (not gone and inst.status in HOLDING):
            self.changes.record(ChangeKey(NODE, inst.node))

    def feed(self, since: int) -> tuple[int, list[dict[str, Any]]]:
        """The head revision and each record changed after ``since`` as it is now
        (``record`` None: gone); :class:`fogsim.changes.Expired` past the log's reach."""
        with self._lock:
            head, keys = self.changes.since(since)
            return head, [self._feed_entry(key) for key in keys]

    def _feed_entry(self, key: ChangeKey) -> dict[str, Any]:
        record: dict[str, Any] | None = None
        if key.kind == INSTANCE:
            inst = self._instances.get(key.id)
            record = self._record(inst) if inst is not None else None
        elif self._nodes[key.id].up:
            record = self.node_status(key.id)
        return {"kind": key.kind, "id": key.id, "node": key.node, "fdu": key.fdu,
                "record": record}

    def crash(self, iid: str) -> dict[str, Any]:
        """Fault injection: SIGKILL the process (if any) and set ERROR."""
        with self._lock:
            inst = self._inst(iid)
            held = inst.status in HOLDING
            self._fail(inst, CRASH_CODE, "crashed by fault injection")
            self._changed(inst, held)
            return self._record(inst)

    def instance_info(self, iid: str) -> dict[str, Any]:
        with self._lock:
            return self._record(self._inst(iid))

    def all_instances(self) -> list[dict[str, Any]]:
        """Every instance's record: fog05's glob over ``nodes/*/fdu/*/instances/*/info``."""
        with self._lock:
            return [self._record(inst) for inst in self._instances.values()]

    def all_instances_json_at(self) -> tuple[int, bytes]:
        """:meth:`all_instances_json` and the revision it is as of."""
        with self._lock:
            return self.changes.head, self.all_instances_json()

    def all_instances_json(self) -> bytes:
        """:meth:`all_instances` as a JSON array, from each record's stored JSON (as fog05's
        store answers a glob with the values it holds): rendering every record afresh
        for every read would hold fogsim's one event loop, and every call behind it."""
        with self._lock:
            parts = []
            for inst in self._instances.values():
                if inst.stored is None:
                    inst.stored = json.dumps(self._record(inst)).encode()
                parts.append(inst.stored)
        return b"[" + b",".join(parts) + b"]"

    def instance_log(self, iid: str, tail: int | None = None) -> str:
        """The instance's stdout+stderr ('' when it never ran a process)."""
        with self._lock:
            path = self._inst(iid).log_path
        if path is None or not path.exists():
            return ""
        with open(path, "rb") as fh:
            if tail is not None and tail >= 0:
                size = path.stat().st_size
                fh.seek(max(0, size - tail))
            return fh.read().decode("utf-8", errors="replace")

    def instance_log_from(self, iid: str, offset: int) -> tuple[bytes, int]:
        """At most LOG_CHUNK bytes of the log from byte ``offset``, and the offset after
        them: what a follower asks for again and again, so one read stays bounded."""
        with self._lock:
            path = self._inst(iid).log_path
        if path is None or not path.exists():
            return b"", 0
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            start = min(max(0, offset), size)
            fh.seek(start)
            data = fh.read(LOG_CHUNK)
        return data, start + len(data)

    def instances(self) -> list[dict[str, Any]]:
        """All instance records (on up nodes)."""
        with self._lock:
            return [self._record(i) for i in self._instances.values()]

    def _on_exit(self, key: str, pid: int, returncode: int, expected: bool) -> None:
        """Supervisor callback (reaper thread): a process ended."""
        with self._lock:
            inst = self._instances.get(key.partition("#")[0])
            if inst is None or inst.proc_key != key:
                return  # stopped/crashed/replaced already: nothing to report
            inst.proc_key = None
            inst.pid = None
            inst.exit_code = returncode
            if expected or inst.status != State.RUN:
                self._changed(inst, inst.status in HOLDING)
                return
            if returncode < 0:
                msg = f"process killed by signal {-returncode}"
            else:
                msg = f"process exited with code {returncode}"
            self._fail(inst, returncode, msg)
            inst.exit_code = returncode
            self._changed(inst, held=True)

    # ------------------------------------------------------------------ misc
    def state(self) -> dict[str, Any]:
        """Everything, JSON-able (``/sim/state``)."""
        with self._lock:
            return {
                "nodes": [
                    {
                        "uuid": n.spec.uuid,
                        "name": n.spec.name,
                        "ip": n.spec.ip,
                        "up": n.up,
                        "labels": dict(n.spec.labels),
                        "instances": list(n.instances),
                    }
                    for n in self._nodes.values()
                ],
                "fdus": [copy.deepcopy(d) for d in self._fdus.values()],
                "instances": [self._record(i) for i in self._instances.values()],
                "networks": self.networks.list_networks(),
                "connection_points": self.networks.list_cps(),
                "options": {
                    "no_processes": self.no_processes,
                    "stop_grace": self.stop_grace,
                    "workdir": str(self.workdir),
                },
            }

    def close(self, grace: float | None = None) -> None:
        """Kill every process this engine started; remove its own workdir."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.supervisor.shutdown(self.stop_grace if grace is None else grace)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
