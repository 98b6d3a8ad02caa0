"""Build the FogClient an Environment asks for (``spec.driver`` + ``spec.locator``)."""

from __future__ import annotations

from controller.fog.client import FogClient, FogError
from controller.fog.node_labels import NodeLabels

DRIVERS = ("fogsim", "fog05")


def make_fog_client(
    driver: str,
    locator: str,
    *,
    sysid: str = "0",
    tenantid: str = "0",
    timeout: float = 10.0,
    node_labels: NodeLabels | None = None,
    agent_timeout: float = 2.0,
) -> FogClient:
    """Return a client for ``driver``; fog05 is imported only when asked for, so the
    package works without the ``fog05`` extra installed.

    ``fogsim``: ``locator`` is the base URL (``http://127.0.0.1:7070``).
    ``fog05``: ``locator`` is the YAKS locator (``127.0.0.1:7447``); connecting may
    raise :class:`~controller.fog.client.FogUnavailable`. ``node_labels``: the
    Environment's labels by node name or uuid (see :mod:`controller.fog.node_labels`).
    ``agent_timeout`` (fog05): seconds a node's agent has to answer before the node
    counts as gone (see :mod:`controller.fog.agent_liveness`).
    """
    if driver == "fogsim":
        from controller.fog.fogsim_driver import FogsimClient
        from controller.fog.fogsim_http import HttpSettings

        return FogsimClient(locator, HttpSettings(timeout=timeout), node_labels=node_labels)
    if driver == "fog05":
        from controller.fog.fog05_driver import Fog05Client

        return Fog05Client(locator, sysid=sysid, tenantid=tenantid, timeout=timeout,
                           node_labels=node_labels, agent_timeout=agent_timeout)
    raise FogError(f"unknown fog driver {driver!r} (expected one of: {', '.join(DRIVERS)})")
