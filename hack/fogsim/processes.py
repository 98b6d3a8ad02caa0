"""Process supervision for BARE instances, independent of HTTP and asyncio.

Design points (each one is there because of a failure it prevents):

* Every child gets its own session/process group (``start_new_session``) and
  signals go to the group, so a shell script's grandchildren die with it.
* Children set ``PR_SET_PDEATHSIG(SIGKILL)`` so they die even if fogsim is
  SIGKILLed. Linux ties this to the *thread* that forked the child: spawn from
  a long-lived thread (fogsim's server spawns from its event-loop thread).
* Stopping never blocks the caller: SIGTERM is sent at once and one reaper
  thread escalates to SIGKILL after the grace period.
* The reaper detects exits with ``waitid(WNOWAIT)``, kills what is left of
  the group *before* reaping the leader (so the pgid cannot be reused yet),
  then reaps and reports the exit through a callback.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("fogsim.processes")

_PR_SET_PDEATHSIG = 1

#: ``on_exit(key, pid, returncode, expected)``; ``expected`` is True when the
#: exit follows :meth:`Supervisor.stop` / :meth:`Supervisor.kill`.
ExitCallback = Callable[[str, int, int, bool], None]


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - exotic libc
        return None


_LIBC = _load_libc()


def _make_preexec(parent_pid: int) -> Callable[[], None] | None:
    """Child-side setup run between fork and exec: die with the parent."""
    libc = _LIBC
    if libc is None:
        return None
    prctl = libc.prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass
class _Proc:
    key: str
    popen: subprocess.Popen[bytes]
    pgid: int
    expected: bool = False
    kill_at: float | None = None
    started: float = field(default_factory=time.monotonic)


class SpawnError(OSError):
    """The process could not be started (missing binary, permissions...)."""


class Supervisor:
    """Starts, stops and watches child processes identified by a string key."""

    def __init__(self, on_exit: ExitCallback | None = None, poll_interval: float = 0.1) -> None:
        self._on_exit = on_exit
        self._poll = poll_interval
        self._lock = threading.Lock()
        self._procs: dict[str, _Proc] = {}
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._silent = False

    # -- public API -------------------------------------------------------
    def spawn(
        self,
        key: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> int:
        """Start ``argv`` for ``key``; returns the pid. Raises :class:`SpawnError`."""
        if self._closed.is_set():
            raise SpawnError("supervisor is shut down")
        with self._lock:
            if key in self._procs:
                raise SpawnError(f"{key} already has a running process")
        cwd.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_path, "ab", buffering=0) as logf:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=dict(env),
                    start_new_session=True,
                    preexec_fn=_make_preexec(os.getpid()),
                    close_fds=True,
                )
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise SpawnError(str(exc)) from exc
        with self._lock:
            self._procs[key] = _Proc(key=key, popen=popen, pgid=popen.pid)
        self._ensure_thread()
        return popen.pid

    def stop(self, key: str, grace: float) -> bool:
        """SIGTERM the group now, SIGKILL after ``grace`` s; never blocks.

        Returns False when ``key`` has no live process.
        """
        with self._lock:
            proc = self._procs.get(key)
            if proc is None:
                return False
            proc.expected = True
            if proc.kill_at is None:
                proc.kill_at = time.monotonic() + max(grace, 0.0)
        self._signal(proc, signal.SIGTERM)
        return True

    def kill(self, key: str) -> bool:
        """SIGKILL the group now (crash injection, node down)."""
        with self._lock:
            proc = self._procs.get(key)
            if proc is None:
                return False
            proc.expected = True
            proc.kill_at = time.monotonic()
        self._signal(proc, signal.SIGKILL)
        return True

    def pid(self, key: str) -> int | None:
        with self._lock:
            proc = self._procs.get(key)
            return proc.popen.pid if proc else None

    def running(self) -> list[str]:
        with self._lock:
            return list(self._procs)

    def shutdown(self, grace: float = 2.0) -> None:
        """Terminate every child (blocking, bounded by ``grace`` + ~1 s)."""
        self._silent = True
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            proc.expected = True
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + max(grace, 0.0)
        while time.monotonic() < deadline:
            self._reap_once(time.monotonic())
            with self._lock:
                if not self._procs:
                    break
            time.sleep(0.02)
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._signal(proc, signal.SIGKILL)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            self._reap_once(time.monotonic())
            with self._lock:
                if not self._procs:
                    break
            time.sleep(0.01)
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    # -- internals --------------------------------------------------------
    @staticmethod
    def _signal(proc: _Proc, sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pgid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.popen.pid, sig)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="fogsim-reaper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(self._poll):
            try:
                self._reap_once(time.monotonic())
            except Exception:  # pragma: no cover - keep the reaper alive
                log.exception("reaper iteration failed")

    def _reap_once(self, now: float) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            pid = proc.popen.pid
            try:
                res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                res = None
                exited = True
            else:
                exited = res is not None and res.si_pid == pid
            if not exited:
                if proc.kill_at is not None and now >= proc.kill_at:
                    self._signal(proc, signal.SIGKILL)
                continue
            # Leader is a zombie: its pgid is still reserved, so killing the
            # group cannot hit an unrelated process. Take the rest down.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pgid, signal.SIGKILL)
            try:
                rc = proc.popen.wait(timeout=1.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - should not happen
                continue
            with self._lock:
                if self._procs.get(proc.key) is proc:
                    del self._procs[proc.key]
            if self._on_exit is not None and not self._silent:
                try:
                    self._on_exit(proc.key, pid, rc, proc.expected)
                except Exception:  # pragma: no cover - callback bug must not kill reaper
                    log.exception("exit callback failed for %s", proc.key)
