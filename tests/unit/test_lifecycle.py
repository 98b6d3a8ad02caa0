"""The lifecycle table: every (state, operation) pair, legal or not."""

from __future__ import annotations

import itertools

import pytest

from controller.arch.errors import LifecycleError
from controller.arch.lifecycle import (
    TRANSITIONS,
    Lifecycle,
    LifecycleState,
    Operation,
    next_state,
)

S, Op = LifecycleState, Operation

LEGAL = {
    (S.NEW, Op.CONFIGURE): S.CONFIGURED,
    (S.CONFIGURED, Op.ASSOCIATE): S.ASSOCIATED,
    (S.ASSOCIATED, Op.DEPLOY): S.DEPLOYED,
    (S.ASSOCIATED, Op.UNDEPLOY): S.UNDEPLOYED,
    (S.DEPLOYED, Op.SERVE): S.SERVED,
    (S.DEPLOYED, Op.UNDEPLOY): S.UNDEPLOYED,
    (S.SERVED, Op.UNDEPLOY): S.UNDEPLOYED,
    (S.SERVED, Op.UNSERVE): S.DEPLOYED,
    (S.DEPLOYED, Op.UNSERVE): S.DEPLOYED,
    (S.UNDEPLOYED, Op.DEPLOY): S.DEPLOYED,
}


def test_table_is_exactly_the_contract() -> None:
    assert dict(TRANSITIONS) == LEGAL


@pytest.mark.parametrize(("state", "op"), list(LEGAL))
def test_legal(state: LifecycleState, op: Operation) -> None:
    assert next_state(state, op) is LEGAL[(state, op)]


ILLEGAL = [p for p in itertools.product(S, Op) if p not in LEGAL]


@pytest.mark.parametrize(("state", "op"), ILLEGAL)
def test_illegal_names_current_and_requested(state: LifecycleState, op: Operation) -> None:
    with pytest.raises(LifecycleError) as err:
        next_state(state, op)
    assert err.value.current == state.value
    assert err.value.requested == op.value
    assert state.value in str(err.value) and op.value in str(err.value)


def test_from_undeployed_only_deploy() -> None:
    assert [op for (s, op) in LEGAL if s is S.UNDEPLOYED] == [Op.DEPLOY]


def test_full_walk_and_redeploy() -> None:
    lc = Lifecycle()
    walk = (Op.CONFIGURE, Op.ASSOCIATE, Op.DEPLOY, Op.SERVE, Op.UNDEPLOY, Op.DEPLOY, Op.UNDEPLOY)
    for op in walk:
        lc.require(op)
        lc.advance(op)
    assert lc.state is S.UNDEPLOYED


def test_require_does_not_change_state() -> None:
    lc = Lifecycle()
    lc.require(Op.CONFIGURE)
    assert lc.state is S.NEW
    with pytest.raises(LifecycleError):
        lc.require(Op.DEPLOY)
