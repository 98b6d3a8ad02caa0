"""The FDU descriptor of one entity replica.

The entity's ``fdu`` template with the deterministic ``id``/``uuid`` (derived from the
user's own, see :mod:`controller.arch.ids`), ``name`` defaulted to the entity's name,
its template strings rendered, and ``computation_requirements`` raised to the entity's
``requirements`` so the fog reserves what placement counted on. Its connection points
get the replica's own uuids and point at the networks' uuids (``networks``: name → uuid).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.api.models import Entity
from controller.arch.ids import fdu_uuid
from controller.arch.networks import attach_descriptor
from controller.arch.placement import effective_requirements
from controller.arch.templating import render_value


def build_descriptor(
    entity: Entity, descriptor_id: str, context: Mapping[str, Any] | None = None,
    networks: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    fdu: dict[str, Any] = copy.deepcopy(dict(entity.fdu))
    if context is not None:
        fdu = render_value(fdu, context, entity=entity.name)
    base_uuid = fdu.get("uuid")
    fdu["id"] = descriptor_id
    fdu["uuid"] = fdu_uuid(descriptor_id, base_uuid if isinstance(base_uuid, str) else None)
    if not isinstance(fdu.get("name"), str) or not fdu["name"]:
        fdu["name"] = entity.name
    req = effective_requirements(entity)
    comp = dict(fdu.get("computation_requirements") or {})
    if req.cpu_arch:
        comp["cpu_arch"] = req.cpu_arch
    if req.min_cores:
        comp["cpu_min_count"] = req.min_cores
    if req.ram_mb:
        comp["ram_size_mb"] = float(req.ram_mb)
    if req.disk_gb:
        comp["storage_size_gb"] = float(req.disk_gb)
    fdu["computation_requirements"] = comp
    attach_descriptor(fdu, descriptor_id, networks)
    fdu.setdefault("hypervisor", "BARE")
    fdu.setdefault("migration_kind", "COLD")
    return fdu
