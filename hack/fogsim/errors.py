"""fogsim's typed errors, which the HTTP layer maps to status codes: :class:`NotFound`
404, :class:`IllegalTransition` 409, :class:`InUse` 409, :class:`InvalidDescriptor` 400,
:class:`Incompatible` 422."""

from __future__ import annotations


class FogsimError(Exception):
    """Base of fogsim's typed errors."""


class NotFound(FogsimError):
    """Unknown (or vanished) node, FDU or instance."""


class InvalidDescriptor(FogsimError):
    """The FDU descriptor is rejected (fog05 model or fogsim checks)."""


class Incompatible(FogsimError):
    """The node cannot host the FDU (cpu architecture)."""


class InUse(FogsimError):
    """The FDU still has instances and cannot be offloaded."""

    def __init__(self, message: str, instances: list[str]) -> None:
        super().__init__(message)
        self.instances = instances


class IllegalTransition(FogsimError):
    """The requested action is not legal in the instance's current state."""

    def __init__(self, iid: str, current: str, requested: str) -> None:
        super().__init__(f"cannot {requested} instance {iid} in state {current}")
        self.iid = iid
        self.current = current
        self.requested = requested
