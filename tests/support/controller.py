"""``fogstrat controller`` as a real subprocess, for integration and e2e tests.

    with ControllerProcess(etcd.endpoint, prefix) as ctl:
        ctl.metrics()            # text of /metrics
        ctl.kill()               # SIGKILL, as a crash
        ctl.start()              # the same identity comes back

Always stopped on context exit and at interpreter exit; its log is in ``log_path``.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.fogsim import free_port

FOGSTRAT = str(Path(sys.executable).with_name("fogstrat"))
_LIVE: weakref.WeakSet[ControllerProcess] = weakref.WeakSet()


class ControllerProcess:
    def __init__(self, endpoint: str, prefix: str, *, instance_id: str | None = None,
                 lease_ttl: int = 3, resync: float = 30.0, workers: int = 4,
                 leader_elect: bool = True, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.port = free_port()
        self.instance_id = instance_id or f"ctl-{self.port}"
        self.args = [
            FOGSTRAT, "controller", "--endpoints", endpoint, "--prefix", prefix,
            "--metrics-addr", f"127.0.0.1:{self.port}", "--lease-ttl", str(lease_ttl),
            "--resync", str(resync), "--workers", str(workers), "--instance-id",
            self.instance_id, "--leader-elect", "true" if leader_elect else "false",
            "--log-format", "text", *extra_args,
        ]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self._tmp = tempfile.mkdtemp(prefix="fogstrat-controller-")
        self.log_path = Path(self._tmp) / "controller.log"
        self._proc: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, wait: bool = True) -> Self:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        if wait:
            deadline = time.monotonic() + 20
            while self.get("/healthz") is None:
                if not self.running:
                    raise RuntimeError(f"controller exited: {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"controller not healthy in 20s: {self.log_tail()}")
                time.sleep(0.1)
        return self

    def get(self, path: str) -> str | None:
        """Body of a 200 answer on the metrics port, else None."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> str:
        return self.get("/metrics") or ""

    def stop(self, timeout: float = 20.0) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for ctl in list(_LIVE):
        ctl.kill()
