"""Where consumers reach an ActiveStrategy's service: the serving architecture's endpoint.

Pure: from the status a step decided and each candidate's ``spec.endpoint``. An
architecture serves when its recorded state is ``served`` (the observation says its
serve step is done), so the endpoint names a new architecture in the very status that
first records it serving -- in a make-before-break hand-over while the old one still
runs, so the old one is undeployed only after consumers were sent away from it -- and
says that nothing serves while none does. The result is the ActiveStrategy's
``status.endpoint`` and the value of its watchable endpoint key; it changes only when the
URL or the architecture does (``since`` is when that happened), so a consumer watching the
key sees exactly the switches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.models import Endpoint
from controller.reconcile.status import StrategyStatus
from controller.reconcile.times import rfc3339


def serving_architecture(status: StrategyStatus) -> str | None:
    """The architecture consumers should use: the one recorded as served.

    Two are served only in a make-before-break hand-over, between serving the target and
    undeploying the old one: the transition's target wins as soon as it is recorded
    served, so consumers move to it before the old one stops. Otherwise the active one
    comes first (a status read from the store is not ours to trust), then any served one.
    """
    served = [name for name, arch in status.architectures.items() if arch.state == "served"]
    transition = status.transition
    if transition is not None and transition.to in served:
        return transition.to
    if status.active_architecture in served:
        return status.active_architecture
    return min(served) if served else None


def first_address(instances: Mapping[str, Any], entity: str) -> str | None:
    """The address of ``entity``'s first replica in an architecture's instance record
    (``status.architectures.X.instances``): the instance's own where the fog reported
    one, else its node's, as ``{{ entities.X.ip }}`` renders it."""
    entities = instances.get("entities")
    replicas = entities.get(entity) if isinstance(entities, Mapping) else None
    if not isinstance(replicas, Mapping) or not replicas:
        return None
    first = replicas.get("0")
    if not isinstance(first, Mapping):
        return None
    address = first.get("address") or first.get("nodeIp")
    return address if isinstance(address, str) and address else None


def url_of(endpoint: Endpoint, address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{endpoint.scheme}://{host}:{endpoint.port}{endpoint.path}"


def endpoint_status(status: StrategyStatus, endpoints: Mapping[str, Endpoint | None],
                    previous: Any, now: float) -> dict[str, Any] | None:
    """``status.endpoint`` for ``status``: ``url`` (None while nothing serves, or while
    what serves declares no endpoint or has no address yet), ``architecture`` (what
    serves, None for nothing), ``serving`` and ``since`` (kept from ``previous``, the
    stored ``status.endpoint``, while the URL and architecture stay the same).

    None when no candidate declares an endpoint: nothing is published for it.
    """
    if not any(endpoints.values()):
        return None
    serving = serving_architecture(status)
    url: str | None = None
    if serving is not None:
        endpoint = endpoints.get(serving)
        arch = status.arch(serving)
        address = first_address(arch.instances, endpoint.entity) if endpoint else None
        url = url_of(endpoint, address) if endpoint is not None and address else None
    since = rfc3339(now)
    if (isinstance(previous, Mapping) and previous.get("url") == url
            and previous.get("architecture") == serving
            and isinstance(previous.get("since"), str)):
        since = previous["since"]
    return {"url": url, "architecture": serving, "serving": serving is not None,
            "since": since}
