"""Build the right Architecture object for a spec: declarative, or a plugin by name."""

from __future__ import annotations

from controller.api.models import ArchitectureSpec
from controller.arch.base import Architecture, EngineOptions
from controller.arch.declarative import DeclarativeArchitecture
from controller.arch.ids import ArchitectureKey
from controller.arch.plugins import load_plugin


def build_architecture(
    key: ArchitectureKey, spec: ArchitectureSpec, *, options: EngineOptions | None = None
) -> Architecture:
    """A fresh (``new``) architecture; the caller configures and associates it."""
    cls: type[Architecture] = load_plugin(spec.plugin) if spec.plugin else DeclarativeArchitecture
    return cls(key, spec, options=options)
