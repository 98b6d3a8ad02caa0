"""Chaos fixtures: one etcd that accepts large requests, a healthy stack per test module,
and the figures each run measured (printed at the end, written where
``FOGSTRAT_CHAOS_REPORT`` says)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.chaos import FIGURES, ChaosSize, Figures
from tests.support.chaos_stack import ETCD_ARGS, ChaosStack
from tests.support.etcd import EtcdServer


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdServer]:
    with EtcdServer(name="fogstrat-chaos", extra_args=ETCD_ARGS) as server:
        yield server


@pytest.fixture(scope="session")
def size() -> ChaosSize:
    return ChaosSize.from_env()


@pytest.fixture(scope="module")
def stack(etcd: EtcdServer, size: ChaosSize) -> Iterator[ChaosStack]:
    """fogsim, one controller and the ``web`` strategy serving, shared by a module's tests
    (each test checks the stack is unharmed after its own step)."""
    with ChaosStack(etcd, f"/fogstrat-chaos-{uuid.uuid4().hex[:10]}", size.budget) as s:
        yield s


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fogstrat chaos figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
