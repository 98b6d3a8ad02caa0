"""``configure(config)``: check a configuration against the declared parameters.

Unknown keys are refused (a typo must not silently fall back to a default), required
parameters must be given, defaults fill the rest, and values must have the declared
type. ``bool`` is not accepted as a number although Python says it is an ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.api.models import ArchitectureSpec, Parameter, StrategySpec
from controller.arch.errors import ConfigError


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def validate_config(
    parameters: Mapping[str, Parameter], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The effective parameter values; raises :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    unknown = sorted(set(config) - set(parameters))
    if unknown:
        known = ", ".join(sorted(parameters)) or "none"
        problems.append(f"unknown parameter(s) {', '.join(unknown)} (declared: {known})")
    values: dict[str, Any] = {}
    for name in sorted(parameters):
        param = parameters[name]
        if name in config:
            value = config[name]
        elif param.default is not None:
            value = param.default
        elif param.required:
            problems.append(f"parameter {name} is required")
            continue
        else:
            continue
        if not _type_ok(param.type, value):
            problems.append(
                f"parameter {name} must be {param.type}, got {type(value).__name__} {value!r}"
            )
            continue
        values[name] = value
    if problems:
        raise ConfigError("; ".join(problems), operation="configure")
    return values


@dataclass(frozen=True)
class ConfigProblem:
    """A Strategy candidate's config that its Architecture's parameters refuse."""

    reason: str
    """``UnknownParameter`` or ``InvalidParameter`` (docs/reasons.md)."""
    message: str


def strategy_config_problems(strategy: StrategySpec,
                             architectures: Mapping[str, ArchitectureSpec]
                             ) -> list[ConfigProblem]:
    """What can be told before anything runs: each candidate's config against the
    parameters its Architecture declares (``architectures``: those known, by name). A
    plugin that declares no parameters checks its config itself."""
    out: list[ConfigProblem] = []
    for i, ref in enumerate(strategy.candidates):
        arch = architectures.get(ref.architecture)
        if arch is None or (arch.plugin and not arch.parameters):
            continue
        where = "spec.main" if i == 0 else f"spec.replacements[{i - 1}]"
        unknown = sorted(set(ref.config) - set(arch.parameters))
        if unknown:
            declared = ", ".join(sorted(arch.parameters)) or "none"
            out.append(ConfigProblem("UnknownParameter", (
                f"{where}.config: Architecture {ref.architecture} declares no parameter "
                f"{', '.join(unknown)} (declared: {declared})")))
        for name in sorted(set(ref.config) & set(arch.parameters)):
            param, value = arch.parameters[name], ref.config[name]
            if not _type_ok(param.type, value):
                out.append(ConfigProblem("InvalidParameter", (
                    f"{where}.config.{name}: must be {param.type} (Architecture "
                    f"{ref.architecture}), got {type(value).__name__} {value!r}")))
    return out
