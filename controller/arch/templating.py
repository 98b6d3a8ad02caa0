"""The engine's view of ``controller.api.templates``: references and rendering.

Kept as one small adapter so the rest of the engine speaks in reference paths
(``("entities", "aggregator", "ip")``) and typed engine errors, whatever the template
module's own types are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api import templates as _tpl
from controller.arch.errors import BindingError

Path = tuple[str, ...]


def references(template: str) -> list[Path]:
    """Every reference in ``template`` as a path, in order of appearance."""
    return [tuple(ref.split(".")) for ref in _tpl.references(template)]


def entity_refs(template: str) -> list[str]:
    """Names of the entities ``template`` references (``entities.X.…``)."""
    return [p[1] for p in references(template) if len(p) >= 2 and p[0] == "entities"]


def render(template: str, context: Mapping[str, Any], *, entity: str, key: str) -> str:
    """Render one env value; a failure names the entity and the env key."""
    try:
        return _tpl.render(template, context)
    except _tpl.TemplateError as exc:
        raise BindingError(f"env {key}: {exc}", entity=entity, operation="render") from exc
