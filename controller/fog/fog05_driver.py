"""FogClient over fog05 0.2's Python ``FIMAPI`` (YAKS/zenoh).

FIMAPI is dangerous to call naively: its ``wait=True`` loops busy-poll forever, a request
in the wrong state never completes, a YAKS get to a dead agent can block, and errors are
bare ``ValueError``/``SystemError`` strings. So this driver

* runs every FIMAPI call within the call's deadline, its errors typed
  (:mod:`controller.fog.fog05_fim`);
* checks the current state before every transition (already in the target state =
  success, wrong state = :class:`IllegalTransition`), calls it with ``wait=False`` (except
  ``start``, see there), then polls ``instance_info`` with a capped backoff until the
  target state or the deadline;
* encodes the start env in fog05's ``A=1,B=2`` form and rejects what it cannot carry.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from controller.api import templates
from controller.fog import fog05_compat
from controller.fog.agent_liveness import Answer, Seen
from controller.fog.client import (
    FeedCursor,
    FogError,
    FogFeed,
    FogTimeout,
    IllegalTransition,
    InstanceInfo,
    InstanceState,
    InvalidDescriptor,
    NodeInfo,
    NodeStatus,
    NotFound,
    listed_feed,
)
from controller.fog.fog05_agents import (
    DEFAULT_AGENT_TIMEOUT,
    AgentWatch,
    StoreRead,
    ask_agent,
    ask_plugin,
    onboard_via,
    read_store,
)
from controller.fog.fog05_feed import Told, YaksFeed, parse_taken
from controller.fog.fog05_fim import DEFAULT_TIMEOUT, Fog05Fim
from controller.fog.fog05_networks import Fog05Networks
from controller.fog.node_labels import NodeLabels
from controller.fog.records import (
    instance_from_record,
    node_info_from_record,
    node_status_from_record,
)
from controller.fog.retry import Deadline, backoff_delays

_ENV_FORBIDDEN = templates.ENV_UNCARRIABLE

# op -> (states it may start from, state it ends in); mirrors fog05's agent
_TRANSITIONS: dict[str, tuple[frozenset[InstanceState], InstanceState]] = {
    "configure": (frozenset({InstanceState.DEFINE}), InstanceState.CONFIGURE),
    "start": (frozenset({InstanceState.CONFIGURE}), InstanceState.RUN),
    "stop": (frozenset({InstanceState.RUN}), InstanceState.CONFIGURE),
    "clean": (frozenset({InstanceState.CONFIGURE, InstanceState.ERROR}), InstanceState.DEFINE),
}

def encode_env(env: Mapping[str, str] | None, what: str) -> str:
    """fog05's ``A=1,B=2`` env string; values with ``,`` ``=`` ``;`` cannot be carried."""
    parts = []
    for key, value in (env or {}).items():
        k, v = str(key), str(value)
        if not k or any(c in k for c in _ENV_FORBIDDEN):
            raise InvalidDescriptor(f"{what}: env name {k!r} cannot be passed to fog05")
        bad = [c for c in _ENV_FORBIDDEN if c in v]
        if bad:
            hint = " (a list: join it with {{ ... | join(' ') }})" if bad[0] == "," else ""
            raise InvalidDescriptor(
                f"{what}: env {k} contains {bad[0]!r}, which fog05's A=1,B=2 env form cannot "
                f"carry{hint}"
            )
        parts.append(f"{k}={v}")
    return ",".join(parts)


class Fog05Client(Fog05Fim, Fog05Networks):
    """Talks to a fog05 0.2 system through ``fog05.FIMAPI``."""

    def __init__(
        self,
        locator: str,
        *,
        sysid: str = "0",
        tenantid: str = "0",
        timeout: float = DEFAULT_TIMEOUT,
        poll_interval: float = 0.05,
        poll_cap: float = 0.5,
        zenoh_lib: str | None = None,
        node_labels: NodeLabels | None = None,
        agent_timeout: float = DEFAULT_AGENT_TIMEOUT,
        agent_interval: float = 1.0,
    ) -> None:
        super().__init__(locator, sysid=sysid, tenantid=tenantid, timeout=timeout,
                         zenoh_lib=zenoh_lib)
        self.node_labels: NodeLabels = dict(node_labels or {})
        self.poll_interval = poll_interval
        self.poll_cap = poll_cap
        self._feed: YaksFeed | None = None
        self._feed_lock = threading.Lock()
        self._paths: Mapping[str, str] = {}
        self.agents = AgentWatch(read=self._read_store, ask_agent=self._ask_agent,
                                 ask_plugin=self._ask_plugin,
                                 on_change=self._agents_changed, timeout=agent_timeout,
                                 interval=agent_interval)

    # --- dead agents (see controller.fog.agent_liveness) -----------------------------------

    def _read_store(self) -> Seen:
        read: StoreRead = self._call("read the agents' records", self._deadline(None),
                                     read_store)
        self._paths = read.paths
        return read.seen

    def _ask_agent(self, node: str) -> Answer:
        api = self._fim(f"ask the agent of node {node}", self._deadline(None))
        return ask_agent(api, node)

    def _ask_plugin(self, instance_id: str) -> Answer:
        api = self._fim(f"ask the plugin of {instance_id}", self._deadline(None))
        return ask_plugin(api, instance_id)

    def _node_gone(self, node: str) -> bool:
        return self.agents.liveness.is_dead(node)

    def _stale(self, node: str | None, instance_id: str) -> bool:
        return self.agents.liveness.stale(node, instance_id)

    def _agents_changed(self, dead: list[str], back: list[str]) -> None:
        """Tell the change feed: a dead agent's node and instances are gone, as if its
        records had been removed (a dead agent removes nothing, so YAKS says nothing)."""
        with self._feed_lock:
            feed = self._feed
        if feed is None:
            return
        liveness = self.agents.liveness
        changes: list[Any] = []
        for node in dead:
            changes += [Told(self._paths[i], None) for i in sorted(liveness.dead[node].instances)
                        if i in self._paths]
            changes.append(Told(f"{feed.base}/nodes/{node}/info", None))
        changes += [Told(f"{feed.base}/nodes/{node}/info", "{}") for node in back]
        feed.on_changes(changes)

    # --- raw reads ---------------------------------------------------------------------

    def _record(self, iid: str, what: str, deadline: Deadline) -> InstanceInfo | None:
        """The instance as fog05 reports it, or None when it does not exist."""

        def read(api: Any) -> tuple[dict[str, Any] | None, str | None]:
            infra = api.fdu.instance_info(iid)
            if infra.get_uuid() is None:
                return None, None
            node = api.connector.glob.actual.get_fdu_instance_node(api.sysid, api.tenantid, iid)
            return dict(infra.to_json()), node

        rec, node = self._call(what, deadline, read)
        if rec is None or self._stale(node, iid):
            return None
        rec["node"] = node
        return instance_from_record(rec)

    def _require(self, iid: str, what: str, deadline: Deadline) -> InstanceInfo:
        info = self._record(iid, what, deadline)
        if info is None:
            raise NotFound(f"{what}: instance {iid} not found")
        return info

    def _poll(
        self,
        what: str,
        deadline: Deadline,
        done: Callable[[InstanceInfo | None], bool],
        iid: str,
    ) -> InstanceInfo | None:
        delays = backoff_delays(self.poll_interval, self.poll_cap, rng=lambda: 1.0)
        while True:
            info = self._record(iid, what, deadline)
            if done(info):
                return info
            delay = next(delays)
            if deadline.remaining() <= delay:
                state = info.state.value if info else "absent"
                raise FogTimeout(
                    f"{what}: still {state} after {deadline.timeout:g}s, fog05 did not act"
                )
            time.sleep(delay)

    # --- nodes -------------------------------------------------------------------------

    def list_nodes(self, *, timeout: float | None = None) -> list[str]:
        d = self._deadline(timeout)
        nodes = [str(n) for n in self._call("list nodes", d, lambda api: api.node.list())]
        self.agents.start()
        dead = self.agents.liveness
        return [n for n in nodes if not dead.is_dead(n)]

    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo:
        what = f"node info {node_id}"
        rec = self._call(what, self._deadline(timeout), lambda api: api.node.info(node_id))
        if not rec:
            raise NotFound(f"{what}: node not found")
        return node_info_from_record(rec, self.node_labels)

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        what = f"node status {node_id}"
        rec = self._call(what, self._deadline(timeout), lambda api: api.node.status(node_id))
        if not rec:
            raise NotFound(f"{what}: node not found")
        return node_status_from_record(rec)

    # --- catalog -----------------------------------------------------------------------

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        fid = descriptor.get("id")
        what = f"onboard FDU {fid}"
        if not isinstance(fid, str) or not fid:
            raise InvalidDescriptor("onboard FDU: descriptor has no 'id'")
        fdu = fog05_compat.fdu_from_descriptor(dict(descriptor))
        live = self.agents.liveness
        uuid = self._call(what, self._deadline(timeout),
                          lambda api: onboard_via(api, fdu, lambda n: not live.is_dead(n)))
        if not uuid:
            raise FogError(f"{what}: fog05 returned no uuid")
        return str(uuid)

    def _fdu_exists(self, fdu_id: str, what: str, deadline: Deadline) -> dict[str, Any]:
        def read(api: Any) -> Any:
            return api.connector.glob.actual.get_catalog_fdu_info(api.sysid, api.tenantid, fdu_id)

        desc = self._call(what, deadline, read)
        if not desc:
            raise NotFound(f"{what}: FDU {fdu_id} not found")
        return dict(desc)

    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None:
        what = f"offload FDU {fdu_id}"
        d = self._deadline(timeout)
        self._fdu_exists(fdu_id, what, d)
        users = self._live(self._call(what, d, lambda api: api.fdu.instance_list(fdu_id)))
        if any(users.values()):
            iids = sorted(i for v in users.values() for i in v)
            raise IllegalTransition(
                f"{what}: FDU has instances {', '.join(iids)}", requested="offload"
            )
        self._call(what, d, lambda api: api.fdu.offload(fdu_id))
        delays = backoff_delays(self.poll_interval, self.poll_cap, rng=lambda: 1.0)
        while fdu_id in self.list_fdus(timeout=max(d.remaining(), 0.01)):
            delay = next(delays)
            if d.remaining() <= delay:
                raise FogTimeout(f"{what}: FDU still in the catalog after {d.timeout:g}s")
            time.sleep(delay)

    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]:
        return self._fdu_exists(fdu_id, f"FDU info {fdu_id}", self._deadline(timeout))

    def list_fdus(self, *, timeout: float | None = None) -> list[str]:
        d = self._deadline(timeout)
        return [str(f) for f in self._call("list FDUs", d, lambda api: api.fdu.list())]

    # --- instances ---------------------------------------------------------------------

    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None,
               existing: Collection[str] | None = None) -> InstanceInfo:
        what = f"define FDU {fdu_id} on node {node_id}"
        d = self._deadline(timeout)
        if node_id not in self._call(what, d, lambda api: api.node.list()):
            raise NotFound(f"{what}: node {node_id} not found")
        if self.agents.liveness.is_dead(node_id):
            raise NotFound(f"{what}: node {node_id} is gone (its agent answers nothing)")
        self._fdu_exists(fdu_id, what, d)
        infra = self._call(what, d, lambda api: api.fdu.define(fdu_id, node_id, wait=False))
        iid = infra.get_uuid()
        if not iid:
            raise FogError(f"{what}: fog05 returned no instance id")
        info = self._poll(what, d, lambda i: i is not None, str(iid))
        assert info is not None
        return info

    def _transition(
        self, op: str, iid: str, timeout: float | None, call: Callable[[Any], Any]
    ) -> InstanceInfo:
        sources, target = _TRANSITIONS[op]
        what = f"{op} instance {iid}"
        d = self._deadline(timeout)
        info = self._require(iid, what, d)
        if info.state is target:
            return info
        if info.state not in sources:
            raise IllegalTransition(
                f"{what}: cannot {op} in state {info.state.value}",
                current=info.state.value,
                requested=op,
            )
        self._call(what, d, call)
        # ERROR ends the wait only when it is news: a clean from ERROR starts there
        done_states = {target} if info.state is InstanceState.ERROR else {
            target, InstanceState.ERROR}
        final = self._poll(what, d, lambda i: i is None or i.state in done_states, iid)
        if final is None:
            raise NotFound(f"{what}: instance {iid} vanished")
        if final.state is InstanceState.ERROR and op != "start":
            raise FogError(f"{what}: instance went to ERROR: {final.error_msg or 'no message'}")
        return final

    def configure(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition(
            "configure",
            instance_id,
            timeout,
            lambda api: api.fdu.configure(instance_id, wait=False),
        )

    def start(
        self,
        instance_id: str,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> InstanceInfo:
        env_s = encode_env(env, f"start instance {instance_id}")
        return self._transition(
            "start",
            instance_id,
            timeout,
            # wait=True on purpose: in 0.2.1 start's "wait" is one agent eval (no polling
            # loop), while wait=False runs that same eval on FIMAPI's non-daemon executor
            # (a hung agent would then block interpreter exit) and drops its error.
            lambda api: api.fdu.start(instance_id, env=env_s, wait=True),
        )

    def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition(
            "stop", instance_id, timeout, lambda api: api.fdu.stop(instance_id, wait=False)
        )

    def clean(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition(
            "clean", instance_id, timeout, lambda api: api.fdu.clean(instance_id, wait=False)
        )

    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None:
        what = f"undefine instance {instance_id}"
        d = self._deadline(timeout)
        info = self._require(instance_id, what, d)
        if info.state is not InstanceState.DEFINE:
            raise IllegalTransition(
                f"{what}: cannot undefine in state {info.state.value}",
                current=info.state.value,
                requested="undefine",
            )
        self._call(what, d, lambda api: api.fdu.undefine(instance_id))
        self._poll(what, d, lambda i: i is None, instance_id)

    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        what = f"instance info {instance_id}"
        return self._require(instance_id, what, self._deadline(timeout))

    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        what = f"list instances of FDU {fdu_id}"
        d = self._deadline(timeout)
        self._fdu_exists(fdu_id, what, d)
        res = self._live(self._call(what, d, lambda api: api.fdu.instance_list(fdu_id)))
        return {n: iids for n, iids in res.items() if iids}

    def _live(self, by_node: Mapping[Any, Any]) -> dict[str, list[str]]:
        """FIMAPI's node → instance ids, without the stale records of dead agents."""
        live = self.agents.liveness
        return {str(n): [str(i) for i in iids if not live.stale(str(n), str(i))]
                for n, iids in by_node.items()}

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        """One glob over every node's instance records (FIMAPI has no such call; its
        ``instance_list`` reads the same keys for one FDU, and mislabels their values)."""
        what = "list all instances"

        def read(api: Any) -> list[dict[str, Any]]:
            conn = api.connector.glob.actual
            path = conn.get_node_fdu_info_path(api.sysid, api.tenantid, "*", "*", "*")
            records = []
            for kv in conn.ws.get(path):
                infra = fog05_compat.infra_fdu_class()(json.loads(kv.get_value().get_value()))
                rec = dict(infra.to_json())
                rec["node"] = conn.extract_nodeid_from_path(kv.get_path())
                records.append(rec)
            return records

        infos = (instance_from_record(rec) for rec in self._call(what, self._deadline(timeout),
                                                                  read))
        live = self.agents.liveness
        return {info.instance_id: info for info in infos
                if not live.stale(info.node_id, info.instance_id)}

    def watch_instances(self, since: FeedCursor | None, *, wait: float = 30.0,
                        timeout: float | None = None) -> FogFeed:
        """What the YAKS subscription delivered since ``since``; a full listing when it
        cannot go on from there (see :mod:`controller.fog.fog05_feed`)."""
        feed = self._subscribed(self._deadline(timeout))
        if since is not None and feed.resumes(since):
            taken = feed.take(max(0.0, wait))
            if taken is not None:
                return FogFeed(taken[0], parse_taken(feed.base, taken[1]))
        cursor = feed.relisted()
        return listed_feed(self, cursor.epoch, cursor.revision, timeout)

    def _subscribed(self, deadline: Deadline) -> YaksFeed:
        with self._feed_lock:
            if self._feed is None:
                def subscribe(api: Any) -> YaksFeed:
                    conn = api.connector.glob.actual
                    feed = YaksFeed(f"{conn.prefix}/{api.sysid}/tenants/{api.tenantid}")
                    feed.subscriptions = [conn.ws.subscribe(sel, feed.on_changes)
                                          for sel in feed.selectors()]
                    return feed

                self._feed = self._call("subscribe to fog05 records", deadline, subscribe)
            return self._feed

    def instance_log(self, instance_id: str, *, timeout: float | None = None) -> str:
        what = f"instance log {instance_id}"
        return str(self._call(what, self._deadline(timeout), lambda api: api.fdu.log(instance_id)))

    def close(self) -> None:
        self.agents.stop()
        api, self._api = self._api, None
        with self._feed_lock:
            self._feed = None  # YAKS keeps no history: a new session starts a new feed
        if api is not None:
            with contextlib.suppress(FogError):
                self._bounded(api.close, "close", Deadline(2.0))

