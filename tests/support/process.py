"""What every real server a test starts has in common: a subprocess whose output goes to a
log file, a readiness wait with a deadline, SIGTERM-then-SIGKILL on stop, and reaping on
context exit, garbage collection and interpreter exit, so no test leaves a process behind.
"""

from __future__ import annotations

import atexit
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

_LIVE: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports nothing listens on right now (the kernel picks them)."""
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


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


class ServerProcess:
    """Base of the test servers; subclasses implement ``start`` with `_spawn` and
    `_wait_until`, and may extend `close` to remove their temporary files."""

    name = "server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        raise NotImplementedError

    def _spawn(self, cmd: Sequence[str], *, env: dict[str, str] | None = None,
               cwd: str | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env, cwd=cwd)

    def _wait_until(self, ready: Callable[[], bool], timeout: float, what: str,
                    interval: float = 0.05) -> None:
        """Poll ``ready`` until true; on exit or deadline, kill and raise with the log."""
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self._proc.returncode}: "
                                       f"{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} {what} not ready after {timeout}s: "
                                       f"{self.log_tail()}")
                time.sleep(interval)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps. The exit status."""
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
        """SIGKILL, as a crash."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

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


@atexit.register
def _reap_all() -> None:
    for server in list(_LIVE):
        server.close()
