"""The architecture lifecycle, enforced in exactly one place: a transition table.

``configured → associated → deployed → served → undeployed`` and, from ``undeployed``,
back to ``deployed`` only; ``served → deployed`` stops serving (``unserve``, also legal on
a deployed one, so a stop interrupted half-way can be finished). ``associated →
undeployed`` is legal too: after a failed deploy or a controller restart the reconciler
must be able to clean up what an architecture left on the fog without first deploying it.
"""

from __future__ import annotations

from enum import StrEnum

from controller.arch.errors import LifecycleError


class LifecycleState(StrEnum):
    NEW = "new"
    CONFIGURED = "configured"
    ASSOCIATED = "associated"
    DEPLOYED = "deployed"
    SERVED = "served"
    UNDEPLOYED = "undeployed"


class Operation(StrEnum):
    CONFIGURE = "configure"
    ASSOCIATE = "associate"
    DEPLOY = "deploy"
    SERVE = "serve"
    UNSERVE = "unserve"
    UNDEPLOY = "undeploy"


S = LifecycleState
O = Operation  # noqa: E741 - short alias keeps the table readable

TRANSITIONS: dict[tuple[LifecycleState, Operation], LifecycleState] = {
    (S.NEW, O.CONFIGURE): S.CONFIGURED,
    (S.CONFIGURED, O.ASSOCIATE): S.ASSOCIATED,
    (S.ASSOCIATED, O.DEPLOY): S.DEPLOYED,
    (S.ASSOCIATED, O.UNDEPLOY): S.UNDEPLOYED,
    (S.DEPLOYED, O.SERVE): S.SERVED,
    (S.DEPLOYED, O.UNDEPLOY): S.UNDEPLOYED,
    (S.SERVED, O.UNDEPLOY): S.UNDEPLOYED,
    (S.SERVED, O.UNSERVE): S.DEPLOYED,
    (S.DEPLOYED, O.UNSERVE): S.DEPLOYED,
    (S.UNDEPLOYED, O.DEPLOY): S.DEPLOYED,
}
"""(current state, operation) → next state. Anything absent is refused."""


def next_state(current: LifecycleState, operation: Operation) -> LifecycleState:
    """The state ``operation`` leads to from ``current``; raises :class:`LifecycleError`."""
    try:
        return TRANSITIONS[(current, operation)]
    except KeyError:
        raise LifecycleError(current.value, operation.value) from None


def allowed_operations(current: LifecycleState) -> list[Operation]:
    return [op for (state, op) in TRANSITIONS if state is current]


class Lifecycle:
    """The current state of one architecture; only :meth:`advance` changes it.

    Callers check with :meth:`require` before doing any work and :meth:`advance` after it
    succeeded, so a failed operation leaves the state unchanged and can be retried.
    """

    def __init__(self, state: LifecycleState = LifecycleState.NEW) -> None:
        self._state = state

    @property
    def state(self) -> LifecycleState:
        return self._state

    def require(self, operation: Operation) -> LifecycleState:
        return next_state(self._state, operation)

    def advance(self, operation: Operation) -> LifecycleState:
        self._state = next_state(self._state, operation)
        return self._state

    @property
    def is_deployed(self) -> bool:
        return self._state in (LifecycleState.DEPLOYED, LifecycleState.SERVED)
