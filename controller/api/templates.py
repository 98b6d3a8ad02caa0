"""``{{ namespace.path }}`` references in entity env values and FDU descriptor strings.

Templates are how an entity receives fine-grain dependencies (another entity's IP, a
parameter, a data path). The grammar is deliberately tiny, a subset of Jinja's, so that
validation can find every reference offline and the deployment order can be derived
from them:

* ``{{ entities.peer.ip }}`` -- a dotted path (``entities``, ``params``, ``data``,
  ``environment`` or ``association``: the ActiveStrategy's association args);
* ``{{ entities.peer.ips | join(':') }}`` -- a list joined with a chosen separator
  (without ``join``, lists are joined with :data:`LIST_SEPARATOR`, a space, which every
  driver can carry in an env value: fog05's ``A=1,B=2`` env string cannot carry a comma);
* ``{{ '{{' }}`` -- a quoted literal, written as is: how a literal ``{{`` or ``}}`` is
  written (``{{ '{"a":{"b":1}}' }}`` wraps a whole JSON text).

Validation (``controller.api.validation``) checks what references point at; the
architecture engine renders them with :func:`render` / :func:`render_value`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Namespaces a reference may start with.
NAMESPACES: tuple[str, ...] = ("entities", "params", "data", "environment", "association")
#: ``{{ entities.E.ATTR }}`` attributes. Singular forms are the first replica's value,
#: plural forms all replicas' values (in replica order) joined with
#: :data:`LIST_SEPARATOR` or the template's ``join``. ``ip`` is the instance's own
#: address where the fog reports one, else its node's; ``nodeIp`` always the node's.
ENTITY_ATTRIBUTES: tuple[str, ...] = (
    "ip", "ips", "nodeIp", "nodeIps", "node", "nodes", "id", "instance", "instances",
)
#: Attributes an entity may read about itself: known once all its replicas are placed,
#: before any of them starts, so they add no ordering constraint.
SELF_ATTRIBUTES: frozenset[str] = frozenset({"ip", "ips", "nodeIp", "nodeIps", "node", "nodes"})
#: ``{{ data.FIELD }}`` fields (from the ArchitectureData and the ActiveStrategy).
DATA_FIELDS: tuple[str, ...] = ("deployPath", "servePath", "dataId")
#: ``{{ environment.SECTION.KEY... }}`` sections (free-form maps of the Environment).
ENVIRONMENT_SECTIONS: tuple[str, ...] = ("info", "directives")
#: How a list is written when the template names no ``join`` separator.
LIST_SEPARATOR = " "
#: Characters fog05's ``A=1,B=2`` env string cannot carry in a value; the fog05 driver
#: refuses them, and validation refuses them as a ``join`` separator in an env value.
ENV_UNCARRIABLE: tuple[str, ...] = (",", "=", ";", "\n")

ESCAPE_HINT = "write a literal '{{' as {{ '{{' }} and '}}' as {{ '}}' }}"

_OPEN, _CLOSE = "{{", "}}"
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_PATH = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")
_STRING = "'(?P<{0}sq>[^']*)'|\"(?P<{0}dq>[^\"]*)\""
_EXPR = re.compile(r"\s*(?:" + _STRING.format("") + r"|(?P<path>[^\s|}'\"]+))\s*")
_FILTER = re.compile(
    r"\|\s*(?P<name>[A-Za-z_]\w*)\s*(?:\(\s*(?:" + _STRING.format("a") + r")\s*\))?\s*"
)


class TemplateError(ValueError):
    """A template is malformed, or a reference cannot be resolved while rendering."""


@dataclass(frozen=True)
class Reference:
    """One ``{{ ... }}`` reference: ``namespace`` plus the rest of the dotted ``path``,
    and the ``join`` separator when the template names one."""

    namespace: str
    path: tuple[str, ...]
    start: int
    end: int
    separator: str | None = None

    @property
    def dotted(self) -> str:
        return ".".join((self.namespace, *self.path))

    def __str__(self) -> str:
        return "{{ " + self.dotted + " }}"


@dataclass(frozen=True)
class _Literal:
    """A quoted ``{{ '...' }}``: written as is."""

    text: str
    start: int
    end: int


def _quoted(match: re.Match[str], prefix: str = "") -> str | None:
    for group in (prefix + "sq", prefix + "dq"):
        if match.group(group) is not None:
            return match.group(group)
    return None


def _malformed(template: str, start: int) -> TemplateError:
    close = template.find(_CLOSE, start + 2)
    if close < 0:
        return TemplateError(f"unbalanced '{{{{' in {template!r}; {ESCAPE_HINT}")
    return TemplateError(
        f"malformed template {template[start:close + 2]!r}: expected a dotted reference "
        "such as {{ entities.NAME.ip }}, {{ params.NAME }} or "
        "{{ entities.NAME.ips | join(' ') }}, or a quoted literal such as {{ '{{' }}"
    )


def _tag(template: str, start: int) -> Reference | _Literal:
    """The ``{{ ... }}`` starting at ``start``."""
    expr = _EXPR.match(template, start + 2)
    if expr is None:
        raise _malformed(template, start)
    position, separator = expr.end(), None
    while (flt := _FILTER.match(template, position)) is not None:
        if flt.group("name") != "join":
            raise TemplateError(
                f"unknown filter {flt.group('name')!r} in {template!r}: the only filter is "
                "join('SEPARATOR')"
            )
        separator = _quoted(flt, "a")
        if separator is None:
            raise TemplateError(f"join needs a quoted separator, e.g. join(' '), in {template!r}")
        position = flt.end()
    if not template.startswith(_CLOSE, position):
        raise _malformed(template, start)
    end = position + 2
    literal = _quoted(expr)
    if literal is not None:
        return _Literal(literal, start, end)
    path = expr.group("path")
    if not _PATH.match(path):
        raise _malformed(template, start)
    namespace, *rest = path.split(".")
    return Reference(namespace, tuple(rest), start, end, separator)


def _pieces(template: str) -> list[Reference | _Literal]:
    """Every ``{{ ... }}`` of ``template`` in order; a stray ``}}`` or ``{{`` is an error
    rather than literal text, because it is far more likely a typo than intended output."""
    out: list[Reference | _Literal] = []
    position = 0
    while True:
        opening = template.find(_OPEN, position)
        closing = template.find(_CLOSE, position)
        if closing >= 0 and (opening < 0 or closing < opening):
            raise TemplateError(f"unbalanced '}}}}' in {template!r}; {ESCAPE_HINT}")
        if opening < 0:
            return out
        piece = _tag(template, opening)
        out.append(piece)
        position = piece.end


def references(template: str) -> list[Reference]:
    """All references in ``template``, in order; raises TemplateError if one is malformed.

    Whitespace inside the braces is ignored (``{{entities.a.ip}}`` == ``{{ entities.a.ip }}``).
    """
    return [p for p in _pieces(template) if isinstance(p, Reference)]


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


def to_text(value: Any, separator: str = LIST_SEPARATOR) -> str:
    """How a value is written into a string: lists joined with ``separator``, mappings
    as JSON.

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
        return separator.join(to_text(item, separator) for item in value)
    return str(value)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Substitute every reference of ``template`` from the nested ``context`` mapping.

    ``context`` looks like ``{"entities": {"aggregator": {"ip": "10.0.0.1", ...}},
    "params": {...}, "data": {...}, "environment": {"info": {...}, "directives": {...}}}``.
    """
    pieces = _pieces(template)
    if not pieces:
        return template
    out: list[str] = []
    position = 0
    for piece in pieces:
        out.append(template[position : piece.start])
        if isinstance(piece, _Literal):
            out.append(piece.text)
        else:
            sep = LIST_SEPARATOR if piece.separator is None else piece.separator
            out.append(to_text(lookup(context, piece), sep))
        position = piece.end
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
