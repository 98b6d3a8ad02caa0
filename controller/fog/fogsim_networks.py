"""fogsim's virtual networks over its HTTP API (``/networks/...``, see
``hack/fogsim/API.md``): the network half of
:class:`~controller.fog.fogsim_driver.FogsimClient`, with the same retry rules (adds and
connects are idempotent, removals are idempotent deletes).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from controller.fog.client import (
    ConnectionPointInfo,
    FogClient,
    InvalidDescriptor,
    NetworkInfo,
)
from controller.fog.records import cp_from_record, network_from_record
from controller.fog.retry import Deadline

T = TypeVar("T")


class FogsimNetworks(FogClient):
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

    def add_network(self, descriptor: Mapping[str, Any], *,
                    timeout: float | None = None) -> str:
        net_id = descriptor.get("uuid")
        if not isinstance(net_id, str) or not net_id:
            raise InvalidDescriptor("add network: descriptor has no 'uuid'")
        what = f"add network {net_id}"
        rec = self._put(f"/networks/{net_id}/info", what, dict(descriptor), timeout)
        return str(rec["uuid"])

    def remove_network(self, network_id: str, *, timeout: float | None = None) -> None:
        self._idempotent_delete(f"/networks/{network_id}/info",
                                f"remove network {network_id}", timeout)

    def list_networks(self, *, timeout: float | None = None) -> list[NetworkInfo]:
        return [network_from_record(r) for r in self._get("/networks/list", "list networks",
                                                          timeout)]

    def add_connection_point(self, descriptor: Mapping[str, Any], *,
                             timeout: float | None = None) -> ConnectionPointInfo:
        cp_id = descriptor.get("uuid")
        if not isinstance(cp_id, str) or not cp_id:
            raise InvalidDescriptor("add connection point: descriptor has no 'uuid'")
        what = f"add connection point {cp_id}"
        return cp_from_record(self._put(f"/networks/ports/{cp_id}/info", what,
                                        dict(descriptor), timeout))

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

    def list_connection_points(self, *, timeout: float | None = None
                               ) -> list[ConnectionPointInfo]:
        return [cp_from_record(r) for r in self._get("/networks/ports/list",
                                                     "list connection points", timeout)]

