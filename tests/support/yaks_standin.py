"""An in-process stand-in for fog05 0.2's YAKS connection, backed by fogsim's engine.

The REAL ``fog05.FIMAPI`` / ``fog05_sdk.yaks_connector`` code runs unchanged on top of
it: only ``yaks.Yaks.login`` is replaced (see :func:`install`), so the key layout,
selectors, eval paths and JSON records are exactly the ones fog05 0.2.1 uses:

* ``/agfos/<sys>/tenants/<ten>/nodes/<nid>/{info,status}`` node info/status,
* ``/agfos/.../catalog/fdu/<fid>/info`` the FDU catalog,
* ``/agfos/.../nodes/<nid>/fdu/<fid>/instances/<iid>/info`` instance records (the FDU
  descriptor fields plus ``uuid``, ``fdu_id``, ``status``, ``error_*``, ``hypervisor_info``),
* evals ``/agfos/.../nodes/<nid>/agent/exec/{onboard_fdu,define_fdu}?(k=v)`` and
  ``/agfos/.../nodes/*/fdu/*/instances/<iid>/{start?(env=..),log}`` (these two the
  agent hands to the instance's runtime plugin), and the agent's own local eval
  ``/alfos/<nid>/agent/exec/get_node_mgmt_address`` (no plugin behind it),
* desired writes ``/dgfos/.../nodes/<nid>/fdu/<fid>/instances/<iid>/info`` (status
  CONFIGURE/RUN/STOP/CLEAN/UNDEFINE) and removal of ``/dgfos/.../catalog/fdu/<fid>/info``,
* virtual networks: desired ``/dgfos/.../networks/<nid>/info`` (put and remove) and
  ``/dgfos/.../networks/ports/<cp>/info`` (status ``add``/``remove``), projected as
  ``/agfos/.../networks/<nid>/info``, ``/agfos/.../networks/ports/<cp>/info`` and the
  port on the node whose agent took it up, ``/agfos/.../nodes/<nid>/networks/ports/<cp>/info``
  (the first node up: fog05 0.2 does not let FIMAPI choose); evals
  ``nodes/<nid>/agent/exec/{add_port_to_network,remove_port_from_network}``.

The "agent" applies desired writes asynchronously on its own long-lived thread (fogsim
spawns BARE processes on the calling thread; fog05 agents are asynchronous too). Like a
real fog05 agent, a desired state that is illegal from the current one is ignored (the
record simply never changes: the hazard the fog05 driver must survive with deadlines);
ignored requests are kept in :attr:`YaksStandin.ignored` for tests.

``/agfos`` records are a live projection of the engine, so node down/up or crashes done
on the engine show up immediately, as they would after an agent's next update.

Subscriptions are delivered as YAKS does: every put and remove of a record matching a
subscribed selector calls the listener with a list of one ``yaks.Change`` (path, kind
``PUT``/``REMOVE``, a ``yaks.Value``), on a thread of its own (zenoh's, in YAKS). The
engine's change log says which records changed; each is sent as it is when delivered.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import queue
import re
import threading
from dataclasses import dataclass
from typing import Any

import fogsim.engine as fs
from fogsim.changes import INSTANCE, ChangeKey
from fogsim.networks import NetworkError, NetworkInUse, NetworkNotFound
from yaks.encoding import Encoding
from yaks.value import Change, ChangeKind, Value

GLOBAL_ACTUAL = "/agfos"
LOCAL_ACTUAL = "/alfos"
GLOBAL_DESIRED = "/dgfos"

_RECORD_KEYS = (
    "image",
    "command",
    "storage",
    "computation_requirements",
    "geographical_requirements",
    "energy_requirements",
    "hypervisor",
    "migration_kind",
    "configuration",
    "interfaces",
    "io_ports",
    "connection_points",
    "depends_on",
)


class _Value:
    """Duck type of ``yaks.Value`` (fog05 only calls ``get_value()``)."""

    def __init__(self, value: str) -> None:
        self._v = value

    def get_value(self) -> str:
        return self._v


class _Entry:
    """Duck type of ``yaks.Entry``."""

    def __init__(self, path: str, value: str) -> None:
        self.path = path
        self.value = _Value(value)

    def get_path(self) -> str:
        return self.path

    def get_value(self) -> _Value:
        return self.value


def _glob_to_re(selector: str) -> re.Pattern[str]:
    out = []
    for tok in re.split(r"(\*\*|\*)", selector):
        if tok == "**":
            out.append(".*")
        elif tok == "*":
            out.append("[^/]*")
        else:
            out.append(re.escape(tok))
    return re.compile("^" + "".join(out) + "$")


def _parse_query(query: str) -> dict[str, str]:
    """``(k=v)`` as written by fog05's ``dict2args``; fog05 only ever sends one key
    (a JSON value may itself contain ``;``/``=``, so do not split further)."""
    q = query.strip()
    if q.startswith("(") and q.endswith(")"):
        q = q[1:-1]
    if not q:
        return {}
    key, _, value = q.partition("=")
    return {key: value}


def _parse_pairs(query: str) -> dict[str, str]:
    """``(k1=v1;k2=v2)`` of plain values (uuids), as the network evals send."""
    q = query.strip().removeprefix("(").removesuffix(")")
    pairs = (item.partition("=") for item in q.split(";") if item)
    return {k: v for k, _, v in pairs}


def _value_str(value: Any) -> str:
    inner = value.get_value() if hasattr(value, "get_value") else value
    return inner if isinstance(inner, str) else json.dumps(inner)


@dataclass(frozen=True)
class _Subscription:
    pattern: re.Pattern[str]
    listener: Any


class YaksStandin:
    """The whole fog as fog05's FIMAPI sees it through YAKS."""

    def __init__(self, engine: fs.Engine, *, sysid: str = "0", tenantid: str = "0") -> None:
        self.engine = engine
        self.sysid = sysid
        self.tenantid = tenantid
        self._agent = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="fog05-standin-agent"
        )
        self._store: dict[str, str] = {}
        self._lock = threading.Lock()
        self._subs = itertools.count(1)
        self.ignored: list[tuple[str, str, str]] = []  # (instance, requested, reason)
        self.hang_evals = False  # tests: make every eval block like a dead agent
        self._port_nodes: dict[str, str] = {}  # connection point -> the node holding it
        self.logins: list[str] = []
        self._subscriptions: dict[int, _Subscription] = {}
        self._changed: queue.Queue[ChangeKey | None] = queue.Queue()
        self._publisher: threading.Thread | None = None
        self._dead: dict[str, dict[str, str]] = {}  # node -> its last /agfos records
        self._hung_agents: set[str] = set()
        self._hung_plugins: set[str] = set()
        self._hangs = threading.Condition()
        self._closed = False

    # --- a hung agent or plugin --------------------------------------------------------------

    def hang_agent(self, node: str) -> None:
        """Every eval to the node's agent (``node``: its uuid) blocks until :meth:`unhang`."""
        with self._hangs:
            self._hung_agents.add(node)

    def hang_plugin(self, node: str) -> None:
        """The node's runtime plugin hangs: the instance evals the agent hands it (``log``,
        ``start``) block until :meth:`unhang`; the agent's own evals still answer."""
        with self._hangs:
            self._hung_plugins.add(node)

    def unhang(self, node: str) -> None:
        with self._hangs:
            self._hung_agents.discard(node)
            self._hung_plugins.discard(node)
            self._hangs.notify_all()

    def _wait_while_hung(self, node: str | None, *, plugin: bool) -> None:
        def free() -> bool:
            return self._closed or node is None or not (
                node in self._hung_agents or (plugin and node in self._hung_plugins))

        with self._hangs:
            self._hangs.wait_for(free)

    def _instance_node(self, iid: str) -> str | None:
        try:
            return str(self.engine.instance_info(iid)["node"])
        except fs.NotFound:
            return None

    # --- a dead agent ------------------------------------------------------------------------

    def agent_dies(self, node: str) -> str:
        """The node dies with its agent, which cleans nothing up: fog05 0.2's agents only
        mirror their own records into the global store, so the node's last info, status
        and instance records stay there as they were (instances still ``RUN``) while its
        processes are gone, its evals answer nothing and no change of its records is
        published. Returns the node's uuid."""
        uuid = str(self.engine.node_info(node)["uuid"])
        mine = f"{self._base(GLOBAL_ACTUAL)}/nodes/{uuid}/"
        frozen = {k: v for k, v in self._actual().items() if k.startswith(mine)}
        with self._lock:
            self._dead[uuid] = frozen
        self.engine.node_down(uuid)
        return uuid

    def agent_returns(self, node: str) -> None:
        """The node and a fresh agent come back (``node``: its name or uuid): the agent
        publishes its node records anew and removes the instance records its predecessor
        left."""
        base = f"{self._base(GLOBAL_ACTUAL)}/nodes"
        with self._lock:
            uuid = next(u for u, recs in self._dead.items() if node in (
                u, json.loads(recs[f"{base}/{u}/info"]).get("name")))
            frozen = self._dead.pop(uuid)
        for path in sorted(frozen):
            if "/fdu/" in path:
                self._deliver(path, None)
        self.engine.node_up(uuid)

    def port_node(self, cp_id: str) -> str | None:
        """The uuid of the node whose agent took the connection point up."""
        return self._port_nodes.get(cp_id)

    def _silenced(self, path: str) -> bool:
        """Under a node whose agent is dead: nobody publishes changes there."""
        with self._lock:
            return any(path.startswith(f"{self._base(GLOBAL_ACTUAL)}/nodes/{u}/")
                       for u in self._dead)

    # --- yaks.Yaks.login replacement -----------------------------------------------------

    def login(self, locator: str, properties: Any = None) -> _Client:
        self.logins.append(locator)
        return _Client(self)

    def close(self) -> None:
        with self._hangs:
            self._closed = True
            self._hangs.notify_all()
        self._agent.shutdown(wait=True, cancel_futures=True)
        if self._publisher is not None:
            self.engine.changes.unlisten(self._on_change)
            self._changed.put(None)
            self._publisher.join(5)

    # --- projection ------------------------------------------------------------------------

    def _base(self, prefix: str) -> str:
        return f"{prefix}/{self.sysid}/tenants/{self.tenantid}"

    def _fog05_record(self, rec: dict[str, Any]) -> dict[str, Any]:
        try:
            desc = self.engine.fdu_info(rec["fdu_id"])
        except fs.NotFound:
            desc = {}
        out: dict[str, Any] = {k: desc.get(k) for k in _RECORD_KEYS}
        out.update(
            uuid=rec["uuid"],
            fdu_id=rec["fdu_id"],
            status=rec["status"],
            error_code=rec.get("error_code"),
            error_msg=rec.get("error_msg"),
            migration_properties=None,
            hypervisor_info=rec.get("hypervisor_info") or {},
        )
        return out

    def _actual(self) -> dict[str, str]:
        base = self._base(GLOBAL_ACTUAL)
        kv: dict[str, str] = {}
        for nid in self.engine.node_list():
            info = self.engine.node_info(nid)
            info.pop("labels", None)  # fogsim's own; fog05 has no node labels
            kv[f"{base}/nodes/{nid}/info"] = json.dumps(info)
            kv[f"{base}/nodes/{nid}/status"] = json.dumps(self.engine.node_status(nid))
        for fid in self.engine.list_fdus():
            kv[f"{base}/catalog/fdu/{fid}/info"] = json.dumps(self.engine.fdu_info(fid))
        for rec in self.engine.instances():
            path = f"{base}/nodes/{rec['node']}/fdu/{rec['fdu_id']}/instances/{rec['uuid']}/info"
            kv[path] = json.dumps(self._fog05_record(rec))
        for net in self.engine.networks.list_networks():
            kv[f"{base}/networks/{net['uuid']}/info"] = json.dumps(net)
        for cp in self.engine.networks.list_cps():
            kv[f"{base}/networks/ports/{cp['uuid']}/info"] = json.dumps(cp)
            node = self._port_nodes.get(cp["uuid"])
            if node is not None:
                kv[f"{base}/nodes/{node}/networks/ports/{cp['uuid']}/info"] = json.dumps(cp)
        with self._lock:
            for records in self._dead.values():
                kv.update(records)
        return kv

    # --- workspace operations ---------------------------------------------------------------

    def get(self, selector: str) -> list[_Entry]:
        path, _, query = selector.partition("?")
        path = path.rstrip("/")  # fog05 writes ".../start/?(env=...)"
        segs = path.split("/")
        act = self._base(GLOBAL_ACTUAL).split("/")
        if segs[: len(act)] == act and len(segs) > len(act):
            rest = segs[len(act) :]
            # nodes/<nid>/agent/exec/<fname>
            if len(rest) == 5 and rest[0] == "nodes" and rest[2:4] == ["agent", "exec"]:
                self._wait_while_hung(rest[1], plugin=False)
                return self._eval(path, lambda: self._agent_exec(rest[1], rest[4], query))
            # nodes/*/fdu/*/instances/<iid>/<op>
            if len(rest) == 7 and rest[0] == "nodes" and rest[2] == "fdu" and rest[6] != "info":
                self._wait_while_hung(self._instance_node(rest[5]), plugin=True)
                return self._eval(path, lambda: self._instance_exec(rest[5], rest[6], query))
        # /alfos/<nid>/agent/exec/<fname>: the agent's own local evals
        if segs[:2] == ["", LOCAL_ACTUAL[1:]] and len(segs) == 6 and segs[3:5] == ["agent",
                                                                                  "exec"]:
            self._wait_while_hung(segs[2], plugin=False)
            return self._eval(path, lambda: self._local_agent_exec(segs[2], segs[5]),
                              queued=False)
        pattern = _glob_to_re(path)
        with self._lock:
            kv = dict(self._store)
        if path.startswith(GLOBAL_ACTUAL + "/"):
            kv.update(self._actual())
        return [_Entry(k, v) for k, v in sorted(kv.items()) if pattern.match(k)]

    def put(self, path: str, value: Any) -> bool:
        text = _value_str(value)
        segs = path.split("/")
        des = self._base(GLOBAL_DESIRED).split("/")
        rest = segs[len(des) :]
        if (
            segs[: len(des)] == des
            and len(rest) == 7
            and rest[0] == "nodes"
            and rest[2] == "fdu"
            and rest[4] == "instances"
            and rest[6] == "info"
        ):
            record = json.loads(text)
            self._agent.submit(self._apply_desired, rest[5], str(record.get("status")), record)
            return True
        if segs[: len(des)] == des and rest[:1] == ["networks"] and rest[-1:] == ["info"]:
            self._agent.submit(self._apply_network, rest, json.loads(text))
            return True
        with self._lock:
            self._store[path] = text
        return True

    def remove(self, path: str) -> bool:
        segs = path.split("/")
        des = self._base(GLOBAL_DESIRED).split("/")
        rest = segs[len(des) :]
        if segs[: len(des)] == des and len(rest) == 4 and rest[:2] == ["catalog", "fdu"]:
            self._agent.submit(self._offload, rest[2])
            return True
        if segs[: len(des)] == des and len(rest) == 3 and rest[0] == "networks":
            self._agent.submit(self._apply_network, rest, None)
            return True
        with self._lock:
            self._store.pop(path, None)
        return True

    def subscribe(self, selector: str, listener: Any) -> int:
        subid = next(self._subs)
        with self._lock:
            self._subscriptions[subid] = _Subscription(_glob_to_re(selector), listener)
            if self._publisher is None:
                self._publisher = threading.Thread(target=self._publish, daemon=True,
                                                   name="yaks-standin-publisher")
                self._publisher.start()
                self.engine.changes.listen(self._on_change)
        return subid

    def unsubscribe(self, subid: int) -> None:
        with self._lock:
            self._subscriptions.pop(subid, None)

    def drop_subscriptions(self) -> None:
        """Tests: the session's subscriptions are lost (nothing is delivered any more)."""
        with self._lock:
            self._subscriptions.clear()

    # --- publishing ---------------------------------------------------------------------------

    def _on_change(self, revision: int, key: ChangeKey) -> None:
        self._changed.put(key)  # under the engine's lock: only hand it on

    def _publish(self) -> None:
        while (key := self._changed.get()) is not None:
            for path, text in self._records_now(key):
                self._deliver(path, text)

    def _records_now(self, key: ChangeKey) -> list[tuple[str, str | None]]:
        """(path, JSON now or None: removed) of what ``key`` names in YAKS."""
        base = self._base(GLOBAL_ACTUAL)
        if key.kind == INSTANCE:
            path = f"{base}/nodes/{key.node}/fdu/{key.fdu}/instances/{key.id}/info"
            try:
                return [(path, json.dumps(self._fog05_record(self.engine.instance_info(key.id))))]
            except fs.NotFound:
                return [(path, None)]
        node = f"{base}/nodes/{key.id}"
        try:
            info = self.engine.node_info(key.id)
            status = self.engine.node_status(key.id)
        except fs.NotFound:
            return [(f"{node}/info", None), (f"{node}/status", None)]
        info.pop("labels", None)
        return [(f"{node}/info", json.dumps(info)), (f"{node}/status", json.dumps(status))]

    def _deliver(self, path: str, text: str | None) -> None:
        if self._silenced(path):
            return
        if text is None:
            change = Change(path, ChangeKind.REMOVE, None, None)
        else:
            change = Change(path, ChangeKind.PUT, None, Value(text, encoding=Encoding.STRING))
        with self._lock:
            listeners = [s.listener for s in self._subscriptions.values()
                         if s.pattern.match(path)]
        for listener in listeners:
            listener([change])

    # --- the agent ---------------------------------------------------------------------------

    def _eval(self, path: str, fn: Any, *, queued: bool = True) -> list[_Entry]:
        """``queued``: run on the one agent thread every node shares here (after the
        desired writes before it); a read of the agent's own is answered at once, as each
        real node's agent would while another node starts a process."""
        if self.hang_evals:
            threading.Event().wait()  # a dead agent: the get never returns
        result = self._agent.submit(fn).result() if queued else fn()
        if result is None:  # no eval registered there (node down): yaks answers nothing
            return []
        return [_Entry(path, json.dumps(result))]

    def _agent_exec(self, nid: str, fname: str, query: str) -> dict[str, Any] | None:
        if nid not in self.engine.node_list():
            return None
        params = _parse_query(query)
        try:
            if fname == "onboard_fdu":
                desc = json.loads(params.get("descriptor", "{}"))
                return {"result": self.engine.onboard(desc)}
            if fname == "define_fdu":
                rec = self.engine.define(params.get("fdu_id", ""), nid)
                return {"result": self._fog05_record(rec)}
            if fname in ("add_port_to_network", "remove_port_from_network"):
                return self._port_exec(fname, _parse_pairs(query))
        except fs.FogsimError as exc:
            return {"result": None, "error": 22, "error_msg": str(exc)}
        return {"result": None, "error": 38, "error_msg": f"function {fname} not implemented"}

    def _local_agent_exec(self, nid: str, fname: str) -> dict[str, Any] | None:
        if nid not in self.engine.node_list() or fname != "get_node_mgmt_address":
            return None  # no agent, or no such eval registered: YAKS answers nothing
        intf = self.engine.node_info(nid)["network"][0]
        return {"result": intf["intf_configuration"]["ipv4_address"]}

    def _instance_exec(self, iid: str, op: str, query: str) -> dict[str, Any] | None:
        try:
            if op == "start":
                env = _parse_query(query).get("env", "")
                self.engine.start(iid, env)
                return {"result": iid}
            if op == "log":
                return {"result": self.engine.instance_log(iid)}
        except fs.NotFound:
            return None
        except fs.FogsimError as exc:
            return {"error": str(exc)}
        return {"error": f"{op} not implemented"}

    def _apply_desired(self, iid: str, status: str, record: dict[str, Any]) -> None:
        actions = {
            "CONFIGURE": self.engine.configure,
            "STOP": self.engine.stop,
            "CLEAN": self.engine.clean,
            "UNDEFINE": self.engine.undefine,
        }
        try:
            if status == "RUN":
                self.engine.start(iid, record.get("env"))
            elif status in actions:
                actions[status](iid)
            else:
                self.ignored.append((iid, status, "unsupported state"))
        except fs.FogsimError as exc:
            self.ignored.append((iid, status, str(exc)))

    def _port_exec(self, fname: str, params: dict[str, str]) -> dict[str, Any]:
        nets = self.engine.networks
        try:
            if fname == "add_port_to_network":
                rec = nets.connect(params.get("cp_uuid", ""), params.get("network_uuid", ""))
            else:
                rec = nets.disconnect(params.get("cp_uuid", ""))
        except (NetworkError, NetworkInUse, NetworkNotFound) as exc:
            return {"result": None, "error": 22, "error_msg": str(exc)}
        return {"result": rec}

    def _apply_network(self, rest: list[str], record: dict[str, Any] | None) -> None:
        """The agent's side of a desired network or port record (``rest``: the path
        below the tenant; ``record`` None: removed)."""
        nets = self.engine.networks
        try:
            if len(rest) == 3 and record is None:
                nets.remove_network(rest[1])
            elif len(rest) == 3:
                nets.add_network(record)
            elif len(rest) == 4 and rest[1] == "ports" and record is not None:
                cp_id = rest[2]
                if record.get("status") == "remove":
                    nets.remove_cp(cp_id)
                    self._port_nodes.pop(cp_id, None)
                else:
                    nets.add_cp(record)
                    nodes = self.engine.node_list()
                    if nodes:
                        self._port_nodes.setdefault(cp_id, nodes[0])
        except (NetworkError, NetworkInUse, NetworkNotFound) as exc:
            self.ignored.append((rest[-2], "network", str(exc)))

    def _offload(self, fid: str) -> None:
        try:
            self.engine.offload(fid)
        except fs.FogsimError as exc:
            self.ignored.append((fid, "offload", str(exc)))


class _Workspace:
    def __init__(self, standin: YaksStandin) -> None:
        self._s = standin

    def get(self, selector: str, encoding: Any = None, fallback: Any = None) -> list[_Entry]:
        return self._s.get(selector)

    def put(self, path: str, value: Any) -> bool:
        return self._s.put(path, value)

    def update(self, path: str, value: Any) -> bool:
        return self._s.put(path, value)

    def remove(self, path: str) -> bool:
        return self._s.remove(path)

    def subscribe(self, selector: str, listener: Any) -> int:
        return self._s.subscribe(selector, listener)

    def unsubscribe(self, subid: Any) -> bool:
        self._s.unsubscribe(subid)
        return True

    def register_eval(self, path: str, callback: Any) -> bool:
        return True

    def unregister_eval(self, path: str) -> bool:
        return True


class _Client:
    def __init__(self, standin: YaksStandin) -> None:
        self._s = standin

    def workspace(self, path: str, executor: Any = None) -> _Workspace:
        return _Workspace(self._s)

    def admin(self) -> object:
        return object()

    def logout(self) -> None:
        return None


def install(monkeypatch: Any, standin: YaksStandin) -> None:
    """Route fog05's ``Yaks.login`` (the class fog05_sdk imported from yaks) to ``standin``."""
    import yaks

    monkeypatch.setattr(yaks.Yaks, "login", staticmethod(standin.login))
