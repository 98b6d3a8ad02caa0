"""``configure(config)``: check a configuration against the declared parameters.

Unknown keys are refused (a typo must not silently fall back to a default), required
parameters must be given, defaults fill the rest, and values must have the declared
type. ``bool`` is not accepted as a number although Python says it is an ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.models import Parameter
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
