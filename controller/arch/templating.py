"""The engine's view of ``controller.api.templates``: references and rendering.

Kept as one small adapter so the rest of the engine speaks in reference paths
(``("entities", "aggregator", "ip")``) and typed engine errors, whatever the template
module's own types are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api import templates as _tpl
from controller.api.models import Entity
from controller.arch.errors import BindingError, SpecError

Path = tuple[str, ...]

ENTITY_ATTRIBUTES: tuple[str, ...] = _tpl.ENTITY_ATTRIBUTES
SELF_ATTRIBUTES: frozenset[str] = _tpl.SELF_ATTRIBUTES
DATA_FIELDS: tuple[str, ...] = _tpl.DATA_FIELDS
ENVIRONMENT_SECTIONS: tuple[str, ...] = _tpl.ENVIRONMENT_SECTIONS


def references(template: str) -> list[Path]:
    """Every reference in ``template`` as a path, in order of appearance."""
    try:
        refs = _tpl.references(template)
    except _tpl.TemplateError as exc:
        raise SpecError(str(exc), operation="template") from exc
    return [(ref.namespace, *ref.path) for ref in refs]


def template_strings(entity: Entity) -> list[tuple[str, str]]:
    """Every string of an entity that may hold references: env values and FDU strings.

    Returned as ``(where, text)`` with ``where`` like ``env ROUNDS`` or
    ``fdu command.args.0``, for error messages.
    """
    out = [(f"env {key}", entity.env[key]) for key in sorted(entity.env)]
    for path, text in _tpl.iter_strings(entity.fdu):
        if _tpl.has_references(text):
            out.append(("fdu " + ".".join(str(p) for p in path), text))
    return out


def entity_refs(template: str) -> list[str]:
    """Names of the entities ``template`` references (``entities.X.…``)."""
    return [p[1] for p in references(template) if len(p) >= 2 and p[0] == "entities"]


def render(template: str, context: Mapping[str, Any], *, entity: str, where: str) -> str:
    """Render one string; a failure names the entity and where the string is."""
    try:
        return _tpl.render(template, context)
    except _tpl.TemplateError as exc:
        raise BindingError(f"{where}: {exc}", entity=entity, operation="render") from exc


def render_value(value: Any, context: Mapping[str, Any], *, entity: str) -> Any:
    """Render every string inside a nested value (the FDU descriptor)."""
    try:
        return _tpl.render_value(value, context)
    except _tpl.TemplateError as exc:
        raise BindingError(f"fdu: {exc}", entity=entity, operation="render") from exc
