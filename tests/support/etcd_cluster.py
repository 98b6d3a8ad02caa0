"""A real three-member etcd cluster for tests: loopback, free ports, temp data dirs.

    with EtcdCluster(3) as cluster:
        store = connect(cluster.endpoints)
        cluster.members[1].stop(); cluster.members[2].stop()   # quorum lost
        cluster.members[1].start(); cluster.members[2].start() # quorum back

Members restart on the same ports with the same data, so they rejoin the cluster. Every
process is reaped (see ``tests.support.process``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from tests.support.process import ServerProcess, free_ports


class EtcdMember(ServerProcess):
    """One member of an :class:`EtcdCluster`."""

    def __init__(self, name: str, base: Path, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self.client_port, self.peer_port = free_ports(2, host)
        self.data_dir = base / name
        self.initial_cluster = ""
        self.etcd_bin = _binary("etcd")
        super().__init__(base / f"{name}.log")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def spawn(self) -> None:
        """Start the process without waiting (members of a new cluster wait for each other)."""
        client = f"http://{self.endpoint}"
        self._spawn([
            self.etcd_bin, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "fogstrat-test", "--heartbeat-interval", "50",
            "--election-timeout", "500", "--logger", "zap", "--log-level", "warn",
            "--unsafe-no-fsync",
        ])

    def start(self) -> Self:
        if not self.running:
            self.spawn()
        self._wait_until(self._listening, 15, f"etcd member {self.name}")
        return self

    def _listening(self) -> bool:
        res = subprocess.run([_binary("etcdctl"), f"--endpoints={self.endpoint}",
                              "--command-timeout=1s", "endpoint", "status"],
                             capture_output=True, timeout=5, check=False,
                             env=dict(os.environ, ETCDCTL_API="3"))
        return res.returncode == 0


def _binary(name: str) -> str:
    return (os.environ.get(f"{name.upper()}_BIN") or shutil.which(name)
            or f"/usr/bin/{name}")


class EtcdCluster:
    def __init__(self, size: int = 3) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="fogstrat-etcd-cluster-"))
        self.members = [EtcdMember(f"m{i}", self._tmp) for i in range(size)]
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            m.initial_cluster = cluster

    @property
    def endpoints(self) -> str:
        return ",".join(m.endpoint for m in self.members)

    def start(self) -> Self:
        for m in self.members:
            m.spawn()
        for m in self.members:
            m.start()
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every member answers a linearizable request: quorum, leader, all joined."""
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if time.monotonic() > deadline:
                tails = "\n".join(m.log_tail(10) for m in self.members)
                raise RuntimeError(f"etcd cluster not healthy after {timeout}s:\n{tails}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            res = subprocess.run([_binary("etcdctl"), f"--endpoints={self.endpoints}",
                                  "--command-timeout=2s", "endpoint", "health", "--cluster"],
                                 capture_output=True, timeout=10, check=False,
                                 env=dict(os.environ, ETCDCTL_API="3"))
        except subprocess.TimeoutExpired:
            return False
        return res.returncode == 0

    def close(self) -> None:
        for m in self.members:
            m.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
