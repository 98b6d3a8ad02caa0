"""The header every kind shares: ``apiVersion``, ``kind`` and ``metadata``.

Kubernetes validates these outside the CRD schema, so they are checked here on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.kinds import API_VERSION, Kind, UnknownKind, by_kind
from controller.api.limits import excerpt
from controller.api.schema import Problem
from controller.api.validation.common import LABEL_VALUE, Sink, check_name, check_string_map

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


def check_header(raw: Mapping[str, Any], problems: list[Problem]) -> Kind | None:
    """Report a wrong ``apiVersion`` or ``kind``; the kind when it is a known one."""
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


def check_metadata(meta: Any, problems: list[Problem]) -> None:
    sink = Sink(problems, ("metadata",))
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
        check_name(name, sink.at("name"))
    if "namespace" in meta:
        check_name(meta["namespace"], sink.at("namespace"))
    labels = meta.get("labels")
    if labels is not None:
        check_string_map(labels, sink.at("labels"), value_re=LABEL_VALUE)
    annotations = meta.get("annotations")
    if annotations is not None:
        check_string_map(annotations, sink.at("annotations"), value_re=None)
