"""The self-contained failover scenario (hack/smoke/failover.yaml) for integration tests.

    sim = FogsimServer(private_nodes(tmp_path)).start()
    path = smoke_documents(tmp_path, sim.url)
    cli.ok("apply", "-f", str(path))
    wait_phase(cli, "Serving")
    sim.cli("node", "down", MAIN_NODE)     # failover to web-backup in ~2 s

ActiveStrategy ``web-smoke`` (Strategy ``web``): main ``web-main`` on cloud-1, replacement
``web-backup`` on a fog node, failback after a 3 s stabilization window.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

from tests.support.cli import Cli
from tests.support.fogsim import EXAMPLE_NODES

REPO = Path(__file__).resolve().parents[2]
SMOKE_FILE = REPO / "hack" / "smoke" / "failover.yaml"
NAMESPACE = "default"
ACTIVE = "web-smoke"
MAIN = "web-main"
BACKUP = "web-backup"
MAIN_NODE = "cloud-1"
PROBE = "accuracy"
_DEFAULT_LOCATOR = "locator: http://127.0.0.1:7070"


def private_nodes(directory: Path) -> Path:
    """hack/fogsim/nodes.yaml with its node addresses moved to a random 127.A.B.0/24.

    The scenario's servers bind ``$FOS_NODE_IP:8080``: with the shared file's fixed
    addresses, tests (and ``make run``) running at the same time on this machine would
    take each other's ports.
    """
    a, b = random.randrange(100, 250), random.randrange(1, 250)
    text, n = re.subn(r"\bip: 127\.0\.10\.(\d+)", rf"ip: 127.{a}.{b}.\1",
                      EXAMPLE_NODES.read_text())
    assert n, f"{EXAMPLE_NODES}: no node address to move"
    path = directory / "nodes.yaml"
    path.write_text(text)
    return path


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
