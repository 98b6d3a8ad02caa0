"""Shared fixtures for integration tests: a real etcd, a unique key prefix per test, a store."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import tests.support.etcd  # noqa: F401
except ModuleNotFoundError:  # pytest puts tests/integration on sys.path, not the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controller.store import Store, connect
from tests.support.etcd import EtcdServer, assert_no_store_threads


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdServer]:
    """One etcd for the whole session; tests keep apart through `prefix`."""
    with EtcdServer(name="fogstrat-session") as server:
        yield server


@pytest.fixture
def fresh_etcd() -> Iterator[EtcdServer]:
    """A private etcd for tests that kill, restart or compact it."""
    with EtcdServer(name="fogstrat-private") as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses (no trailing slash, like ``--prefix``)."""
    return f"/fogstrat-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(etcd: EtcdServer) -> Iterator[Store]:
    """A store on the session etcd; closing it must leave no watch or keepalive thread."""
    s = connect(etcd.endpoint, timeout=5.0)
    try:
        yield s
    finally:
        s.close()
        assert_no_store_threads()

