"""Template references in an Architecture's strings, and the dependency cycles they and
``dependsOn`` can form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.api import templates
from controller.api.limits import excerpt
from controller.api.validation.common import Sink, known_entities


@dataclass(frozen=True)
class Edge:
    """An entity another one depends on, and where the dependency is written: a problem
    with the dependency (deploy phase on serve phase) is reported there."""

    target: str
    where: Sink


def check_template(
    text: str,
    owner: str | None,
    by_name: Mapping[str, Mapping[str, Any]],
    parameters: set[str],
    sink: Sink,
) -> list[Edge]:
    """Report bad references in one string; return the entities it depends on."""
    if not templates.has_references(text) and "}}" not in text:
        return []
    try:
        refs = templates.references(text)
    except templates.TemplateError as exc:
        sink.add(str(exc))
        return []
    edges: list[Edge] = []
    for ref in refs:
        problem = _reference_problem(ref, owner, by_name, parameters)
        if problem:
            sink.add(f"{ref}: {problem}")
        elif ref.namespace == "entities" and ref.path[0] != owner:
            edges.append(Edge(ref.path[0], sink))
    return edges


def _reference_problem(
    ref: templates.Reference,
    owner: str | None,
    by_name: Mapping[str, Mapping[str, Any]],
    parameters: set[str],
) -> str | None:
    ns, path = ref.namespace, ref.path
    if ns == "entities":
        return _entity_reference_problem(path, owner, by_name)
    if ns == "params":
        if len(path) != 1:
            return "expected {{ params.NAME }}"
        if path[0] not in parameters:
            declared = f"; declared: {', '.join(sorted(parameters))}" if parameters else ""
            return f"parameter {excerpt(path[0])} is not declared in spec.parameters{declared}"
        return None
    if ns == "data":
        if len(path) != 1 or path[0] not in templates.DATA_FIELDS:
            return f"expected {{{{ data.{'|'.join(templates.DATA_FIELDS)} }}}}"
        return None
    if ns == "environment":
        if len(path) < 2 or path[0] not in templates.ENVIRONMENT_SECTIONS:
            return "expected {{ environment.info.KEY }} or {{ environment.directives.KEY }}"
        return None
    if ns == "association":
        return None if path else "expected {{ association.KEY }}"
    return f"unknown namespace {excerpt(ns)}; use one of {', '.join(templates.NAMESPACES)}"


def _entity_reference_problem(
    path: tuple[str, ...], owner: str | None, by_name: Mapping[str, Mapping[str, Any]]
) -> str | None:
    attributes = "|".join(templates.ENTITY_ATTRIBUTES)
    if len(path) != 2:
        return f"expected {{{{ entities.NAME.{attributes} }}}}"
    target, attribute = path
    if target not in by_name:
        return f"unknown entity {excerpt(target)}{known_entities(by_name)}"
    if attribute not in templates.ENTITY_ATTRIBUTES:
        return (f"unknown attribute {excerpt(attribute)}; use one of "
                f"{attributes.replace('|', ', ')}")
    if target == owner and attribute not in templates.SELF_ATTRIBUTES:
        allowed = ", ".join(sorted(templates.SELF_ATTRIBUTES))
        return f"an entity can read only its own {allowed} (its ids do not exist yet)"
    return None


def cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle found by a depth-first search, as ``[a, b, a]``.

    One cycle per back edge is enough to show the user what to break; cycles are
    rotated to start at their smallest name so the message is stable.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:
        colour[node] = grey
        stack.append(node)
        for target in graph.get(node, []):
            if colour.get(target) == grey:
                loop = stack[stack.index(target) :]
                start = loop.index(min(loop))
                loop = loop[start:] + loop[:start]
                if tuple(loop) not in seen:
                    seen.add(tuple(loop))
                    found.append([*loop, loop[0]])
            elif colour.get(target) == white:
                visit(target)
        stack.pop()
        colour[node] = black

    for node in sorted(graph):
        if colour[node] == white:
            visit(node)
    return found
