"""e2e fixtures: every component is a separate process on loopback (etcd here; fogsim and
the controller through ``tests.support.scenario``), and a report of measured downtimes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.etcd import EtcdServer

MEASUREMENTS: list[str] = []


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdServer]:
    with EtcdServer(name="fogstrat-e2e") as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"/fogstrat-e2e-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def report() -> list[str]:
    """Lines a test wants in the terminal summary (measured service downtime, ...)."""
    return MEASUREMENTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASUREMENTS:
        terminalreporter.section("fogstrat e2e measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
