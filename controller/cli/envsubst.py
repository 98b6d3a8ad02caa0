"""``${NAME}`` in document strings, expanded from the environment only when asked.

The example Environment's locator is ``${FOGSIM_URL}`` so that it follows whichever
fogsim the local stack started. Expansion is opt-in (``--env-subst`` or
``FOGSTRAT_ENV_SUBST=1``, which ``.run/env`` sets) because a document should mean the
same thing wherever it is applied; without it a reference is refused with a message
rather than stored as a literal that the controller would later fail on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Located = tuple[str, dict[str, Any]]


class EnvSubstError(ValueError):
    """A reference that cannot be expanded, or one found while expansion is off."""


@dataclass(frozen=True)
class EnvReference:
    """One ``${NAME}`` in a document: where it is (``spec.locator``) and its name."""

    path: str
    name: str


def env_references(value: Any, path: str = "") -> list[EnvReference]:
    """Every ``${NAME}`` in the strings of ``value``, depth first."""
    if isinstance(value, str):
        return [EnvReference(path, m.group(1)) for m in REFERENCE.finditer(value)]
    if isinstance(value, Mapping):
        return [r for k, v in value.items()
                for r in env_references(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [r for i, v in enumerate(value) for r in env_references(v, f"{path}[{i}]")]
    return []


def expand(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every ``${NAME}`` replaced by ``env[NAME]`` (all must be set)."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: env[m.group(1)], value)
    if isinstance(value, Mapping):
        return {k: expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    return value


def _where(origin: str, doc: Mapping[str, Any], ref: EnvReference) -> str:
    meta = doc.get("metadata")
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    return f"{origin}: {doc.get('kind', '?')} {name}: {ref.path} refers to ${{{ref.name}}}"


def prepare(docs: list[Located], enabled: bool, env: Mapping[str, str]) -> list[Located]:
    """The documents to apply: expanded when ``enabled``; refused when a reference is
    left that would otherwise be stored as it is."""
    found = [(origin, doc, ref) for origin, doc in docs for ref in env_references(doc)]
    if not enabled:
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise EnvSubstError(f"{_where(*found[0])}{more}; run with --env-subst (or "
                                f"FOGSTRAT_ENV_SUBST=1, as .run/env sets) to expand it from "
                                f"the environment")
        return docs
    for origin, doc, ref in found:
        if ref.name not in env:
            raise EnvSubstError(f"{_where(origin, doc, ref)}, but {ref.name} is not set "
                                f"(source .run/env for the local stack's)")
    return [(origin, expand(doc, env)) for origin, doc in docs]
