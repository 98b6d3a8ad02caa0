"""``{{ namespace.path }}`` references in entity env values and FDU descriptor strings.

Templates are how an entity receives fine-grain dependencies (another entity's IP, a
parameter, a data path). The grammar is deliberately tiny — a dotted path, nothing
else — so that validation can find every reference offline and the deployment order can
be derived from them. Validation (``controller.api.validation``) checks what references
point at; the architecture engine renders them with :func:`render` / :func:`render_value`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Namespaces a reference may start with.
NAMESPACES: tuple[str, ...] = ("entities", "params", "data", "environment")
#: ``{{ entities.E.ATTR }}`` attributes. Singular forms are the first replica's value,
#: plural forms all replicas' values joined with commas (in replica order).
ENTITY_ATTRIBUTES: tuple[str, ...] = ("ip", "ips", "node", "nodes", "id", "instance", "instances")
#: Attributes an entity may read about itself: known once all its replicas are placed,
#: before any of them starts, so they add no ordering constraint.
SELF_ATTRIBUTES: frozenset[str] = frozenset({"ip", "ips", "node", "nodes"})
#: ``{{ data.FIELD }}`` fields (from the ArchitectureData and the ActiveStrategy).
DATA_FIELDS: tuple[str, ...] = ("deployPath", "servePath", "dataId")
#: ``{{ environment.SECTION.KEY... }}`` sections (free-form maps of the Environment).
ENVIRONMENT_SECTIONS: tuple[str, ...] = ("info", "directives")

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_PATH = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")


class TemplateError(ValueError):
    """A template is malformed, or a reference cannot be resolved while rendering."""


@dataclass(frozen=True)
class Reference:
    """One ``{{ ... }}`` occurrence: ``namespace`` plus the rest of the dotted ``path``."""

    namespace: str
    path: tuple[str, ...]
    start: int
    end: int

    @property
    def dotted(self) -> str:
        return ".".join((self.namespace, *self.path))

    def __str__(self) -> str:
        return "{{ " + self.dotted + " }}"


def references(template: str) -> list[Reference]:
    """All references in ``template``, in order; raises TemplateError if one is malformed.

    Whitespace inside the braces is ignored (``{{entities.a.ip}}`` == ``{{ entities.a.ip }}``).
    A lone ``{{`` without ``}}`` is an error rather than literal text, because it is far
    more likely a typo than intended output.
    """
    refs: list[Reference] = []
    for match in _TEMPLATE.finditer(template):
        body = match.group(1).strip()
        if not _PATH.match(body):
            raise TemplateError(
                f"malformed template {match.group(0)!r}: expected a dotted reference such as "
                "{{ entities.NAME.ip }} or {{ params.NAME }}"
            )
        namespace, *rest = body.split(".")
        refs.append(Reference(namespace, tuple(rest), match.start(), match.end()))
    tail = _TEMPLATE.sub("", template)
    if "{{" in tail or "}}" in tail:
        raise TemplateError(f"unbalanced '{{{{' or '}}}}' in {template!r}")
    return refs


def has_references(template: str) -> bool:
    """Whether ``template`` contains ``{{`` at all (cheap pre-check before parsing)."""
    return "{{" in template


def iter_strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string leaf of a nested mapping/list value with its path (keys excluded)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, (*path, str(key)))
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for index, item in enumerate(value):
            yield from iter_strings(item, (*path, index))


def lookup(context: Mapping[str, Any], ref: Reference) -> Any:
    """The value ``ref`` points at in ``context``; TemplateError naming what is missing."""
    current: Any = context
    walked: list[str] = []
    for segment in (ref.namespace, *ref.path):
        if not isinstance(current, Mapping) or segment not in current:
            where = ".".join(walked) if walked else "the template context"
            raise TemplateError(f"cannot resolve {ref}: no {segment!r} in {where}")
        current = current[segment]
        walked.append(segment)
    return current


def to_text(value: Any) -> str:
    """How a value is written into a string: lists comma-joined, mappings as JSON.

    Booleans and null are written the JSON way (``true``/``false``/empty) because the
    consumers are processes reading environment variables, not Python.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return ",".join(to_text(item) for item in value)
    return str(value)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Substitute every reference of ``template`` from the nested ``context`` mapping.

    ``context`` looks like ``{"entities": {"aggregator": {"ip": "10.0.0.1", ...}},
    "params": {...}, "data": {...}, "environment": {"info": {...}, "directives": {...}}}``.
    """
    refs = references(template)
    if not refs:
        return template
    out: list[str] = []
    position = 0
    for ref in refs:
        out.append(template[position : ref.start])
        out.append(to_text(lookup(context, ref)))
        position = ref.end
    out.append(template[position:])
    return "".join(out)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a nested value (an FDU descriptor, an env map).

    Returns new containers (dicts and lists); the input is not modified.
    """
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [render_value(item, context) for item in value]
    return value
