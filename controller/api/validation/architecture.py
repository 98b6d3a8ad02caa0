"""Architecture rules the schema cannot express: entities or a plugin, parameter names
and defaults, entity names, references, dependencies, phases, FDU shape, health."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.api import entity_rules, templates
from controller.api.limits import excerpt, one_line
from controller.api.validation.common import Sink, known_entities
from controller.api.validation.health import check_health
from controller.api.validation.networks import check_connection_points, check_networks
from controller.api.validation.references import Edge, check_template, cycles

_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAMETER_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def check_architecture(spec: Mapping[str, Any], sink: Sink) -> None:
    entities = spec.get("entities")
    plugin = spec.get("plugin")
    has_entities = isinstance(entities, list) and len(entities) > 0
    if has_entities and plugin is not None:
        sink.add("set either entities or plugin, not both")
    elif not has_entities and plugin is None:
        if isinstance(entities, list):
            sink.add("must not be empty (or set plugin instead)", "entities")
        else:
            sink.add("set either entities (declarative) or plugin (a registered Python plugin)")

    parameters = spec.get("parameters")
    declared: set[str] = set()
    if isinstance(parameters, Mapping):
        declared = {str(k) for k in parameters}
        _check_parameters(parameters, sink.at("parameters"))

    by_name: dict[str, Mapping[str, Any]] = {}
    if isinstance(entities, list):
        by_name = _check_entity_names(entities, sink.at("entities"))
        _check_entities(entities, by_name, declared, sink.at("entities"))

    _check_network_use(spec, sink)

    health = spec.get("health")
    if isinstance(health, Mapping):
        check_health(health, by_name, plugin is not None and not has_entities, sink.at("health"))
    endpoint = spec.get("endpoint")
    if isinstance(endpoint, Mapping) and has_entities:
        _check_endpoint(endpoint, by_name, sink.at("endpoint"))


def _check_endpoint(endpoint: Mapping[str, Any], by_name: Mapping[str, Any], sink: Sink) -> None:
    entity = endpoint.get("entity")
    if isinstance(entity, str) and entity not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        sink.add(f"unknown entity {excerpt(entity)} (entities: {one_line(known, 200)})", "entity")


def _check_network_use(spec: Mapping[str, Any], sink: Sink) -> None:
    networks = spec.get("networks")
    declared = check_networks(networks, sink.at("networks")) if isinstance(networks, list) \
        else set()
    entities = spec.get("entities")
    for index, ent in enumerate(entities if isinstance(entities, list) else ()):
        fdu = ent.get("fdu") if isinstance(ent, Mapping) else None
        if isinstance(fdu, Mapping):
            check_connection_points(fdu, declared, sink.at("entities", index, "fdu"))


def _check_parameters(parameters: Mapping[str, Any], sink: Sink) -> None:
    for name, parameter in parameters.items():
        if not _PARAMETER_NAME.match(str(name)):
            sink.add(
                "invalid parameter name: letters, digits and '_', not starting with a digit",
                str(name),
            )
        if not isinstance(parameter, Mapping) or "default" not in parameter:
            continue
        default = parameter["default"]
        if parameter.get("required") is True:
            sink.add("a required parameter must not have a default", str(name), "default")
            continue
        expected = _PARAMETER_TYPES.get(str(parameter.get("type")))
        if (
            default is not None
            and expected is not None
            and (
                not isinstance(default, expected)
                or (isinstance(default, bool) and bool not in expected)
            )
        ):
            sink.add(
                f"does not match type {parameter.get('type')} (got {excerpt(default)})",
                str(name),
                "default",
            )


def _check_entity_names(entities: list[Any], sink: Sink) -> dict[str, Mapping[str, Any]]:
    by_name: dict[str, Mapping[str, Any]] = {}
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping) or not isinstance(entity.get("name"), str):
            continue
        name = entity["name"]
        if name in by_name:
            sink.add(f"duplicate entity name {excerpt(name)}", index, "name")
        else:
            by_name[name] = entity
    if by_name and not any(e.get("phase", "deploy") == "deploy" for e in by_name.values()):
        sink.add("at least one entity must have phase deploy (the service itself)")
    return by_name


def _check_entities(
    entities: list[Any], by_name: Mapping[str, Mapping[str, Any]], parameters: set[str], sink: Sink
) -> None:
    """References, dependencies, phases, anti-affinity, FDU shape; then cycles."""
    graph: dict[str, list[str]] = {name: [] for name in by_name}
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            continue
        name = entity.get("name") if isinstance(entity.get("name"), str) else None
        phase = entity.get("phase", "deploy")
        for edge in _check_entity(entity, name, by_name, parameters, sink.at(index)):
            target = edge.target
            if phase == "deploy" and by_name[target].get("phase", "deploy") == "serve":
                edge.where.add(
                    f"deploy-phase entity {excerpt(name)} cannot depend on serve-phase entity "
                    f"{excerpt(target)} (serve-phase entities start after deployment)"
                )
            if name is not None and by_name.get(name) is entity and target not in graph[name]:
                graph[name].append(target)

    for cycle in cycles(graph):
        sink.add("dependency cycle " + " -> ".join(cycle))


def _check_entity(
    entity: Mapping[str, Any],
    name: str | None,
    by_name: Mapping[str, Mapping[str, Any]],
    parameters: set[str],
    here: Sink,
) -> list[Edge]:
    """One entity's own problems; the entities it depends on, by template or dependsOn."""
    edges: list[Edge] = []
    env = entity.get("env")
    if isinstance(env, Mapping):
        for key, value in env.items():
            if not _ENV_NAME.match(str(key)):
                here.add(
                    "invalid environment variable name: letters, digits and '_', "
                    "not starting with a digit",
                    "env",
                    str(key),
                )
            if isinstance(value, str):
                edges += check_template(value, name, by_name, parameters, here.at("env", str(key)))
    for parts, message in entity_rules.entity_findings(entity):
        here.add(message, *parts)
    fdu = entity.get("fdu")
    if isinstance(fdu, Mapping):
        _check_fdu(fdu, here.at("fdu"))
        for path, text in templates.iter_strings(fdu):
            edges += check_template(text, name, by_name, parameters, here.at("fdu", *path))
    edges += _check_depends_on(entity.get("dependsOn"), name, by_name, here)
    _check_anti_affinity(entity.get("requirements"), by_name, here)
    return edges


def _check_depends_on(
    depends_on: Any, name: str | None, by_name: Mapping[str, Mapping[str, Any]], here: Sink
) -> list[Edge]:
    if not isinstance(depends_on, list):
        return []
    edges: list[Edge] = []
    for position, target in enumerate(depends_on):
        if not isinstance(target, str):
            continue
        if target == name:
            here.add("an entity cannot depend on itself", "dependsOn", position)
        elif target not in by_name:
            here.add(f"unknown entity {excerpt(target)}{known_entities(by_name)}", "dependsOn",
                     position)
        else:
            edges.append(Edge(target, here.at("dependsOn", position)))
    return edges


def _check_anti_affinity(
    requirements: Any, by_name: Mapping[str, Mapping[str, Any]], here: Sink
) -> None:
    anti = requirements.get("antiAffinity") if isinstance(requirements, Mapping) else None
    if not isinstance(anti, list):
        return
    for position, target in enumerate(anti):
        if isinstance(target, str) and target not in by_name:
            here.add(
                f"unknown entity {excerpt(target)}{known_entities(by_name)}",
                "requirements",
                "antiAffinity",
                position,
            )


def _check_fdu(fdu: Mapping[str, Any], sink: Sink) -> None:
    command = fdu.get("command")
    if fdu.get("hypervisor") == "BARE":
        if command is None:
            sink.add("required for a BARE FDU (the process to run)", "command")
        elif isinstance(command, Mapping):
            binary = command.get("binary")
            if (
                isinstance(binary, str)
                and binary
                and not (binary.startswith("/") or binary.startswith("{{"))
            ):
                sink.add(
                    f"must be an absolute path, fog05 runs it without a shell (got "
                    f"{excerpt(binary)}); use /usr/bin/env to look a program up",
                    "command",
                    "binary",
                )
