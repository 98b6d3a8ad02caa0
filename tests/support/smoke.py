"""The self-contained failover scenario (hack/smoke/failover.yaml) for integration tests.

    path = smoke_documents(tmp_path, sim.url)
    cli.ok("apply", "-f", str(path))
    wait_phase(cli, "Serving")
    sim.cli("node", "down", MAIN_NODE)     # failover to web-backup in ~2 s

ActiveStrategy ``web-smoke`` (Strategy ``web``): main ``web-main`` on cloud-1, replacement
``web-backup`` on a fog node, failback after a 3 s stabilization window.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.cli import Cli

REPO = Path(__file__).resolve().parents[2]
SMOKE_FILE = REPO / "hack" / "smoke" / "failover.yaml"
NAMESPACE = "default"
ACTIVE = "web-smoke"
MAIN = "web-main"
BACKUP = "web-backup"
MAIN_NODE = "cloud-1"
PROBE = "accuracy"
_DEFAULT_LOCATOR = "locator: http://127.0.0.1:7070"


def smoke_documents(directory: Path, fogsim_url: str) -> Path:
    """The scenario with the Environment pointing at ``fogsim_url``, written to a file."""
    text = SMOKE_FILE.read_text()
    assert _DEFAULT_LOCATOR in text, f"{SMOKE_FILE}: locator line changed"
    path = directory / "smoke.yaml"
    path.write_text(text.replace(_DEFAULT_LOCATOR, f"locator: {fogsim_url}"))
    return path


def status(cli: Cli, name: str = ACTIVE) -> dict[str, Any]:
    doc = cli.get_json("activestrategy", name)
    if isinstance(doc, dict) and "items" in doc:
        doc = doc["items"][0]
    st = doc.get("status") or {}
    return st if isinstance(st, dict) else {}


def wait_phase(cli: Cli, phase: str, *, active_architecture: str | None = None,
               timeout: float = 45.0, name: str = ACTIVE) -> dict[str, Any]:
    """Poll until the ActiveStrategy is in ``phase`` (on ``active_architecture``)."""
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = status(cli, name)
        if st.get("phase") == phase and active_architecture in (
                None, st.get("activeArchitecture")):
            return st
        time.sleep(0.25)
    raise AssertionError(f"{name} not {phase} on {active_architecture or 'any'} "
                         f"in {timeout}s; status: {st}")
