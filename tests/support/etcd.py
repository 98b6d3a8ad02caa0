"""A real, throw-away etcd for tests (envtest style): loopback, free ports, temp data dir.

    with EtcdServer() as etcd:
        store = connect(etcd.endpoint)
        etcd.kill(); etcd.restart()        # same ports, same data
        etcd.etcdctl("put", "/k", "v")

The process is always reaped: on stop/kill, on context exit, and at interpreter exit.
Binaries come from $ETCD_BIN / $ETCDCTL_BIN or PATH.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

_LIVE: weakref.WeakSet[EtcdServer] = weakref.WeakSet()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _free_ports(n: int, host: str) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class EtcdServer:
    """One single-member etcd; ``endpoint`` is ``"127.0.0.1:PORT"``."""

    def __init__(self, *, name: str = "fogstrat-test", host: str = "127.0.0.1",
                 data_dir: str | os.PathLike[str] | None = None,
                 extra_args: tuple[str, ...] = (), start_timeout: float = 15.0) -> None:
        self.name = name
        self.host = host
        self.client_port, self.peer_port = _free_ports(2, host)
        self._tmp = None if data_dir is not None else tempfile.mkdtemp(prefix="fogstrat-etcd-")
        base = Path(data_dir) if data_dir is not None else Path(self._tmp or ".")
        self.data_dir = base / "data"
        self.log_path = base / "etcd.log"
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.etcd_bin = os.environ.get("ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
        self.etcdctl_bin = (os.environ.get("ETCDCTL_BIN") or shutil.which("etcdctl")
                            or "/usr/bin/etcdctl")
        self._proc: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)

    # ------------------------------------------------------------------ addresses

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start etcd and wait until it answers a health check."""
        if self.running:
            return self
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        peer = f"http://{self.host}:{self.peer_port}"
        cmd = [
            self.etcd_bin, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-level", "warn", "--unsafe-no-fsync", *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                r = self.etcdctl("endpoint", "health", "--command-timeout=1s", check=False,
                                 timeout=3)
                if r.returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd at {self.endpoint} not healthy after "
                                   f"{self.start_timeout}s: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self) -> None:
        """SIGKILL (a crash): the data dir stays, `restart` brings the same member back."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------------ tools

    def etcdctl(self, *args: str, input: bytes | None = None, check: bool = True,
                timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        """Run the real etcdctl (API v3) against this server; output is bytes."""
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run([self.etcdctl_bin, f"--endpoints={self.endpoint}", *args],
                              input=input, capture_output=True, check=check, timeout=timeout,
                              env=env)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def assert_no_store_threads() -> None:
    """Fail if a store watch or lease keep-alive thread outlived its store."""
    left = [t.name for t in threading.enumerate()
            if t.name.startswith(("etcd-watch", "lease-keepalive"))]
    assert not left, f"store threads left running: {left}"


@atexit.register
def _reap_all() -> None:
    for server in list(_LIVE):
        server.close()
