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
from controller.arch.templating import (
    DATA_FIELDS,
    ENTITY_ATTRIBUTES,
    ENVIRONMENT_SECTIONS,
    SELF_ATTRIBUTES,
    Path,
    references,
    template_strings,
)

_DATA_ATTRS = {"deployPath": "deploy_path", "servePath": "serve_path", "dataId": "data_id"}
DATA_KEYS = {key: _DATA_ATTRS[key] for key in DATA_FIELDS}


@dataclass(frozen=True)
class Inputs:
    """What an architecture was configured and associated with, plus the data binding."""

    params: Mapping[str, Any] = field(default_factory=dict)
    environment: EnvironmentSpec | None = None
    data: ArchitectureDataSpec | None = None
    association: Mapping[str, Any] = field(default_factory=dict)
    """The association args (``{{ association.KEY }}``)."""


def _lookup(root: Mapping[str, Any], path: Sequence[str]) -> bool:
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _check_ref(path: Path, inputs: Inputs, entity: str) -> str | None:
    """A reason the reference cannot resolve, or None."""
    dotted = ".".join(path)
    root = path[0]
    if root == "entities":
        if len(path) != 3 or path[2] not in ENTITY_ATTRIBUTES:
            return f"{dotted}: use entities.<name>.<{'|'.join(ENTITY_ATTRIBUTES)}>"
        if path[1] == entity and path[2] not in SELF_ATTRIBUTES:
            allowed = "|".join(sorted(SELF_ATTRIBUTES))
            return f"{dotted}: an entity can only read its own <{allowed}>"
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
        if len(path) < 3 or path[1] not in ENVIRONMENT_SECTIONS:
            return f"{dotted}: use environment.info.<key> or environment.directives.<key>"
        env = inputs.environment
        source: Mapping[str, Any] = {}
        if env is not None:
            source = env.info if path[1] == "info" else env.directives
        if not _lookup(source, path[2:]):
            return f"{dotted}: the Environment has no {path[1]}.{'.'.join(path[2:])}"
        return None
    if root == "association":
        if len(path) < 2 or not _lookup(inputs.association, path[1:]):
            return (f"{dotted}: the ActiveStrategy's association args have no "
                    f"{'.'.join(path[1:]) or 'KEY'}")
        return None
    return f"{dotted}: unknown reference (entities, params, data, environment, association)"


def check_bindings(entities: Sequence[Entity], inputs: Inputs) -> None:
    """Raise for the first entity with an unresolvable reference, listing all of its problems."""
    for ent in entities:
        problems: list[str] = []
        for where, template in template_strings(ent):
            for path in references(template):
                reason = _check_ref(path, inputs, ent.name)
                if reason:
                    problems.append(f"{where}: {reason}")
        if problems:
            bad_shape = all(("use " in p or "unknown" in p or "only read" in p) for p in problems)
            cls = SpecError if bad_shape else BindingError
            raise cls("; ".join(problems), entity=ent.name, operation="bind")


def entity_facts(replicas: Sequence[ReplicaRecord]) -> dict[str, Any]:
    """``entities.X.*`` values: singular = the first replica's, plural = the list of all
    (a template writes it joined with a space, or with its ``join`` separator).

    ``ip`` is the instance's own address where the fog reported one (an LXD, KVM or
    Docker FDU has its own interface), else its node's; ``nodeIp`` is always the node's.
    ``node`` is the node uuid (what fog05 calls it by); ``id``/``instance`` the fog05
    instance id. Facts not known yet (an instance id before define) are absent, so a
    premature reference fails loudly instead of rendering an empty string.
    """
    out: dict[str, Any] = {}
    node_ips = [r.node_ip for r in replicas]
    ips = [r.address or r.node_ip for r in replicas]
    nodes = [r.node_id for r in replicas]
    ids = [r.instance_id for r in replicas]
    for single, plural, values in (
        ("ip", "ips", ips),
        ("nodeIp", "nodeIps", node_ips),
        ("node", "nodes", nodes),
        ("instance", "instances", ids),
    ):
        if values and all(values):
            out[single] = str(values[0])
            out[plural] = [str(v) for v in values]
    if "instance" in out:
        out["id"] = out["instance"]
    return out


def build_context(record: ArchitectureRecord, inputs: Inputs) -> dict[str, Any]:
    """The render context: facts of every placed entity, parameters, data, environment.

    An entity's own replicas are in the record (placed, not yet started) when it is
    rendered, which is what makes ``entities.<self>.ip`` work.
    """
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
        "association": dict(inputs.association),
    }
