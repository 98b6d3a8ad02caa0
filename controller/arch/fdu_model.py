"""``fogstrat validate``'s fog05 check: every entity's descriptor, exactly as the
controller would onboard it, through fog05's own FDU model.

The schema and the semantic rules know fogstrat's fields; only fog05's model knows
fog05's (hypervisor kinds, interface types, number formats). Running it at validation
time turns a late ``invalid FDU descriptor`` on deploy into a line naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.models import ArchitectureSpec
from controller.api.parse import parse_document
from controller.api.schema import Problem
from controller.arch.descriptor import build_descriptor
from controller.arch.ids import ArchitectureKey, replica_fdu
from controller.arch.networks import network_ids
from controller.fog import fog05_compat

#: the owner the check derives ids under (any name gives the same verdict)
_CHECK_OWNER = "validate"


def fog05_model_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """fog05's complaints about a valid Architecture document's descriptors, each at the
    entity field that causes it. Templates are left unrendered: the model checks types,
    and a template is a string wherever fog05 expects one. Raises ImportError without
    the fog05 extra."""
    doc = parse_document(raw)
    if not isinstance(doc.spec, ArchitectureSpec):
        return []
    key = ArchitectureKey(doc.namespace, _CHECK_OWNER, doc.name)
    problems: list[Problem] = []
    nets = network_ids(key, doc.spec.networks)
    for index, entity in enumerate(doc.spec.entities):
        descriptor = build_descriptor(entity, replica_fdu(key, entity.name, entity.fdu, 0).id,
                                      networks=nets)
        found = fog05_compat.fdu_model_problem(descriptor)
        if found is None:
            continue
        field, message = found
        path = f"spec.entities[{index}].fdu" + (f".{field}" if field else "")
        problems.append(Problem(path, f"rejected by fog05's FDU model: {message}"))
    return problems
