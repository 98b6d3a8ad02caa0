"""A real fogsim server for tests: ``fogsim serve`` as a subprocess on a free port.

    with FogsimServer("hack/fogsim/nodes.yaml") as sim:
        requests.get(sim.url + "/nodes/list")
        sim.cli("node", "down", "edge-1")      # the fogsim CLI against this server

The server (and therefore every process it started) is always stopped: on
``stop()``, on context exit, and at interpreter exit. Its stdout/stderr go to
``log_path`` (see ``log_tail()`` when a test fails).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from tests.support.process import ServerProcess, free_port

__all__ = ["EXAMPLE_NODES", "FogsimServer", "free_port"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NODES = REPO / "hack" / "fogsim" / "nodes.yaml"


class FogsimServer(ServerProcess):
    """One ``fogsim serve``; ``url`` is ``http://127.0.0.1:PORT``."""

    name = "fogsim"

    def __init__(self, nodes_file: str | os.PathLike[str] = EXAMPLE_NODES, *,
                 no_processes: bool = False, stop_grace: float = 2.0,
                 host: str = "127.0.0.1", start_timeout: float = 15.0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.nodes_file = Path(nodes_file)
        self.no_processes = no_processes
        self.stop_grace = stop_grace
        self.host = host
        self.port = free_port(host)
        self.start_timeout = start_timeout
        self.extra_args = extra_args
        self._tmp = tempfile.mkdtemp(prefix="fogstrat-fogsim-")
        self.workdir = Path(self._tmp) / "work"
        super().__init__(Path(self._tmp) / "fogsim.log")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start fogsim and wait until ``/sim/ping`` answers."""
        if self.running:
            return self
        cmd = [sys.executable, "-m", "fogsim", "serve", "--nodes", str(self.nodes_file),
               "--listen", f"{self.host}:{self.port}", "--stop-grace", str(self.stop_grace),
               "--workdir", str(self.workdir), *self.extra_args]
        if self.no_processes:
            cmd.append("--no-processes")
        self._spawn(cmd)
        self._wait_until(self._ping, self.start_timeout, f"at {self.url}")
        return self

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/sim/ping", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (fogsim then kills its children), SIGKILL after ``timeout``; reaps."""
        return super().stop(timeout)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def cli(self, *args: str, check: bool = True,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run the ``fogsim`` CLI against this server (``--url`` via FOGSIM_URL)."""
        env = dict(os.environ, FOGSIM_URL=self.url)
        return subprocess.run([sys.executable, "-m", "fogsim", *args], capture_output=True,
                              text=True, check=check, timeout=timeout, env=env)

    def state(self) -> dict[str, Any]:
        """``GET /sim/state`` (never subject to injected faults)."""
        with urllib.request.urlopen(self.url + "/sim/state", timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
