"""A real, throw-away etcd for tests (envtest style): loopback, free ports, temp data dir.

    with EtcdServer() as etcd:
        store = connect(etcd.endpoint)
        etcd.kill(); etcd.restart()        # same ports, same data
        etcd.etcdctl("put", "/k", "v")

The process is always reaped (see ``tests.support.process``). Binaries come from
$ETCD_BIN / $ETCDCTL_BIN or PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Self

from tests.support.process import ServerProcess, free_port, free_ports

__all__ = ["EtcdServer", "assert_no_store_threads", "free_port"]


class EtcdServer(ServerProcess):
    """One single-member etcd; ``endpoint`` is ``"127.0.0.1:PORT"``."""

    def __init__(self, *, name: str = "fogstrat-test", host: str = "127.0.0.1",
                 data_dir: str | os.PathLike[str] | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout: float = 15.0) -> None:
        self.name = name
        self.host = host
        self.client_port, self.peer_port = free_ports(2, host)
        self._tmp = None if data_dir is not None else tempfile.mkdtemp(prefix="fogstrat-etcd-")
        base = Path(data_dir) if data_dir is not None else Path(self._tmp or ".")
        self.data_dir = base / "data"
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.etcd_bin = os.environ.get("ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
        self.etcdctl_bin = (os.environ.get("ETCDCTL_BIN") or shutil.which("etcdctl")
                            or "/usr/bin/etcdctl")
        super().__init__(base / "etcd.log")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> Self:
        """Start etcd and wait until it answers a health check."""
        if self.running:
            return self
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        peer = f"http://{self.host}:{self.peer_port}"
        self._spawn([
            self.etcd_bin, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-level", "warn", "--unsafe-no-fsync", *self.extra_args,
        ])
        self._wait_until(self._healthy, self.start_timeout, f"etcd at {self.endpoint}")
        return self

    def _healthy(self) -> bool:
        try:
            return self.etcdctl("endpoint", "health", "--command-timeout=1s", check=False,
                                timeout=3).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def restart(self) -> Self:
        """Stop if running, then start again on the same ports with the same data."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the temporary directory (if this object created it)."""
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def etcdctl(self, *args: str | bytes, input: bytes | None = None, check: bool = True,
                timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        """Run the real etcdctl (API v3) against this server; output is bytes. An argument
        may be bytes: a key that is not UTF-8."""
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run([self.etcdctl_bin, f"--endpoints={self.endpoint}", *args],
                              input=input, capture_output=True, check=check, timeout=timeout,
                              env=env)


def assert_no_store_threads() -> None:
    """Fail if a store watch or lease keep-alive thread outlived its store."""
    left = [t.name for t in threading.enumerate()
            if t.name.startswith(("etcd-watch", "lease-keepalive"))]
    assert not left, f"store threads left running: {left}"
