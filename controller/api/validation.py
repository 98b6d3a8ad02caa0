"""Document validation: the CRD schema plus the rules a schema cannot express.

:func:`validate` collects every problem of a document at once (a user fixing a file
should not have to iterate error by error): the header (``apiVersion``, ``kind``,
``metadata``, which Kubernetes validates outside the CRD schema), the schema of the kind
(``controller.api.schema``), then semantic rules — names, durations, entity dependency
cycles, template references, probe shapes, duplicate replacements. Semantic checks read
the document defensively: they run even when the schema failed and skip values whose
type is already reported.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from controller.api import entity_rules, templates
from controller.api.kinds import (
    API_VERSION,
    ARCHITECTURE,
    DEFAULT_NAMESPACE,
    ENVIRONMENT,
    STRATEGY,
    Kind,
    UnknownKind,
    by_kind,
)
from controller.api.limits import LIMITS, excerpt
from controller.api.schema import (
    DNS1123_LABEL_PATTERN,
    DURATION_PATTERN,
    PATTERN_HINTS,
    PathPart,
    Problem,
    apply_defaults,
    format_path,
    schema_problems,
    validator,
)

__all__ = [
    "InvalidDocument",
    "Problem",
    "check",
    "is_dns1123_label",
    "parse_duration",
    "probe_names",
    "validate",
]

_DNS_LABEL = re.compile(DNS1123_LABEL_PATTERN)
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Kubernetes qualified names (label and annotation keys) and label values.
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
#: metadata fields a document may carry; the read-only ones appear when a document that
#: went through Kubernetes (``kubectl get -o yaml``) is applied again.
_METADATA_FIELDS = (
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
)
_PROBE_KINDS = ("state", "http", "tcp", "qos")
_PARAMETER_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


class InvalidDocument(ValueError):
    """A document failed validation; carries every :class:`Problem` found.

    ``str()`` is one line for logs and the CLI:
    ``ActiveStrategy default/x is invalid: spec.strategy: required; ...``.
    """

    def __init__(
        self, problems: Sequence[Problem], kind: str = "", namespace: str = "", name: str = ""
    ) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.kind = kind
        self.namespace = namespace
        self.name = name
        super().__init__(self.summary())

    @classmethod
    def of(cls, raw: Any, problems: Sequence[Problem]) -> InvalidDocument:
        """Build the exception naming the document as well as its header allows."""
        kind: Any = None
        meta: Any = None
        if isinstance(raw, Mapping):
            kind, meta = raw.get("kind"), raw.get("metadata")
        if not isinstance(meta, Mapping):
            meta = {}
        name, namespace = meta.get("name"), meta.get("namespace", DEFAULT_NAMESPACE)
        return cls(
            problems,
            kind if isinstance(kind, str) else "",
            namespace if isinstance(namespace, str) else DEFAULT_NAMESPACE,
            name if isinstance(name, str) else "",
        )

    def summary(self) -> str:
        what = _short_name(self.kind) or "document"
        if self.name:
            what += f" {_short_name(self.namespace)}/{_short_name(self.name)}"
        return f"{what} is invalid: " + "; ".join(str(p) for p in self.problems)


def _short_name(text: str) -> str:
    """A name as is when it could be valid, else an excerpt: the message must stay short."""
    return text if len(text) <= 63 else excerpt(text, 40)


# --- small public helpers --------------------------------------------------------------------


def is_dns1123_label(value: str) -> bool:
    """Kubernetes DNS-1123 label: what object and entity names must be."""
    return len(value) <= 63 and _DNS_LABEL.match(value) is not None


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``500ms``, ``5s``, ``2m``, ``1h30m``, ``1.5s``."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"invalid duration {excerpt(text)}: {PATTERN_HINTS[DURATION_PATTERN]}")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def probe_names(probes: Sequence[Any]) -> list[str]:
    """Effective probe names: explicit ones, else ``<entity>-<kind>`` (``qos`` alone for a
    Prometheus probe without entity); generated names that would clash get ``-<index>``.

    Names are metric label values and status keys, so they must be stable and unique.
    """
    explicit = [p.get("name") if isinstance(p, Mapping) else None for p in probes]
    bases: list[str | None] = []
    for probe, name in zip(probes, explicit, strict=True):
        if isinstance(name, str):
            bases.append(None)
            continue
        kind = _probe_kind(probe) or "probe"
        entity = probe.get("entity") if isinstance(probe, Mapping) else None
        bases.append(f"{entity}-{kind}" if isinstance(entity, str) else kind)
    taken = {n for n in explicit if isinstance(n, str)}
    result: list[str] = []
    for index, (name, base) in enumerate(zip(explicit, bases, strict=True)):
        if isinstance(name, str):
            result.append(name)
        elif base is not None and bases.count(base) == 1 and base not in taken:
            result.append(base)
        else:
            result.append(f"{base}-{index}")
    return result


def _probe_kind(probe: Any) -> str | None:
    if not isinstance(probe, Mapping):
        return None
    present = [k for k in _PROBE_KINDS if k in probe]
    return present[0] if len(present) == 1 else None


# --- entry points ------------------------------------------------------------------------------


def validate(raw: Any) -> list[Problem]:
    """Every problem of a raw document (decoded YAML/JSON); empty when it is valid."""
    return _validate(raw)[0]


def _validate(raw: Any) -> tuple[list[Problem], dict[str, Any] | None]:
    """The problems of ``raw`` and, when its kind is known, ``raw`` with defaults."""
    if not isinstance(raw, Mapping):
        return [Problem("", f"a document must be an object, got {type(raw).__name__}")], None
    problems: list[Problem] = []
    document: dict[str, Any] | None = None
    kind = _check_header(raw, problems)
    meta = raw.get("metadata")
    _check_metadata(meta, problems)
    if kind is not None:
        if isinstance(meta, Mapping):
            body_problems, body = _checked_body(kind, {**raw, "metadata": {}})
            document = {**copy.deepcopy(body), "metadata": copy.deepcopy(dict(meta))}
        else:
            body_problems, document = _check_body(kind, raw)
        problems.extend(body_problems)
    return list(dict.fromkeys(problems)), document


_BODIES: OrderedDict[tuple[Kind, str], tuple[object, tuple[Problem, ...], dict[str, Any]]] = (
    OrderedDict())
_BODIES_MAX = 256
_BODY_MEMO_CHARS = 16 * 1024
"""Bodies larger than this are checked every time: remembering them would let a churn of
large documents hold hundreds of megabytes, and they are not the thousands of identical
ActiveStrategies the memo is for."""
_bodies_lock = threading.Lock()


def _checked_body(kind: Kind, raw: Mapping[str, Any]
                  ) -> tuple[tuple[Problem, ...], dict[str, Any]]:
    """:func:`_check_body`, remembered by content (least recently used first out). A
    body's problems and defaults do not depend on the object's metadata (the header is
    checked on its own; the schema says only "an object"), and thousands of
    ActiveStrategies differ by name alone: a controller's first list validated each
    one's identical body again."""
    try:
        key = (kind, json.dumps(raw, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):  # not JSON data (a caller's own objects): no memo
        return _check_body(kind, raw)
    if len(key[1]) > _BODY_MEMO_CHARS:
        return _check_body(kind, raw)
    schema = validator(kind)  # a hit is only good for the CRDs it was checked against
    with _bodies_lock:
        hit = _BODIES.get(key)
        if hit is not None:
            _BODIES.move_to_end(key)
    if hit is None or hit[0] is not schema:
        hit = (schema, *_check_body(kind, raw))
        with _bodies_lock:
            _BODIES[key] = hit
            while len(_BODIES) > _BODIES_MAX:
                _BODIES.popitem(last=False)
    return hit[1], hit[2]


def _check_body(kind: Kind, raw: Mapping[str, Any]
                ) -> tuple[tuple[Problem, ...], dict[str, Any]]:
    """Schema and semantic problems outside the header, and ``raw`` with defaults."""
    problems: list[Problem] = []
    document = apply_defaults(kind, raw)
    header = ("apiVersion", "kind", "metadata")
    problems.extend(p for p in schema_problems(kind, document) if not p.path.startswith(header))
    spec = document.get("spec")
    if isinstance(spec, Mapping):
        checks = _SEMANTIC.get(kind.kind)
        if checks is not None:
            checks(spec, _Sink(problems, ("spec",)))
    return tuple(problems), document


def check(raw: Any) -> dict[str, Any]:
    """Validate ``raw``; return a copy with the schema defaults and the default namespace
    applied, or raise :class:`InvalidDocument` with every problem."""
    problems, document = _validate(raw)
    if problems or document is None:
        raise InvalidDocument.of(raw, problems)
    document["metadata"].setdefault("namespace", DEFAULT_NAMESPACE)
    return document


class _Sink:
    """Collects problems relative to a base path, so checks need not build full paths."""

    def __init__(self, problems: list[Problem], base: tuple[PathPart, ...]) -> None:
        self.problems = problems
        self.base = base

    def at(self, *parts: PathPart) -> _Sink:
        return _Sink(self.problems, (*self.base, *parts))

    def add(self, message: str, *parts: PathPart) -> None:
        self.problems.append(Problem(format_path((*self.base, *parts)), message))


# --- header and metadata -----------------------------------------------------------------------


def _check_header(raw: Mapping[str, Any], problems: list[Problem]) -> Kind | None:
    api_version = raw.get("apiVersion")
    if api_version is None:
        problems.append(Problem("apiVersion", "required"))
    elif api_version != API_VERSION:
        problems.append(Problem("apiVersion",
                                f"must be {API_VERSION} (got {excerpt(api_version)})"))
    kind = raw.get("kind")
    if kind is None:
        problems.append(Problem("kind", "required"))
        return None
    if not isinstance(kind, str):
        problems.append(Problem("kind", f"must be a string, got {excerpt(kind)}"))
        return None
    try:
        return by_kind(kind)
    except UnknownKind as exc:
        problems.append(Problem("kind", str(exc)))
        return None


def _check_metadata(meta: Any, problems: list[Problem]) -> None:
    sink = _Sink(problems, ("metadata",))
    if meta is None:
        sink.add("required")
        return
    if not isinstance(meta, Mapping):
        sink.add(f"must be an object, got {excerpt(meta)}")
        return
    for key in meta:
        if key not in _METADATA_FIELDS:
            sink.add(f"unknown field; known fields: {', '.join(_METADATA_FIELDS[:4])}", str(key))
    name = meta.get("name")
    if name is None:
        sink.add("required", "name")
    else:
        _check_name(name, sink.at("name"))
    if "namespace" in meta:
        _check_name(meta["namespace"], sink.at("namespace"))
    labels = meta.get("labels")
    if labels is not None:
        _check_string_map(labels, sink.at("labels"), value_re=_LABEL_VALUE)
    annotations = meta.get("annotations")
    if annotations is not None:
        _check_string_map(annotations, sink.at("annotations"), value_re=None)


def _check_name(name: Any, sink: _Sink) -> None:
    if not isinstance(name, str):
        sink.add(f"must be a string, got {excerpt(name)}")
    elif not is_dns1123_label(name):
        detail = " of at most 63 characters" if len(name) > 63 else ""
        sink.add(f"{PATTERN_HINTS[DNS1123_LABEL_PATTERN]}{detail} (got {excerpt(name)})")


def _check_string_map(value: Any, sink: _Sink, value_re: re.Pattern[str] | None) -> None:
    """Labels/annotations: Kubernetes qualified-name keys, string values."""
    if not isinstance(value, Mapping):
        sink.add(f"must be an object of strings, got {excerpt(value)}")
        return
    for key, item in value.items():
        key_text = str(key)
        prefix, _, name = key_text.rpartition("/")
        if (
            not name
            or len(name) > 63
            or not _QUALIFIED_NAME.match(name)
            or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
        ):
            sink.add(
                "invalid key: must be [prefix/]name, name being letters, digits, '-', "
                "'_' and '.' (at most 63)",
                key_text,
            )
        if not isinstance(item, str):
            sink.add(f"must be a string, got {excerpt(item)}", key_text)
        elif value_re is not None and (len(item) > 63 or not value_re.match(item)):
            sink.add(
                "invalid label value: at most 63 letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit",
                key_text,
            )


# --- Environment -----------------------------------------------------------------------------


def _check_environment(spec: Mapping[str, Any], sink: _Sink) -> None:
    locator = spec.get("locator")
    if spec.get("driver") == "fogsim" and isinstance(locator, str) and locator:
        url = urlparse(locator)
        if url.scheme not in ("http", "https") or not url.netloc:
            sink.add(
                f"the fogsim driver needs an http:// or https:// URL (got {excerpt(locator)})",
                "locator",
            )
    _check_positive_duration(spec, "timeout", sink)
    node_labels = spec.get("nodeLabels")
    if isinstance(node_labels, Mapping):
        for node, labels in node_labels.items():
            if isinstance(labels, Mapping):
                _check_string_map(labels, sink.at("nodeLabels", str(node)), value_re=_LABEL_VALUE)


def _check_positive_duration(spec: Mapping[str, Any], key: str, sink: _Sink) -> float | None:
    """Seconds of a well-formed duration field; reports zero durations; None if unusable."""
    seconds = _check_duration_bound(spec, key, sink)
    if seconds is not None and seconds <= 0:
        sink.add(f"must be longer than zero (got {excerpt(spec[key])})", key)
        return None
    return seconds


def _check_duration_bound(spec: Mapping[str, Any], key: str, sink: _Sink) -> float | None:
    """Seconds of a well-formed duration field within the longest one a timer takes."""
    value = spec.get(key)
    if not isinstance(value, str) or not _DURATION.match(value):
        return None  # missing, or already reported by the schema
    seconds = parse_duration(value)
    if seconds > LIMITS.max_duration_seconds:
        sink.add(f"must be at most {LIMITS.max_duration_seconds / 3600:g}h (got "
                 f"{excerpt(value)}; limit max_duration_seconds)", key)
        return None
    return seconds


# --- Architecture ----------------------------------------------------------------------------


def _check_architecture(spec: Mapping[str, Any], sink: _Sink) -> None:
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

    health = spec.get("health")
    if isinstance(health, Mapping):
        _check_health(health, by_name, plugin is not None and not has_entities, sink.at("health"))


def _check_parameters(parameters: Mapping[str, Any], sink: _Sink) -> None:
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


def _check_entity_names(entities: list[Any], sink: _Sink) -> dict[str, Mapping[str, Any]]:
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
    entities: list[Any], by_name: Mapping[str, Mapping[str, Any]], parameters: set[str], sink: _Sink
) -> None:
    """References, dependencies, phases, anti-affinity, FDU shape; then cycles."""
    graph: dict[str, list[str]] = {name: [] for name in by_name}
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping):
            continue
        here = sink.at(index)
        name = entity.get("name") if isinstance(entity.get("name"), str) else None
        phase = entity.get("phase", "deploy")
        edges: list[tuple[str, _Sink]] = []

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
                    edges += _check_template(
                        value, name, by_name, parameters, here.at("env", str(key))
                    )
        for parts, message in entity_rules.entity_findings(entity):
            here.add(message, *parts)
        fdu = entity.get("fdu")
        if isinstance(fdu, Mapping):
            _check_fdu(fdu, here.at("fdu"))
            for path, text in templates.iter_strings(fdu):
                edges += _check_template(text, name, by_name, parameters, here.at("fdu", *path))

        depends_on = entity.get("dependsOn")
        if isinstance(depends_on, list):
            for position, target in enumerate(depends_on):
                if not isinstance(target, str):
                    continue
                if target == name:
                    here.add("an entity cannot depend on itself", "dependsOn", position)
                elif target not in by_name:
                    here.add(f"unknown entity {excerpt(target)}{_known(by_name)}", "dependsOn",
                             position)
                else:
                    edges.append((target, here.at("dependsOn", position)))

        requirements = entity.get("requirements")
        anti = requirements.get("antiAffinity") if isinstance(requirements, Mapping) else None
        if isinstance(anti, list):
            for position, target in enumerate(anti):
                if isinstance(target, str) and target not in by_name:
                    here.add(
                        f"unknown entity {excerpt(target)}{_known(by_name)}",
                        "requirements",
                        "antiAffinity",
                        position,
                    )

        for target, where in edges:
            if phase == "deploy" and by_name[target].get("phase", "deploy") == "serve":
                where.add(
                    f"deploy-phase entity {excerpt(name)} cannot depend on serve-phase entity "
                    f"{excerpt(target)} (serve-phase entities start after deployment)"
                )
            if name is not None and by_name.get(name) is entity and target not in graph[name]:
                graph[name].append(target)

    for cycle in _cycles(graph):
        sink.add("dependency cycle " + " -> ".join(cycle))


def _check_fdu(fdu: Mapping[str, Any], sink: _Sink) -> None:
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


def _check_template(
    text: str,
    owner: str | None,
    by_name: Mapping[str, Mapping[str, Any]],
    parameters: set[str],
    sink: _Sink,
) -> list[tuple[str, _Sink]]:
    """Report bad references in one string; return the entities it depends on."""
    if not templates.has_references(text) and "}}" not in text:
        return []
    try:
        refs = templates.references(text)
    except templates.TemplateError as exc:
        sink.add(str(exc))
        return []
    edges: list[tuple[str, _Sink]] = []
    for ref in refs:
        problem = _reference_problem(ref, owner, by_name, parameters)
        if problem:
            sink.add(f"{ref}: {problem}")
        elif ref.namespace == "entities" and ref.path[0] != owner:
            edges.append((ref.path[0], sink))
    return edges


def _reference_problem(
    ref: templates.Reference,
    owner: str | None,
    by_name: Mapping[str, Mapping[str, Any]],
    parameters: set[str],
) -> str | None:
    ns, path = ref.namespace, ref.path
    if ns == "entities":
        attributes = "|".join(templates.ENTITY_ATTRIBUTES)
        if len(path) != 2:
            return f"expected {{{{ entities.NAME.{attributes} }}}}"
        target, attribute = path
        if target not in by_name:
            return f"unknown entity {excerpt(target)}{_known(by_name)}"
        if attribute not in templates.ENTITY_ATTRIBUTES:
            return (f"unknown attribute {excerpt(attribute)}; use one of "
                    f"{attributes.replace('|', ', ')}")
        if target == owner and attribute not in templates.SELF_ATTRIBUTES:
            allowed = ", ".join(sorted(templates.SELF_ATTRIBUTES))
            return f"an entity can read only its own {allowed} (its ids do not exist yet)"
        return None
    if ns == "params":
        if len(path) != 1:
            return "expected {{ params.NAME }}"
        if path[0] not in parameters:
            declared = f"; declared: {', '.join(sorted(parameters))}" if parameters else ""
            return f"parameter {excerpt(path[0])} is not declared in spec.parameters{declared}"
        return None
    if ns == "data":
        if len(path) != 1 or path[0] not in templates.DATA_FIELDS:
            return f"expected {{{{ data.{'|'.join(templates.DATA_FIELDS)} }}}}"
        return None
    if ns == "environment":
        if len(path) < 2 or path[0] not in templates.ENVIRONMENT_SECTIONS:
            return "expected {{ environment.info.KEY }} or {{ environment.directives.KEY }}"
        return None
    if ns == "association":
        return None if path else "expected {{ association.KEY }}"
    return f"unknown namespace {excerpt(ns)}; use one of {', '.join(templates.NAMESPACES)}"


def _known(names: Iterable[str]) -> str:
    listed = sorted(names)
    return f"; entities: {', '.join(listed)}" if listed else ""


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle found by a depth-first search, as ``[a, b, a]``.

    One cycle per back edge is enough to show the user what to break; cycles are
    rotated to start at their smallest name so the message is stable.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:
        colour[node] = grey
        stack.append(node)
        for target in graph.get(node, []):
            if colour.get(target) == grey:
                loop = stack[stack.index(target) :]
                start = loop.index(min(loop))
                loop = loop[start:] + loop[:start]
                if tuple(loop) not in seen:
                    seen.add(tuple(loop))
                    found.append([*loop, loop[0]])
            elif colour.get(target) == white:
                visit(target)
        stack.pop()
        colour[node] = black

    for node in sorted(graph):
        if colour[node] == white:
            visit(node)
    return found


def _check_health(
    health: Mapping[str, Any], entities: Mapping[str, Mapping[str, Any]], plugin: bool, sink: _Sink
) -> None:
    interval = _check_positive_duration(health, "interval", sink)
    timeout = _check_positive_duration(health, "timeout", sink)
    if interval is not None and timeout is not None and timeout > interval:
        sink.add(f"must not be longer than interval ({health['interval']})", "timeout")
    probes = health.get("probes")
    if not isinstance(probes, list):
        return
    explicit: dict[str, int] = {}
    for index, probe in enumerate(probes):
        if not isinstance(probe, Mapping):
            continue
        here = sink.at("probes", index)
        name = probe.get("name")
        if isinstance(name, str):
            if name in explicit:
                here.add(f"duplicate probe name {excerpt(name)} (also probes[{explicit[name]}])",
                         "name")
            explicit.setdefault(name, index)
        present = [k for k in _PROBE_KINDS if k in probe]
        if len(present) != 1:
            got = ", ".join(present) if present else "none"
            here.add(f"set exactly one of {', '.join(_PROBE_KINDS)} (got {got})")
        qos = probe.get("qos")
        prometheus = isinstance(qos, Mapping) and "prometheus" in qos
        entity = probe.get("entity")
        if entity is None:
            if present and not (present == ["qos"] and prometheus):
                here.add("required (only a Prometheus qos probe may omit it)", "entity")
        elif isinstance(entity, str) and not plugin and entity not in entities:
            here.add(f"unknown entity {excerpt(entity)}{_known(entities)}", "entity")
        if isinstance(qos, Mapping):
            _check_qos(qos, here.at("qos"))


def _check_qos(qos: Mapping[str, Any], sink: _Sink) -> None:
    has_http, has_field, has_prom = "http" in qos, "field" in qos, "prometheus" in qos
    if has_prom and (has_http or has_field):
        sink.add("set either http with field or prometheus, not both")
    elif not has_prom and not (has_http and has_field):
        if has_http:
            sink.add("required with http (the JSON field holding the value)", "field")
        elif has_field:
            sink.add("required with field (where to GET the JSON from)", "http")
        else:
            sink.add("set http with field (a JSON value) or prometheus (a PromQL query)")
    low: Any = qos.get("min")
    high: Any = qos.get("max")
    if low is None and high is None:
        sink.add("set min, max or both (the acceptable range of the value)")
    elif _number(low) and _number(high) and low > high:
        sink.add(f"must not be greater than max ({high})", "min")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- Strategy ----------------------------------------------------------------------------------


def _check_strategy(spec: Mapping[str, Any], sink: _Sink) -> None:
    main = spec.get("main")
    seen: dict[str, str] = {}
    if isinstance(main, Mapping) and isinstance(main.get("architecture"), str):
        seen[main["architecture"]] = "the main architecture"
    replacements = spec.get("replacements")
    if isinstance(replacements, list):
        for index, ref in enumerate(replacements):
            if not isinstance(ref, Mapping) or not isinstance(ref.get("architecture"), str):
                continue
            name = ref["architecture"]
            if name in seen:
                sink.add(f"{excerpt(name)} repeats {seen[name]}", "replacements", index,
                         "architecture")
            else:
                seen[name] = f"replacements[{index}]"
    policy = spec.get("policy")
    if isinstance(policy, Mapping):
        _check_positive_duration(policy, "deployTimeout", sink.at("policy"))
        failback = policy.get("failback")
        if isinstance(failback, Mapping):
            _check_duration_bound(failback, "stabilizationWindow", sink.at("policy", "failback"))


_SEMANTIC: Mapping[str, Callable[[Mapping[str, Any], _Sink], None]] = {
    ENVIRONMENT.kind: _check_environment,
    ARCHITECTURE.kind: _check_architecture,
    STRATEGY.kind: _check_strategy,
}
