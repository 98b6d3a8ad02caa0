"""fogsim's virtual networks over its HTTP API (``/networks/...``, see
``hack/fogsim/API.md``): the network half of
:class:`~controller.fog.fogsim_driver.FogsimClient`, with the same retry rules (adds and
connects are idempotent, removals are idempotent deletes).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from controller.fog.client import ConnectionPointInfo
from controller.fog.network_calls import NetworkCalls
from controller.fog.records import cp_from_record
from controller.fog.retry import Deadline

T = TypeVar("T")


class FogsimNetworks(NetworkCalls):
    """The network calls; the driver supplies its HTTP plumbing."""

    @abc.abstractmethod
    def _deadline(self, timeout: float | None) -> Deadline: ...

    @abc.abstractmethod
    def _retry(self, fn: Callable[[], T], deadline: Deadline, what: str) -> T: ...

    @abc.abstractmethod
    def _request(self, method: str, path: str, what: str, deadline: Deadline, *,
                 body: Any = None, params: Mapping[str, str] | None = None,
                 text: bool = False) -> Any: ...

    @abc.abstractmethod
    def _get(self, path: str, what: str, timeout: float | None, *,
             text: bool = False) -> Any: ...

    @abc.abstractmethod
    def _idempotent_delete(self, path: str, what: str, timeout: float | None) -> None: ...

    def _put(self, path: str, what: str, body: Any, timeout: float | None) -> Any:
        deadline = self._deadline(timeout)
        return self._retry(lambda: self._request("PUT", path, what, deadline, body=body),
                           deadline, what)

    def _network_records(self, what: str, timeout: float | None
                         ) -> Iterable[Mapping[str, Any]]:
        return list(self._get("/networks/list", what, timeout))

    def _cp_records(self, what: str, timeout: float | None) -> Iterable[Mapping[str, Any]]:
        return list(self._get("/networks/ports/list", what, timeout))

    def _store_network(self, net_id: str, descriptor: dict[str, Any], what: str,
                       timeout: float | None) -> str:
        return str(self._put(f"/networks/{net_id}/info", what, descriptor, timeout)["uuid"])

    def _store_cp(self, cp_id: str, descriptor: dict[str, Any], what: str,
                  timeout: float | None) -> Mapping[str, Any]:
        return dict(self._put(f"/networks/ports/{cp_id}/info", what, descriptor, timeout))

    def remove_network(self, network_id: str, *, timeout: float | None = None) -> None:
        self._idempotent_delete(f"/networks/{network_id}/info",
                                f"remove network {network_id}", timeout)

    def remove_connection_point(self, cp_id: str, *, timeout: float | None = None) -> None:
        self._idempotent_delete(f"/networks/ports/{cp_id}/info",
                                f"remove connection point {cp_id}", timeout)

    def _port_post(self, cp_id: str, action: str, body: Any, timeout: float | None
                   ) -> ConnectionPointInfo:
        what = f"{action} connection point {cp_id}"
        deadline = self._deadline(timeout)
        path = f"/networks/ports/{cp_id}/{action}"
        # both are idempotent: connecting to the same network again is a no-op
        rec = self._retry(lambda: self._request("POST", path, what, deadline, body=body),
                          deadline, what)
        return cp_from_record(rec)

    def connect_cp(self, cp_id: str, network_id: str, *,
                   timeout: float | None = None) -> ConnectionPointInfo:
        return self._port_post(cp_id, "connect", {"network": network_id}, timeout)

    def disconnect_cp(self, cp_id: str, *, timeout: float | None = None
                      ) -> ConnectionPointInfo:
        return self._port_post(cp_id, "disconnect", None, timeout)
