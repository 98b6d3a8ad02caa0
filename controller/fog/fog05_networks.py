"""fog05 0.2's virtual networks through FIMAPI's ``network`` API: the network half of
:class:`~controller.fog.fog05_driver.Fog05Client`.

FIMAPI's network calls write the desired state and return; the agents apply it. So each
call checks first (fog05 answers a request that changes nothing with silence or a hang),
then polls the actual state until it shows the change, within the call's deadline.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from controller.fog.client import (
    ConnectionPointInfo,
    FogTimeout,
    IllegalTransition,
    NotFound,
)
from controller.fog.network_calls import NetworkCalls
from controller.fog.records import cp_from_record
from controller.fog.retry import Deadline, backoff_delays

T = TypeVar("T")


class Fog05Networks(NetworkCalls):
    """The network calls; the driver supplies its deadline-bound FIMAPI calls."""

    poll_interval: float
    poll_cap: float

    @abc.abstractmethod
    def _deadline(self, timeout: float | None) -> Deadline: ...

    @abc.abstractmethod
    def _call(self, what: str, deadline: Deadline, fn: Callable[[Any], T]) -> T: ...

    def _until(self, what: str, deadline: Deadline, done: Callable[[], bool]) -> None:
        delays = backoff_delays(self.poll_interval, self.poll_cap, rng=lambda: 1.0)
        while not done():
            delay = next(delays)
            if deadline.remaining() <= delay:
                raise FogTimeout(f"{what}: fog05 did not act within {deadline.timeout:g}s")
            time.sleep(delay)

    def _networks(self, what: str, deadline: Deadline) -> dict[str, dict[str, Any]]:
        recs = self._call(what, deadline, lambda api: api.network.list())
        return {str(r.get("uuid")): dict(r) for r in recs if isinstance(r, Mapping)}

    def _node_gone(self, node: str) -> bool:
        """Whether the node's agent is known dead (its records are then stale)."""
        return False

    def _ports(self, what: str, deadline: Deadline) -> dict[str, dict[str, Any]]:
        """Every live node's connection points, in one glob (as ``connect_cp_to_network``
        searches them); a dead agent's are stale, as good as removed."""

        def read(api: Any) -> list[tuple[str, Any]]:
            conn = api.connector.glob.actual
            path = conn.get_node_network_ports_selector(api.sysid, api.tenantid)
            return [(_node_of(kv.get_path()), json.loads(kv.get_value().get_value()))
                    for kv in conn.ws.get(path)]

        return {str(r.get("uuid")): dict(r) for node, r in self._call(what, deadline, read)
                if isinstance(r, Mapping) and not self._node_gone(node)}

    def _network_records(self, what: str, timeout: float | None
                         ) -> Iterable[Mapping[str, Any]]:
        return self._networks(what, self._deadline(timeout)).values()

    def _cp_records(self, what: str, timeout: float | None) -> Iterable[Mapping[str, Any]]:
        return self._ports(what, self._deadline(timeout)).values()

    def _add_once(self, what: str, d: Deadline, present: Callable[[], bool],
                  add: Callable[[Any], object]) -> None:
        """Add unless present (fog05 answers a request that changes nothing with silence
        or a hang), then wait until the agents show it."""
        if not present():
            self._call(what, d, add)
            self._until(what, d, present)

    def _store_network(self, net_id: str, descriptor: dict[str, Any], what: str,
                       timeout: float | None) -> str:
        d = self._deadline(timeout)
        desc = json.loads(json.dumps(descriptor))  # FIMAPI writes into it
        self._add_once(what, d, lambda: net_id in self._networks(what, d),
                       lambda api: api.network.add_network(desc))
        return net_id

    def _store_cp(self, cp_id: str, descriptor: dict[str, Any], what: str,
                  timeout: float | None) -> Mapping[str, Any]:
        d = self._deadline(timeout)
        desc = json.loads(json.dumps(descriptor))  # FIMAPI writes into it
        self._add_once(what, d, lambda: cp_id in self._ports(what, d),
                       lambda api: api.network.add_connection_point(desc))
        return self._ports(what, d)[cp_id]

    def remove_network(self, network_id: str, *, timeout: float | None = None) -> None:
        what = f"remove network {network_id}"
        d = self._deadline(timeout)
        if network_id not in self._networks(what, d):
            raise NotFound(f"{what}: network not found")
        users = sorted(c for c, r in self._ports(what, d).items()
                       if r.get("network") == network_id)
        if users:
            raise IllegalTransition(f"{what}: connection points {', '.join(users)} are "
                                    f"connected to it", requested="remove")
        self._call(what, d, lambda api: api.network.remove_network(network_id))
        self._until(what, d, lambda: network_id not in self._networks(what, d))

    def remove_connection_point(self, cp_id: str, *, timeout: float | None = None) -> None:
        what = f"remove connection point {cp_id}"
        d = self._deadline(timeout)
        if cp_id not in self._ports(what, d):
            raise NotFound(f"{what}: connection point not found")
        self._call(what, d, lambda api: api.network.delete_connection_point(cp_id))
        self._until(what, d, lambda: cp_id not in self._ports(what, d))

    def _port(self, what: str, cp_id: str, d: Deadline) -> dict[str, Any]:
        rec = self._ports(what, d).get(cp_id)
        if rec is None:
            raise NotFound(f"{what}: connection point not found")
        return rec

    def connect_cp(self, cp_id: str, network_id: str, *,
                   timeout: float | None = None) -> ConnectionPointInfo:
        what = f"connect connection point {cp_id} to network {network_id}"
        d = self._deadline(timeout)
        rec = self._port(what, cp_id, d)
        if rec.get("network") == network_id:
            return cp_from_record(rec)
        if rec.get("network"):
            raise IllegalTransition(f"{what}: connected to network {rec['network']}",
                                    requested="connect")
        if network_id not in self._networks(what, d):
            raise NotFound(f"{what}: network not found")
        self._call(what, d, lambda api: api.network.connect_cp_to_network(cp_id, network_id))
        return cp_from_record(self._port(what, cp_id, d))

    def disconnect_cp(self, cp_id: str, *, timeout: float | None = None
                      ) -> ConnectionPointInfo:
        what = f"disconnect connection point {cp_id}"
        d = self._deadline(timeout)
        rec = self._port(what, cp_id, d)
        if rec.get("network"):
            self._call(what, d, lambda api: api.network.disconnect_cp(cp_id))
            rec = self._port(what, cp_id, d)
        return cp_from_record(rec)


def _node_of(path: str) -> str:
    """The node id in ``.../nodes/<node>/networks/ports/<cp>/info``."""
    return path.partition("/nodes/")[2].split("/", 1)[0]
