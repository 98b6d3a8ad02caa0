"""Rules about one entity that need no fog: the offline half of what fog05 would check
when its descriptor is onboarded and its instances started.

Each rule returns ``(path, message)`` pairs relative to the entity, so
``controller.api.validation`` reports them at the right place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from controller.api import templates
from controller.api.cpuarch import normalize_arch
from controller.api.schema import PathPart

Finding = tuple[tuple[PathPart, ...], str]


def arch_conflict(entity: Mapping[str, Any]) -> list[Finding]:
    """``requirements.cpuArch`` and the FDU's ``cpu_arch`` must name the same CPU
    (``arm64`` and ``aarch64`` do): placement takes the first, fog05 checks the second."""
    requirements = entity.get("requirements")
    fdu = entity.get("fdu")
    wanted = requirements.get("cpuArch") if isinstance(requirements, Mapping) else None
    comp = fdu.get("computation_requirements") if isinstance(fdu, Mapping) else None
    declared = comp.get("cpu_arch") if isinstance(comp, Mapping) else None
    if not isinstance(wanted, str) or not isinstance(declared, str) or not declared:
        return []
    if normalize_arch(wanted) == normalize_arch(declared):
        return []
    return [(
        ("requirements", "cpuArch"),
        f"{wanted!r} contradicts fdu.computation_requirements.cpu_arch {declared!r} "
        f"({normalize_arch(wanted)} vs {normalize_arch(declared)})",
    )]


def env_separators(entity: Mapping[str, Any]) -> list[Finding]:
    """A ``join`` separator in an env value must be one fog05's ``A=1,B=2`` env string can
    carry: the Architecture may run on any driver, and the failover target is the worst
    place to find out."""
    env = entity.get("env")
    if not isinstance(env, Mapping):
        return []
    out: list[Finding] = []
    for key, value in env.items():
        if not isinstance(value, str) or not templates.has_references(value):
            continue
        try:
            refs = templates.references(value)
        except templates.TemplateError:
            continue  # reported with the other template problems
        for ref in refs:
            bad = [c for c in templates.ENV_UNCARRIABLE if c in (ref.separator or "")]
            if bad:
                out.append((("env", str(key)), (
                    f"join({ref.separator!r}): fog05 cannot carry {bad[0]!r} in an env value "
                    "(its env string is A=1,B=2); join with a space or ':' instead"
                )))
    return out


def fdu_identity(entity: Mapping[str, Any]) -> list[Finding]:
    """A pasted descriptor's ``id``/``uuid`` are kept as the base of the derived ones; the
    uuid must be one (it is the namespace the replicas' uuids are derived in)."""
    fdu = entity.get("fdu")
    if not isinstance(fdu, Mapping):
        return []
    out: list[Finding] = []
    if "id" in fdu and (not isinstance(fdu["id"], str) or not fdu["id"]):
        out.append((("fdu", "id"), f"must be a non-empty string (got {fdu['id']!r})"))
    if "uuid" in fdu:
        try:
            uuid.UUID(str(fdu["uuid"]))
        except ValueError:
            out.append((("fdu", "uuid"), (
                f"must be a UUID, as fog05's FDU model requires (got {fdu['uuid']!r}); "
                "or leave it out"
            )))
    return out


def entity_findings(entity: Mapping[str, Any]) -> list[Finding]:
    """Every finding of the rules above for one entity."""
    return arch_conflict(entity) + env_separators(entity) + fdu_identity(entity)
