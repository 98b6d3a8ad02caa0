"""A real fogsim server for tests: ``fogsim serve`` as a subprocess on a free port.

    with FogsimServer("hack/fogsim/nodes.yaml") as sim:
        requests.get(sim.url + "/nodes/list")
        sim.cli("node", "down", "edge-1")      # the fogsim CLI against this server

The server (and therefore every process it started) is always stopped: on
``stop()``, on context exit, and at interpreter exit. Its stdout/stderr go to
``log_path`` (see ``log_tail()`` when a test fails).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NODES = REPO / "hack" / "fogsim" / "nodes.yaml"

_LIVE: weakref.WeakSet[FogsimServer] = weakref.WeakSet()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class FogsimServer:
    """One ``fogsim serve``; ``url`` is ``http://127.0.0.1:PORT``."""

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
        self.log_path = Path(self._tmp) / "fogsim.log"
        self.workdir = Path(self._tmp) / "work"
        self._proc: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start fogsim and wait until ``/sim/ping`` answers."""
        if self.running:
            return self
        cmd = [sys.executable, "-m", "fogsim", "serve", "--nodes", str(self.nodes_file),
               "--listen", f"{self.host}:{self.port}", "--stop-grace", str(self.stop_grace),
               "--workdir", str(self.workdir), *self.extra_args]
        if self.no_processes:
            cmd.append("--no-processes")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"fogsim exited with {self._proc.returncode}: "
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/sim/ping", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fogsim at {self.url} not ready after "
                                   f"{self.start_timeout}s: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (fogsim then kills its children), SIGKILL after ``timeout``; reaps."""
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
        """SIGKILL fogsim (its children die through PR_SET_PDEATHSIG)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

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

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@atexit.register
def _reap_all() -> None:
    for server in list(_LIVE):
        server.close()
