"""The network calls of :class:`~controller.fog.client.FogClient` as both drivers make
them: a descriptor must name its ``uuid``, and the records a driver reads and writes are
parsed by :mod:`controller.fog.records`. A driver supplies how records are read and
stored (:mod:`controller.fog.fog05_networks`, :mod:`controller.fog.fogsim_networks`).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any

from controller.fog.client import (
    ConnectionPointInfo,
    FogClient,
    InvalidDescriptor,
    NetworkInfo,
)
from controller.fog.records import cp_from_record, network_from_record


def descriptor_uuid(descriptor: Mapping[str, Any], what: str) -> str:
    """The descriptor's ``uuid``, or :class:`InvalidDescriptor`."""
    uid = descriptor.get("uuid")
    if not isinstance(uid, str) or not uid:
        raise InvalidDescriptor(f"{what}: descriptor has no 'uuid'")
    return uid


class NetworkCalls(FogClient):
    """Adds and listings; removals, connects and disconnects are the driver's own."""

    @abc.abstractmethod
    def _network_records(self, what: str, timeout: float | None
                         ) -> Iterable[Mapping[str, Any]]:
        """Every network's record (its descriptor)."""

    @abc.abstractmethod
    def _cp_records(self, what: str, timeout: float | None) -> Iterable[Mapping[str, Any]]:
        """Every connection point's record."""

    @abc.abstractmethod
    def _store_network(self, net_id: str, descriptor: dict[str, Any], what: str,
                       timeout: float | None) -> str:
        """Store the network (again: a no-op); its uuid as the fog has it."""

    @abc.abstractmethod
    def _store_cp(self, cp_id: str, descriptor: dict[str, Any], what: str,
                  timeout: float | None) -> Mapping[str, Any]:
        """Store the connection point (again: a no-op); its record as stored."""

    def add_network(self, descriptor: Mapping[str, Any], *,
                    timeout: float | None = None) -> str:
        net_id = descriptor_uuid(descriptor, "add network")
        return self._store_network(net_id, dict(descriptor), f"add network {net_id}",
                                   timeout)

    def list_networks(self, *, timeout: float | None = None) -> list[NetworkInfo]:
        return [network_from_record(rec)
                for rec in self._network_records("list networks", timeout)]

    def add_connection_point(self, descriptor: Mapping[str, Any], *,
                             timeout: float | None = None) -> ConnectionPointInfo:
        cp_id = descriptor_uuid(descriptor, "add connection point")
        return cp_from_record(self._store_cp(cp_id, dict(descriptor),
                                             f"add connection point {cp_id}", timeout))

    def list_connection_points(self, *, timeout: float | None = None
                               ) -> list[ConnectionPointInfo]:
        return [cp_from_record(rec)
                for rec in self._cp_records("list connection points", timeout)]
