"""Template inputs of an entity: placement and runtime facts, parameters, data, environment.

Two jobs, both before anything is started: :func:`check_bindings` proves every
reference of a phase can be resolved (a missing data binding fails the whole deploy up
front, not after half the entities run), and :func:`build_context` assembles the values
one replica's ``env`` is rendered with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.api.models import ArchitectureDataSpec, Entity, EnvironmentSpec
from controller.arch.errors import BindingError, SpecError
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.arch.templating import Path, references

ENTITY_FACTS = ("ip", "ips", "node", "nodes", "nodeName", "id", "ids", "replicas")
SELF_FACTS = ("entity", "replica", "replicas", "ip", "node", "nodeName")
DATA_KEYS = {"deployPath": "deploy_path", "servePath": "serve_path", "dataId": "data_id"}


@dataclass(frozen=True)
class Inputs:
    """What an architecture was configured and associated with, plus the data binding."""

    params: Mapping[str, Any] = field(default_factory=dict)
    environment: EnvironmentSpec | None = None
    data: ArchitectureDataSpec | None = None


def _lookup(root: Mapping[str, Any], path: Sequence[str]) -> bool:
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _check_ref(path: Path, inputs: Inputs) -> str | None:
    """A reason the reference cannot resolve, or None."""
    dotted = ".".join(path)
    root = path[0]
    if root == "entities":
        if len(path) != 3 or path[2] not in ENTITY_FACTS:
            return f"{dotted}: use entities.<name>.<{'|'.join(ENTITY_FACTS)}>"
        return None
    if root == "self":
        if len(path) != 2 or path[1] not in SELF_FACTS:
            return f"{dotted}: use self.<{'|'.join(SELF_FACTS)}>"
        return None
    if root == "params":
        if len(path) != 2 or path[1] not in inputs.params:
            return f"{dotted}: parameter {'.'.join(path[1:])} has no value"
        return None
    if root == "data":
        if len(path) != 2 or path[1] not in DATA_KEYS:
            return f"{dotted}: use data.<{'|'.join(DATA_KEYS)}>"
        if inputs.data is None:
            return f"{dotted}: no ArchitectureData is bound (set the ActiveStrategy's dataId)"
        if getattr(inputs.data, DATA_KEYS[path[1]]) is None:
            return f"{dotted}: ArchitectureData {inputs.data.data_id!r} has no {path[1]}"
        return None
    if root == "environment":
        if len(path) < 3 or path[1] not in ("info", "directives"):
            return f"{dotted}: use environment.info.<key> or environment.directives.<key>"
        env = inputs.environment
        source: Mapping[str, Any] = {}
        if env is not None:
            source = env.info if path[1] == "info" else env.directives
        if not _lookup(source, path[2:]):
            return f"{dotted}: the Environment has no {path[1]}.{'.'.join(path[2:])}"
        return None
    return f"{dotted}: unknown reference (entities, self, params, data, environment)"


def check_bindings(entities: Sequence[Entity], inputs: Inputs) -> None:
    """Raise for the first entity with an unresolvable reference, listing all of its problems."""
    for ent in entities:
        problems: list[str] = []
        for key in sorted(ent.env):
            for path in references(ent.env[key]):
                reason = _check_ref(path, inputs)
                if reason:
                    problems.append(f"env {key}: {reason}")
        if problems:
            bad_shape = all("use " in p or "unknown reference" in p for p in problems)
            cls = SpecError if bad_shape else BindingError
            raise cls("; ".join(problems), entity=ent.name, operation="bind")


def entity_facts(replicas: Sequence[ReplicaRecord]) -> dict[str, str]:
    """``entities.X.*`` values: the first replica's, plus comma-joined lists of all."""
    ips = [r.node_ip or "" for r in replicas]
    nodes = [r.node_id or "" for r in replicas]
    ids = [r.instance_id or "" for r in replicas]
    first = replicas[0] if replicas else None
    return {
        "ip": ips[0] if ips else "",
        "ips": ",".join(ips),
        "node": nodes[0] if nodes else "",
        "nodes": ",".join(nodes),
        "nodeName": (first.node_name or "") if first else "",
        "id": ids[0] if ids else "",
        "ids": ",".join(ids),
        "replicas": str(len(replicas)),
    }


def build_context(
    record: ArchitectureRecord,
    inputs: Inputs,
    *,
    entity: Entity,
    replica: int,
    me: ReplicaRecord,
) -> dict[str, Any]:
    """The render context of one replica of ``entity`` placed as ``me``."""
    data: dict[str, str] = {}
    if inputs.data is not None:
        for key, attr in DATA_KEYS.items():
            value = getattr(inputs.data, attr)
            if value is not None:
                data[key] = str(value)
    env = inputs.environment
    return {
        "entities": {name: entity_facts(record.replicas(name)) for name in record.entities},
        "params": dict(inputs.params),
        "data": data,
        "environment": {
            "info": dict(env.info) if env else {},
            "directives": dict(env.directives) if env else {},
        },
        "self": {
            "entity": entity.name,
            "replica": str(replica),
            "replicas": str(entity.replicas),
            "ip": me.node_ip or "",
            "node": me.node_id or "",
            "nodeName": me.node_name or "",
        },
    }
