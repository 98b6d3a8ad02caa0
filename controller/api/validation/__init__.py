"""Document validation: the CRD schema plus the rules a schema cannot express.

:func:`validate` collects every problem of a document at once (a user fixing a file
should not have to iterate error by error): the header (``apiVersion``, ``kind``,
``metadata``, which Kubernetes validates outside the CRD schema), the schema of the kind
(``controller.api.schema``), then semantic rules — names, durations, entity dependency
cycles, template references, probe shapes, duplicate replacements. Semantic checks read
the document defensively: they run even when the schema failed and skip values whose
type is already reported.

One module per concern: ``header`` (apiVersion, kind, metadata), ``environment``,
``architecture`` (with ``references`` for templates and cycles, ``health`` for probes),
``strategy``; ``common`` holds the problem sink and the checks they share.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api.kinds import (
    ARCHITECTURE,
    DEFAULT_NAMESPACE,
    ENVIRONMENT,
    STRATEGY,
    Kind,
)
from controller.api.limits import excerpt
from controller.api.memo import BoundedLru
from controller.api.schema import Problem, apply_defaults, schema_problems, validator
from controller.api.validation.architecture import check_architecture
from controller.api.validation.common import (
    Sink,
    is_dns1123_label,
    parse_duration,
    probe_names,
)
from controller.api.validation.environment import check_environment
from controller.api.validation.header import check_header, check_metadata
from controller.api.validation.strategy import check_strategy

__all__ = [
    "CheckedBody",
    "InvalidDocument",
    "Problem",
    "check",
    "checked_body",
    "is_dns1123_label",
    "parse_duration",
    "probe_names",
    "validate",
]


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


# --- entry points ------------------------------------------------------------------------------


def validate(raw: Any) -> list[Problem]:
    """Every problem of a raw document (decoded YAML/JSON); empty when it is valid."""
    return _validate(raw)[0]


def _validate(raw: Any) -> tuple[list[Problem], dict[str, Any] | None]:
    """The problems of ``raw`` and, when its kind is known, ``raw`` with defaults."""
    problems, body = _checked(raw)
    if body is None:
        return problems, None
    meta = raw.get("metadata")
    if not isinstance(meta, Mapping):
        return problems, body.document
    return problems, {**copy.deepcopy(body.document), "metadata": copy.deepcopy(dict(meta))}


def _checked(raw: Any) -> tuple[list[Problem], CheckedBody | None]:
    """Every problem of ``raw``, and its body's check when its kind is known."""
    if not isinstance(raw, Mapping):
        return [Problem("", f"a document must be an object, got {type(raw).__name__}")], None
    problems: list[Problem] = []
    body: CheckedBody | None = None
    kind = check_header(raw, problems)
    meta = raw.get("metadata")
    check_metadata(meta, problems)
    if kind is not None:
        if isinstance(meta, Mapping):
            body = _checked_body(kind, {**raw, "metadata": {}})
        else:
            body = CheckedBody(validator(kind), *_check_body(kind, raw))
        problems.extend(body.problems)
    return list(dict.fromkeys(problems)), body


@dataclass(slots=True)
class CheckedBody:
    """What checking a document's body (all of it but ``metadata``) found."""

    schema: object
    """The CRD validator it was checked against: a memo hit is good for that one only."""
    problems: tuple[Problem, ...]
    document: dict[str, Any]
    """The body with the schema's defaults; shared by every document with this body, so
    never to be changed (:func:`check` hands out a copy)."""
    built: Any = None
    """What a caller built from ``document`` (``parse_document``: the typed spec), kept
    with it: a body seen again is neither checked nor built again."""


_BODIES: BoundedLru[tuple[Kind, str], CheckedBody] = BoundedLru(
    max_entries=512, max_size=2 * 1024 * 1024, max_entry_size=16 * 1024)
"""Checked bodies by kind and canonical JSON, least recently used out first; sizes are
the JSON's length. Bodies larger than ``max_entry_size`` are checked every time: they are
not the thousands of identical ActiveStrategies the memo is for, and a churn of large
documents must not hold tens of megabytes."""


def _checked_body(kind: Kind, raw: Mapping[str, Any]) -> CheckedBody:
    """:func:`_check_body`, remembered by content. A body's problems and defaults do not
    depend on the object's metadata (the header is checked on its own; the schema says
    only "an object"), so ``metadata`` (names, labels, annotations and the read-only
    fields of a document that went through Kubernetes) is left out of the key: thousands
    of ActiveStrategies differing by name alone are checked once, and a document put
    back with a body seen before (a pause, then a resume) is not checked again. Any
    difference in the body itself, validated or not, is a different key."""
    schema = validator(kind)
    try:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # not JSON data (a caller's own objects): no memo
        return CheckedBody(schema, *_check_body(kind, raw))
    key = (kind, text)
    hit = _BODIES.get(key)
    if hit is not None and hit.schema is schema:
        return hit
    body = CheckedBody(schema, *_check_body(kind, raw))
    _BODIES.put(key, body, len(text))
    return body


def checked_body(raw: Any) -> CheckedBody:
    """The check of a valid document's body (header and metadata checked each time);
    raises :class:`InvalidDocument` with every problem."""
    problems, body = _checked(raw)
    if problems or body is None:
        raise InvalidDocument.of(raw, problems)
    return body


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
            checks(spec, Sink(problems, ("spec",)))
    return tuple(problems), document


def check(raw: Any) -> dict[str, Any]:
    """Validate ``raw``; return a copy with the schema defaults and the default namespace
    applied, or raise :class:`InvalidDocument` with every problem."""
    problems, document = _validate(raw)
    if problems or document is None:
        raise InvalidDocument.of(raw, problems)
    document["metadata"].setdefault("namespace", DEFAULT_NAMESPACE)
    return document


_SEMANTIC: Mapping[str, Callable[[Mapping[str, Any], Sink], None]] = {
    ENVIRONMENT.kind: check_environment,
    ARCHITECTURE.kind: check_architecture,
    STRATEGY.kind: check_strategy,
}
