"""fogsim's engine: the simulated fog's state, behind one lock.

A plain synchronous, thread-safe class with no HTTP in it, so the same fog
can be served over HTTP (``fogsim.server``) or used in-process (e.g. behind a
stand-in fog05 YAKS connection). It keeps the nodes (:mod:`fogsim.node_table`), the FDU
catalog (:mod:`fogsim.catalog`), the instances (:mod:`fogsim.instances`) and the change
log (:mod:`fogsim.changes`); instances move and their processes run in
:mod:`fogsim.lifecycle`, and records are rendered by :mod:`fogsim.records`. Errors are
the typed exceptions of :mod:`fogsim.errors`.

Returned values are fresh JSON-able dicts/lists (callers may mutate them).

Threading: BARE processes are spawned on the calling thread, and Linux's
``PR_SET_PDEATHSIG`` fires when *that thread* exits, so call :meth:`start`
from a long-lived thread.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from controller.api.cpuarch import normalize_arch
from fogsim.catalog import FDU_NAMESPACE, Catalog, fdu_uuid_for, validate_descriptor
from fogsim.changes import DEFAULT_CAPACITY, INSTANCE, NODE, ChangeKey, ChangeLog
from fogsim.errors import (
    FogsimError,
    IllegalTransition,
    Incompatible,
    InUse,
    InvalidDescriptor,
    NotFound,
)
from fogsim.instances import HOLDING, TRANSITIONS, Instance, State, check_transition, parse_env
from fogsim.lifecycle import CRASH_CODE, SPAWN_FAILED_CODE, Lifecycle
from fogsim.logs import LOG_CHUNK, read_from, read_tail
from fogsim.networks import Networks
from fogsim.node_table import NodeTable
from fogsim.nodes import NodeSpec
from fogsim.processes import Supervisor
from fogsim.records import CONTAINER_BLOCK, instance_record, node_status_record

# The engine's names that callers and tests import from here.
__all__ = [
    "CONTAINER_BLOCK",
    "CRASH_CODE",
    "FDU_NAMESPACE",
    "HOLDING",
    "LOG_CHUNK",
    "SPAWN_FAILED_CODE",
    "TRANSITIONS",
    "Engine",
    "FogsimError",
    "IllegalTransition",
    "InUse",
    "Incompatible",
    "InvalidDescriptor",
    "NotFound",
    "State",
    "fdu_uuid_for",
    "parse_env",
]


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
        self._nodes = NodeTable(nodes)
        self._catalog = Catalog()
        self._instances: dict[str, Instance] = {}
        self._life = Lifecycle(no_processes=no_processes, stop_grace=stop_grace,
                               workdir=workdir, poll_interval=poll_interval,
                               on_exit=self._on_exit)
        self._closed = False
        self.networks = Networks(on_change=self._forget_stored)
        """Virtual networks and connection points (fogsim.networks)."""

    @property
    def no_processes(self) -> bool:
        return self._life.no_processes

    @property
    def stop_grace(self) -> float:
        return self._life.stop_grace

    @property
    def workdir(self) -> Path:
        return self._life.workdir

    @property
    def supervisor(self) -> Supervisor:
        return self._life.supervisor

    def _forget_stored(self) -> None:
        """A connection point changed: the records showing it are rendered afresh."""
        with self._lock:
            for inst in self._instances.values():
                inst.stored = None

    # ------------------------------------------------------------------ nodes
    def node_list(self) -> list[str]:
        """Uuids of the nodes that are up (fog05 ``node.list()``)."""
        with self._lock:
            return self._nodes.up_ids()

    def node_info(self, node: str) -> dict[str, Any]:
        """fog05 ``node.info()`` plus ``labels``."""
        with self._lock:
            return self._nodes.find(node).spec.info()

    def node_status(self, node: str) -> dict[str, Any]:
        """fog05 ``node.status()``; free RAM/disk after CONFIGURE/RUN instances."""
        with self._lock:
            n = self._nodes.find(node)
            return node_status_record(n.spec, (self._instances[iid] for iid in n.instances))

    def node_down(self, node: str) -> dict[str, Any]:
        """Kill the node's processes and drop its instances (a dead agent)."""
        with self._lock:
            n = self._nodes.find(node, include_down=True)
            removed = list(n.instances)
            for iid in removed:
                inst = self._instances[iid]
                self._life.kill(inst)
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
            n = self._nodes.find(node, include_down=True)
            if not n.up:
                n.up = True
                self.changes.record(ChangeKey(NODE, n.spec.uuid))
            return {"node": n.spec.uuid, "name": n.spec.name, "up": True,
                    "removed_instances": []}

    # ---------------------------------------------------------------- catalog
    def onboard(self, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and store a descriptor; idempotent per ``id``."""
        desc = self.validate_descriptor(descriptor)
        with self._lock:
            self._catalog.put(desc)
            return copy.deepcopy(desc)

    def validate_descriptor(self, descriptor: Mapping[str, Any]) -> dict[str, Any]:
        """The descriptor as it would be stored (with uuid), or InvalidDescriptor."""
        return validate_descriptor(descriptor)

    def offload(self, fdu: str) -> str:
        """Remove an FDU from the catalog; refused while it has instances."""
        with self._lock:
            return self._catalog.remove(fdu)

    def fdu_info(self, fdu: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._catalog.get(fdu))

    def list_fdus(self) -> list[str]:
        with self._lock:
            return self._catalog.uuids()

    def instances_of(self, fdu: str) -> dict[str, list[str]]:
        """fog05 ``instance_list(fduid)``: ``{node_uuid: [iid, ...]}``."""
        with self._lock:
            uid = self._catalog.get(fdu)["uuid"]
            out: dict[str, list[str]] = {}
            for iid in self._catalog.instance_ids(uid):
                inst = self._instances[iid]
                out.setdefault(inst.node, []).append(inst.uuid)
            return out

    # -------------------------------------------------------------- instances
    def _inst(self, iid: str) -> Instance:
        inst = self._instances.get(iid)
        if inst is None:
            raise NotFound(f"instance {iid} not found")
        return inst

    def _record(self, inst: Instance, status: str | None = None) -> dict[str, Any]:
        return instance_record(inst, self._nodes[inst.node].spec, self.networks,
                               simulated=self._life.simulated(inst), status=status)

    def define(self, fdu: str, node: str) -> dict[str, Any]:
        """Create an instance in DEFINE. Capacity is not checked (as fog05 0.2)."""
        with self._lock:
            desc = self._catalog.get(fdu)
            n = self._nodes.find(node)
            want = str((desc.get("computation_requirements") or {}).get("cpu_arch", ""))
            if want and normalize_arch(want) != normalize_arch(n.spec.arch):
                raise Incompatible(
                    f"node {n.spec.name} ({n.spec.arch}) cannot run FDU {desc['uuid']} "
                    f"requiring {want}"
                )
            iid = str(uuid.uuid4())
            inst = Instance(uuid=iid, fdu_id=desc["uuid"], node=n.spec.uuid,
                            descriptor=copy.deepcopy(desc))
            self._instances[iid] = inst
            self._catalog.add_instance(inst.fdu_id, iid)
            n.instances[iid] = None
            self._changed(inst, held=False)
            return self._record(inst)

    def _move(self, iid: str, step: Callable[[Instance], None]) -> dict[str, Any]:
        """Apply one lifecycle step to the instance, log the change, return its record."""
        with self._lock:
            inst = self._inst(iid)
            held = inst.holding
            step(inst)
            self._changed(inst, held)
            return self._record(inst)

    def configure(self, iid: str) -> dict[str, Any]:
        return self._move(iid, self._life.configure)

    def start(self, iid: str, env: Mapping[str, Any] | str | None = None) -> dict[str, Any]:
        """CONFIGURE -> RUN; BARE FDUs really start (spawn failure -> ERROR 127)."""
        try:
            start_env = parse_env(env)
        except ValueError as exc:
            raise InvalidDescriptor(str(exc)) from exc
        return self._move(iid, lambda inst: self._life.start(
            inst, start_env, self._nodes[inst.node].spec))

    def stop(self, iid: str) -> dict[str, Any]:
        """RUN -> CONFIGURE at once; the process is terminated in the background."""
        return self._move(iid, self._life.stop)

    def clean(self, iid: str) -> dict[str, Any]:
        """CONFIGURE/ERROR -> DEFINE (kills any leftover process)."""
        return self._move(iid, self._life.clean)

    def crash(self, iid: str) -> dict[str, Any]:
        """Fault injection: SIGKILL the process (if any) and set ERROR."""
        return self._move(iid, self._life.crash)

    def undefine(self, iid: str, *, force: bool = False) -> dict[str, Any]:
        """Remove an instance (from DEFINE, or from any state with ``force``)."""
        with self._lock:
            inst = self._inst(iid)
            if not force:
                check_transition(inst, "undefine")
            self._life.kill(inst)
            record = self._record(inst, status="UNDEFINE")
            self._drop(iid)
            self._changed(inst, inst.holding, gone=True)
            return record

    def _drop(self, iid: str) -> None:
        inst = self._instances.pop(iid)
        self._nodes[inst.node].instances.pop(iid, None)
        self._catalog.drop_instance(inst.fdu_id, iid)

    def _on_exit(self, key: str, pid: int, returncode: int, expected: bool) -> None:
        """Supervisor callback (reaper thread): a process ended."""
        with self._lock:
            inst = self._instances.get(key.partition("#")[0])
            if inst is None or inst.proc_key != key:
                return  # stopped/crashed/replaced already: nothing to report
            held = inst.holding
            self._life.exited(inst, returncode, expected)
            self._changed(inst, held)

    # ----------------------------------------------------------- change feed
    def _changed(self, inst: Instance, held: bool, *, gone: bool = False) -> None:
        """Log an instance change, and its node's when what the node holds changed."""
        self.changes.record(ChangeKey(INSTANCE, inst.uuid, inst.node, inst.fdu_id))
        if held != (not gone and inst.holding):
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

    # --------------------------------------------------------------- listings
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

    def instances(self) -> list[dict[str, Any]]:
        """All instance records (on up nodes)."""
        with self._lock:
            return [self._record(i) for i in self._instances.values()]

    def instance_log(self, iid: str, tail: int | None = None) -> str:
        """The instance's stdout+stderr ('' when it never ran a process)."""
        with self._lock:
            path = self._inst(iid).log_path
        return read_tail(path, tail)

    def instance_log_from(self, iid: str, offset: int) -> tuple[bytes, int]:
        """At most LOG_CHUNK bytes of the log from byte ``offset``, and the offset after
        them: what a follower asks for again and again, so one read stays bounded."""
        with self._lock:
            path = self._inst(iid).log_path
        return read_from(path, offset)

    def state(self) -> dict[str, Any]:
        """Everything, JSON-able (``/sim/state``)."""
        with self._lock:
            return {
                "nodes": [n.summary() for n in self._nodes],
                "fdus": [copy.deepcopy(d) for d in self._catalog.descriptors()],
                "instances": [self._record(i) for i in self._instances.values()],
                "networks": self.networks.list_networks(),
                "connection_points": self.networks.list_cps(),
                "options": {
                    "no_processes": self.no_processes,
                    "stop_grace": self.stop_grace,
                    "workdir": str(self.workdir),
                },
            }

    # ------------------------------------------------------------------ close
    def close(self, grace: float | None = None) -> None:
        """Kill every process this engine started; remove its own workdir."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._life.close(grace)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
