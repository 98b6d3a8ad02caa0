"""A real headless chromium (Debian's ``chromium``, installed by hack/install-deps.sh):
the DOM of a page after its scripts ran, and a screenshot of it.

Each call is a fresh browser with a fresh profile, so nothing carries over between
renders; chromium's virtual time budget lets the page's fetches finish before the DOM
is dumped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--virtual-time-budget=15000", "--window-size=1100,1500")


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: run hack/install-deps.sh")
    return path


def _run(url: str, *extra: str) -> str:
    profile = tempfile.mkdtemp(prefix="fogstrat-chromium-")
    try:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def dom(url: str) -> str:
    """The page's DOM as HTML once its scripts have run."""
    return _run(url, "--dump-dom")


def screenshot(url: str, path: Path) -> Path:
    """A PNG of the rendered page at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(url, f"--screenshot={path}")
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {path}")
    return path
