"""The architecture objects one ActiveStrategy drives, kept between reconciles.

An engine object holds the lifecycle state and the instance record of one architecture.
It is rebuilt when anything it is made from changes (its ``fingerprint``: the
Architecture document's generation, the strategy's config, the Environment, the data
binding), carrying over what runs, and after a restart it is restored from the status
that the previous controller wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from controller.api.models import (
    ArchitectureDataSpec,
    ArchitectureSpec,
    EnvironmentSpec,
)
from controller.arch import (
    Architecture,
    ArchitectureKey,
    ArchitectureRecord,
    EngineOptions,
    LifecycleState,
    build_architecture,
)
from controller.fog.client import FogClient


@dataclass(frozen=True)
class Blueprint:
    """Everything one architecture of one ActiveStrategy is built from."""

    key: ArchitectureKey
    spec: ArchitectureSpec
    spec_generation: int
    config: Mapping[str, Any]
    environment: EnvironmentSpec
    association_args: Mapping[str, Any]
    data: ArchitectureDataSpec | None
    deploy_timeout: float
    known: bool = True
    """False when the Architecture document is gone (only undeploy makes sense then)."""

    @functools.cached_property
    def fingerprint(self) -> str:
        raw = json.dumps([self.spec_generation, self.config, repr(self.environment),
                          dict(self.association_args), repr(self.data)],
                         sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def absolute_data(data: ArchitectureDataSpec | None, base: Path) -> ArchitectureDataSpec | None:
    """Relative data paths are relative to the controller's working directory (CRD doc)."""
    if data is None:
        return None

    def fix(path: str | None) -> str | None:
        if path is None or Path(path).is_absolute():
            return path
        return str((base / path).resolve())

    return replace(data, deploy_path=fix(data.deploy_path), serve_path=fix(data.serve_path))


@dataclass
class Handle:
    blueprint: Blueprint
    arch: Architecture

    @property
    def state(self) -> LifecycleState:
        return self.arch.state

    @property
    def running(self) -> bool:
        return self.arch.state in (LifecycleState.DEPLOYED, LifecycleState.SERVED)


def build(bp: Blueprint, fog: FogClient) -> Handle:
    """A configured, associated engine object (raises ConfigError/PluginError)."""
    arch = build_architecture(bp.key, bp.spec,
                              options=EngineOptions(deploy_timeout=bp.deploy_timeout))
    arch.configure(bp.config)
    arch.associate(fog, bp.environment, bp.association_args)
    arch.data = bp.data
    return Handle(bp, arch)


def restore(handle: Handle, state: str, record: Mapping[str, Any] | None) -> None:
    """Resume a lifecycle state a previous controller (or handle) reached."""
    if state not in ("deployed", "served") or handle.state is not LifecycleState.ASSOCIATED:
        return
    rec = ArchitectureRecord.from_dict(record) if record else ArchitectureRecord()
    handle.arch.restore(LifecycleState(state), rec)
