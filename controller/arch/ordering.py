"""Dependency order of entities: template references (env and FDU strings) plus ``dependsOn``.

Entities start in *waves*: a wave holds the entities whose dependencies all lie in
earlier waves, so everything an entity references is running (and ready) before it
starts. Order inside a wave and among independent entities follows the spec, so the
result is deterministic. A cycle is reported with its path (``a -> b -> a``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controller.api.models import Entity
from controller.arch.errors import CycleError, SpecError
from controller.arch.templating import entity_refs, template_strings


def dependencies(entity: Entity) -> list[str]:
    """Names this entity depends on, in first-mention order, without itself."""
    seen: dict[str, None] = {}
    for _where, template in template_strings(entity):
        for ref in entity_refs(template):
            seen.setdefault(ref, None)
    for dep in entity.depends_on:
        seen.setdefault(dep, None)
    seen.pop(entity.name, None)
    return list(seen)


def dependency_graph(entities: Sequence[Entity]) -> dict[str, list[str]]:
    """entity → its dependencies; raises :class:`SpecError` on unknown or backward refs."""
    by_name = {e.name: e for e in entities}
    graph: dict[str, list[str]] = {}
    for ent in entities:
        deps = dependencies(ent)
        for dep in deps:
            if dep not in by_name:
                raise SpecError(f"references unknown entity {dep!r}", entity=ent.name)
            if ent.phase == "deploy" and by_name[dep].phase == "serve":
                raise SpecError(
                    f"deploy-phase entity depends on serve-phase entity {dep!r}",
                    entity=ent.name,
                )
        graph[ent.name] = deps
    _check_cycles(graph, [e.name for e in entities])
    return graph


def _check_cycles(graph: Mapping[str, list[str]], order: list[str]) -> None:
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(order, white)
    stack: list[str] = []

    def visit(node: str) -> None:
        color[node] = grey
        stack.append(node)
        for dep in graph.get(node, []):
            if color[dep] == grey:
                start = stack.index(dep)
                raise CycleError([*stack[start:], dep])
            if color[dep] == white:
                visit(dep)
        stack.pop()
        color[node] = black

    for node in order:
        if color[node] == white:
            visit(node)


def waves(entities: Sequence[Entity]) -> list[list[str]]:
    """Entities grouped by depth in the dependency graph, in spec order within a wave."""
    graph = dependency_graph(entities)
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(d) for d in graph[name]), default=-1)
        return depth[name]

    for ent in entities:
        level(ent.name)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for ent in entities:
        out[depth[ent.name]].append(ent.name)
    return out


def dependency_order(entities: Sequence[Entity]) -> list[str]:
    """A topological order (dependencies first), deterministic for the same spec."""
    return [name for wave in waves(entities) for name in wave]
