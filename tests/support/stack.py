"""A copy of this repository with its own ``make run`` stack, as a second clone would be.

    with LocalStack(tmp_path / "a") as stack:
        stack.make("run")                     # on free ports, not the defaults
        stack.shell("fogstrat get as")        # with .run/env sourced
        # make stop runs on exit, whatever happened

The copy holds the working tree's files (tracked and new, not ignored) and shares this
checkout's ``.venv``; its stack's processes are reaped by ``make stop`` on exit, and
its logs are kept under ``.test-output/stack-<name>/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.process import free_ports

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / ".test-output"


def copy_tree(dest: Path) -> None:
    """The working tree's files as ``git clone`` plus the uncommitted changes would give."""
    listing = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard",
                              "-z"], capture_output=True, check=True).stdout
    for rel in filter(None, listing.decode().split("\0")):
        src = REPO / rel
        if not src.is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    (dest / ".venv").symlink_to(REPO / ".venv")


class LocalStack:
    """One clone and the addresses its stack runs on (all free ports, none default)."""

    def __init__(self, path: Path, **extra_env: str) -> None:
        self.path = path
        etcd, peer, fogsim, metrics, prom = free_ports(5)
        self.fogsim_addr = f"127.0.0.1:{fogsim}"
        self.prometheus_addr = f"127.0.0.1:{prom}"
        self.metrics_addr = f"127.0.0.1:{metrics}"
        self.env = {
            **os.environ,
            "FOGSTRAT_ETCD_PORT": str(etcd), "FOGSTRAT_ETCD_PEER_PORT": str(peer),
            "FOGSIM_ADDR": self.fogsim_addr, "FOGSTRAT_METRICS_ADDR": self.metrics_addr,
            "FOGSTRAT_PROMETHEUS_ADDR": self.prometheus_addr,
            # Tests' own fogsims run the example nodes in 127.0.10; the stacks keep
            # clear of them (and still pick their block by default, within these).
            "FOGSTRAT_NODE_IP_BLOCKS": "200-250",
            # The CLI's etcd calls wait longer than a user's would: the test machine may
            # be running a whole test suite beside these stacks.
            "FOGSTRAT_TIMEOUT": "30", **extra_env,
        }
        for inherited in ("FOGSTRAT_ETCD_ENDPOINTS", "ETCDCTL_ENDPOINTS", "FOGSIM_URL",
                          "FOGSTRAT_NODE_IP_BLOCK", "FOGSTRAT_PREFIX", "FOGSTRAT_ENV_SUBST"):
            if inherited not in extra_env:
                self.env.pop(inherited, None)
        path.mkdir(parents=True)
        copy_tree(path)

    @property
    def run_dir(self) -> Path:
        return self.path / ".run"

    def make(self, target: str, env: dict[str, str] | None = None, timeout: float = 400
             ) -> subprocess.CompletedProcess[str]:
        """``make TARGET`` in the clone, with ``env`` over the stack's variables."""
        return subprocess.run(["make", "--no-print-directory", target], cwd=self.path,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def popen_make(self, target: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["make", "--no-print-directory", target], cwd=self.path,
                                env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def shell(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``script`` in bash with this stack's ``.run/env`` sourced, as the README says."""
        return subprocess.run(["bash", "-euo", "pipefail", "-c", f"source .run/env\n{script}"],
                              cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def started(self) -> list[str]:
        """The processes this stack has started and not stopped (their pid files)."""
        return sorted(p.stem for p in self.run_dir.glob("*.pid")) if self.run_dir.exists() \
            else []

    def log(self, name: str) -> str:
        path = self.run_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def close(self) -> None:
        """Stop the stack and remove the clone, keeping its logs under .test-output/."""
        self.make("stop", timeout=120)
        if self.run_dir.exists():
            kept = OUTPUT / f"stack-{self.path.name}"
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True)
            for log in self.run_dir.glob("*.log"):
                shutil.copy2(log, kept / log.name)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
