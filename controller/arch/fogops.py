"""Deadline-bound fog calls and the two instance state walks the engine needs.

Every call gets ``min(per-call timeout, what is left of the operation's deadline)``; a
fog error becomes an :class:`ArchitectureError` naming the entity and the operation.
The walks never use fog05's ``wait=True`` style: they look at the state first and send
only the request that state allows (fog05 hangs on requests in the wrong state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from controller.arch.errors import ArchitectureError
from controller.fog.client import (
    FogClient,
    FogError,
    IllegalTransition,
    InstanceInfo,
    InstanceState,
    NodeInfo,
    NodeStatus,
    NotFound,
)
from controller.fog.retry import Deadline

T = TypeVar("T")

_SETTLED = {
    InstanceState.DEFINE,
    InstanceState.CONFIGURE,
    InstanceState.RUN,
    InstanceState.ERROR,
}


class FogOps:
    """One operation's view of the fog: a client, a per-call timeout and a deadline."""

    def __init__(
        self,
        fog: FogClient,
        *,
        call_timeout: float,
        deadline: Deadline,
        poll_interval: float = 0.2,
    ) -> None:
        self.fog = fog
        self.call_timeout = call_timeout
        self.deadline = deadline
        self.poll_interval = poll_interval

    def timeout(self, entity: str | None, op: str) -> float:
        left = self.deadline.remaining()
        if left <= 0.01:
            raise ArchitectureError(
                f"deadline of {self.deadline.timeout:g}s passed", entity=entity, operation=op
            )
        return min(self.call_timeout, left)

    def call(self, entity: str | None, op: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args, timeout=...)``; NotFound passes through, other fog errors are wrapped."""
        timeout = self.timeout(entity, op)
        try:
            return fn(*args, timeout=timeout)
        except NotFound:
            raise
        except FogError as exc:
            raise ArchitectureError(str(exc), entity=entity, operation=op) from exc

    def sleep(self) -> None:
        time.sleep(min(self.poll_interval, max(self.deadline.remaining(), 0.0)))

    def info(self, entity: str, iid: str, *, recent: bool = False) -> InstanceInfo | None:
        """The instance, or None when gone; ``recent``: as of a recent fog-wide read
        (steady-state observation only, never while waiting on a transition)."""
        read = self.fog.recent_instance_info if recent else self.fog.instance_info
        try:
            return self.call(entity, "instance_info", read, iid)
        except NotFound:
            return None

    def settle(self, entity: str, info: InstanceInfo) -> InstanceInfo | None:
        """Wait until the instance leaves fog05's transient states."""
        current: InstanceInfo | None = info
        while current is not None and current.state not in _SETTLED:
            self.sleep()
            current = self.info(entity, info.instance_id)
        return current

    def teardown(self, entity: str, iid: str) -> None:
        """stop → clean → undefine from whatever state the instance is in; gone is fine."""
        info = self.info(entity, iid)
        for _ in range(8):
            if info is None:
                return
            info = self.settle(entity, info)
            if info is None:
                return
            try:
                if info.state is InstanceState.RUN:
                    info = self.call(entity, "stop", self.fog.stop, iid)
                elif info.state in (InstanceState.CONFIGURE, InstanceState.ERROR):
                    info = self.call(entity, "clean", self.fog.clean, iid)
                else:
                    self.call(entity, "undefine", self.fog.undefine, iid)
                    return
            except NotFound:
                return
            except ArchitectureError as exc:
                if not isinstance(exc.__cause__, IllegalTransition):
                    raise
                info = self.info(entity, iid)
        raise ArchitectureError(
            f"instance {iid} did not reach DEFINE", entity=entity, operation="undefine"
        )

    def run(self, entity: str, info: InstanceInfo, env: Mapping[str, str]) -> InstanceInfo:
        """Drive an instance to RUN with ``env``: (clean) → configure → start."""
        iid = info.instance_id
        current: InstanceInfo | None = info
        for _ in range(8):
            if current is None:
                raise ArchitectureError(
                    f"instance {iid} vanished", entity=entity, operation="start"
                )
            current = self.settle(entity, current)
            if current is None:
                continue
            state = current.state
            try:
                if state is InstanceState.RUN:
                    return current
                if state is InstanceState.ERROR:
                    current = self.call(entity, "clean", self.fog.clean, iid)
                elif state is InstanceState.DEFINE:
                    current = self.call(entity, "configure", self.fog.configure, iid)
                elif state is InstanceState.CONFIGURE:
                    current = self.call(entity, "start", self.fog.start, iid, dict(env))
                    if current.state is InstanceState.ERROR:
                        raise ArchitectureError(
                            current.error_msg or "instance went to ERROR",
                            entity=entity,
                            operation="start",
                        )
            except NotFound:
                current = None
            except ArchitectureError as exc:
                if not isinstance(exc.__cause__, IllegalTransition):
                    raise
                current = self.info(entity, iid)
        raise ArchitectureError(
            f"instance {iid} did not reach RUN", entity=entity, operation="start"
        )


def read_nodes(
    fog: FogClient, *, timeout: float, call_timeout: float | None = None,
    wanted: Callable[[NodeInfo], bool] | None = None,
) -> tuple[list[NodeInfo], dict[str, NodeStatus]]:
    """Info and status of every node the fog sees now; a node vanishing meanwhile is skipped.

    ``timeout`` bounds the whole read, ``call_timeout`` each call (node infos are asked
    in one call, bounded per node: a client keeps them, so they are read once). A node
    whose status cannot be read is still returned (placement then assumes it is
    empty), so a flaky status call does not hide capacity the node has. With ``wanted``,
    status is read only for the nodes it accepts (the rest are returned without one): a
    deploy to a labelled node need not ask every node how full it is each time the
    cached capacity expires (one status call per node, while a failover waits).
    """
    deadline = Deadline(timeout)
    ops = FogOps(fog, call_timeout=call_timeout or timeout, deadline=deadline)
    infos = ops.call(None, "node_info", fog.node_infos,
                     ops.call(None, "list_nodes", fog.list_nodes))
    asked = [n.uuid for n in infos if wanted is None or wanted(n)]
    statuses = ops.call(None, "node_status", fog.node_statuses, asked) if asked else {}
    return infos, statuses
