"""Typed errors of the architecture engine.

Each carries enough structure for the reconciler to report a one-line reason on the
object (``Valid=False`` / a condition message) without parsing text.
"""

from __future__ import annotations


class ArchitectureError(Exception):
    """A lifecycle operation failed; names the entity and the fog operation when known."""

    def __init__(self, message: str, *, entity: str | None = None, operation: str | None = None):
        prefix = ""
        if entity and operation:
            prefix = f"{entity}: {operation}: "
        elif entity:
            prefix = f"{entity}: "
        elif operation:
            prefix = f"{operation}: "
        super().__init__(prefix + message)
        self.entity = entity
        self.operation = operation
        self.reason = message


class LifecycleError(ArchitectureError):
    """An operation not allowed in the current lifecycle state."""

    def __init__(self, current: str, operation: str, target: str | None = None):
        goal = f" (to {target})" if target else ""
        super().__init__(f"cannot {operation}{goal} an architecture that is {current}")
        self.current = current
        self.requested = operation
        self.target = target


class ConfigError(ArchitectureError):
    """``configure`` got a value that does not match the declared parameters."""


class SpecError(ArchitectureError):
    """The architecture spec itself cannot work (cycle, unknown reference, bad template)."""


class CycleError(SpecError):
    """Entity dependencies form a cycle; ``cycle`` lists it, first name repeated last."""

    def __init__(self, cycle: list[str]):
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class BindingError(ArchitectureError):
    """A template references an input (data path, parameter, environment key) that is absent."""


class PlacementError(ArchitectureError):
    """No node mapping satisfies the requirements; ``reasons`` holds one line per entity."""

    def __init__(self, reasons: list[str]):
        super().__init__("no placement: " + "; ".join(reasons), operation="placement")
        self.reasons = reasons


class PluginError(ArchitectureError):
    """A plugin name that is not installed, or whose entry point is not an Architecture."""
