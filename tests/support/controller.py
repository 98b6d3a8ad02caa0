"""``fogstrat controller`` as a real subprocess, for integration and e2e tests.

    with ControllerProcess(etcd.endpoint, prefix) as ctl:
        ctl.metrics()            # text of /metrics
        ctl.kill()               # SIGKILL, as a crash
        ctl.start()              # the same identity comes back

Always reaped (see ``tests.support.process``); its log is in ``log_path``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from tests.support.process import ServerProcess, free_port

FOGSTRAT = str(Path(sys.executable).with_name("fogstrat"))


class ControllerProcess(ServerProcess):
    name = "controller"

    def __init__(self, endpoint: str, prefix: str, *, instance_id: str | None = None,
                 lease_ttl: int = 3, resync: float = 30.0, workers: int = 4,
                 leader_elect: bool = True, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 log_path: Path | None = None) -> None:
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
        super().__init__(log_path or Path(tempfile.mkdtemp(prefix="fogstrat-controller-")) /
                         "controller.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> Self:
        self._spawn(self.args, env=self.env, cwd=self.cwd)
        if wait:
            self._wait_until(lambda: self.get("/healthz") is not None, 20, "/healthz",
                             interval=0.1)
        return self

    def get(self, path: str, timeout: float = 2.0) -> str | None:
        """Body of a 200 answer on the metrics port, else None."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                body: bytes = resp.read()
                return body.decode()
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> str:
        return self.get("/metrics") or ""

    def stop(self, timeout: float = 20.0) -> int | None:
        return super().stop(timeout)

    def log_tail(self, lines: int = 40) -> str:
        return super().log_tail(lines)
