"""Document schemas, loaded from the CustomResourceDefinitions in ``crds/``.

The CRDs are the single source of the schemas (docs/design.md §1): nothing here restates a
field. Two things are added when a CRD is loaded, because a Kubernetes structural schema
cannot say them but a user deserves them:

* closed world — every object schema with ``properties`` and without
  ``x-kubernetes-preserve-unknown-fields: true`` rejects unknown fields, so a typo such as
  ``replica: 3`` is an error instead of being silently pruned as the API server would;
* defaults — ``default`` values are applied (``apply_defaults``) the way the API server
  applies them: a missing property gets its default, then defaulting recurses into it.

Schema errors are rendered as :class:`Problem` objects with a kubectl-like path
(``spec.replacements[1].architecture: required``).
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from controller.api.kinds import API_GROUP, KINDS, Kind, by_kind
from controller.api.limits import excerpt

#: Environment variable naming a directory of CRDs to use instead of the repository's.
CRDS_DIR_ENV = "FOGSTRAT_CRDS_DIR"
VERSION = "v1alpha1"

# Patterns used by the CRDs. They are named here only to give their errors a readable
# message; tests/unit/test_schema.py checks every pattern in crds/ has a hint.
DNS1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DATA_ID_PATTERN = "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
PATTERN_HINTS: Mapping[str, str] = {
    DNS1123_LABEL_PATTERN: "must be a DNS-1123 label: lower-case letters, digits and '-', "
    "starting and ending with a letter or digit",
    DURATION_PATTERN: "must be a duration such as 500ms, 5s, 2m or 1h30m",
    DATA_ID_PATTERN: "must be letters, digits, '.', '_' and '-', starting and ending with a "
    "letter or digit",
    "^/": "must be an absolute path starting with '/'",
    "^https?://": "must be an http:// or https:// URL",
    "^[a-z][a-z0-9+.-]*$": "must be a URL scheme such as http, https or tcp",
    r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$": "must be a dotted field path such as metrics.accuracy",
}

_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

PathPart = str | int


class SchemaError(RuntimeError):
    """The CRDs cannot be found or are broken: an installation problem, not bad input."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a document: where (``spec.entities[0].name``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def format_path(parts: Iterable[PathPart]) -> str:
    """Render a path the way kubectl does: ``spec.entities[0].env["A.B"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_quote(part)}]"
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- locating and loading CRDs -----------------------------------------------------------


def crds_dir() -> Path:
    """Directory holding the CRDs: ``$FOGSTRAT_CRDS_DIR``, the repository's ``crds/``, or
    ``<prefix>/share/fogstrat/crds`` for an installed distribution."""
    return _crds_dir(os.environ.get(CRDS_DIR_ENV))


@functools.lru_cache(maxsize=8)
def _crds_dir(override: str | None) -> Path:
    """Found once per setting: every document is parsed once after a restart, thousands
    of them at scale, and resolving the directory each time would rival the parse."""
    if override:
        path = Path(override)
        if not path.is_dir():
            raise SchemaError(f"{CRDS_DIR_ENV}={override} is not a directory")
        return path
    candidates = [
        Path(__file__).resolve().parents[2] / "crds",
        Path(sys.prefix) / "share" / "fogstrat" / "crds",
    ]
    for candidate in candidates:
        if (candidate / KINDS[0].crd_file).is_file():
            return candidate
    raise SchemaError(
        "cannot find the fogstrat CRDs (looked in "
        + ", ".join(str(c) for c in candidates)
        + f"); set {CRDS_DIR_ENV}"
    )


_CRD_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: the CRDs are a few thousand lines, read on
every start, and the pure-Python loader is slow at that size."""


@functools.cache
def _load_crd(crd_file: str, directory: str) -> Mapping[str, Any]:
    path = Path(directory) / crd_file
    try:
        with path.open(encoding="utf-8") as handle:
            crd = yaml.load(handle, Loader=_CRD_LOADER)
    except OSError as exc:
        raise SchemaError(f"cannot read CRD {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SchemaError(f"CRD {path} is not valid YAML: {exc}") from exc
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise SchemaError(f"{path} is not a CustomResourceDefinition")
    return crd


def load_crd(kind: Kind | str) -> Mapping[str, Any]:
    """The CustomResourceDefinition of ``kind`` as loaded from YAML (do not modify)."""
    kind = by_kind(kind) if isinstance(kind, str) else kind
    return _load_crd(kind.crd_file, str(crds_dir()))


def openapi_schema(kind: Kind | str) -> Mapping[str, Any]:
    """The ``openAPIV3Schema`` of the served version of ``kind`` (as written in the CRD)."""
    kind = by_kind(kind) if isinstance(kind, str) else kind
    crd = load_crd(kind)
    spec = crd.get("spec", {})
    if spec.get("group") != API_GROUP or spec.get("names", {}).get("kind") != kind.kind:
        raise SchemaError(f"{kind.crd_file} does not define {kind.kind}.{API_GROUP}")
    for version in spec.get("versions", []):
        if version.get("name") == VERSION:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                return schema
    raise SchemaError(f"{kind.crd_file} has no openAPIV3Schema for version {VERSION}")


def closed_world(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in which objects with ``properties`` reject unknown fields.

    Objects marked ``x-kubernetes-preserve-unknown-fields: true`` stay open (free-form
    maps such as ``fdu`` or ``info``), as do objects with an explicit
    ``additionalProperties`` (string maps such as ``env``).
    """
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: closed_world(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = closed_world(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [closed_world(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if "properties" in out and not out.get(_PRESERVE) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(crd_file: str, directory: str) -> jsonschema.protocols.Validator:
    kind = next(k for k in KINDS if k.crd_file == crd_file)
    schema = closed_world(openapi_schema(kind))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"{crd_file}: invalid openAPIV3Schema: {exc.message}") from exc
    return cls(schema)


def validator(kind: Kind | str) -> jsonschema.protocols.Validator:
    """The (cached) closed-world JSON-schema validator of ``kind``."""
    kind = by_kind(kind) if isinstance(kind, str) else kind
    return _validator(kind.crd_file, str(crds_dir()))


def clear_cache() -> None:
    """Forget loaded CRDs and validators (tests that switch ``$FOGSTRAT_CRDS_DIR``)."""
    _load_crd.cache_clear()
    _validator.cache_clear()
    _crds_dir.cache_clear()


# --- defaults ------------------------------------------------------------------------------


def apply_defaults(kind: Kind | str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``document`` with the CRD's defaults filled in.

    Values of the wrong type are left alone (validation reports them), so this is safe
    to call on any input.
    """
    result = copy.deepcopy(dict(document))
    _default(openapi_schema(kind), result)
    return result


def _default(schema: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if name not in value and isinstance(sub, Mapping) and "default" in sub:
                    value[name] = copy.deepcopy(sub["default"])
                if name in value and isinstance(sub, Mapping):
                    _default(sub, value[name])
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for name, item in value.items():
                if not (isinstance(properties, Mapping) and name in properties):
                    _default(additional, item)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                _default(items, item)


# --- validation ----------------------------------------------------------------------------


def schema_problems(kind: Kind | str, document: Mapping[str, Any]) -> list[Problem]:
    """Every schema violation of ``document`` (defaults should already be applied)."""
    problems: list[Problem] = []
    for error in validator(kind).iter_errors(document):
        problems.extend(_render(error))
    return sorted(set(problems), key=lambda p: _sort_key(p.path))


def _sort_key(path: str) -> tuple[Any, ...]:
    # Numeric indices sort numerically: entities[10] after entities[2].
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path))


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _render(error: jsonschema.ValidationError) -> list[Problem]:
    path = list(error.absolute_path)
    here = format_path(path)
    keyword = error.validator
    value: Any = error.validator_value
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}

    if keyword == "required" and isinstance(instance, Mapping):
        return [
            Problem(format_path([*path, name]), "required")
            for name in value
            if name not in instance
        ]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        return _unknown_fields(instance, list(schema.get("properties", {})), path)
    if keyword == "type":
        expected = " or ".join(value) if isinstance(value, list) else str(value)
        hint = PATTERN_HINTS.get(str(schema.get("pattern")))
        got = f"{json_type(instance)} {_short(instance)}"
        if hint:
            return [Problem(here, f"{hint} (got {got})")]
        article = "an" if expected[:1] in "aeiou" else "a"
        return [Problem(here, f"must be {article} {expected}, got {got}")]
    if keyword == "enum":
        options = ", ".join(str(v) for v in value)
        return [Problem(here, f"must be one of {options} (got {_short(instance)})")]
    if keyword == "pattern":
        hint = PATTERN_HINTS.get(str(value), f"must match {value}")
        return [Problem(here, f"{hint} (got {_short(instance)})")]
    if keyword == "minimum":
        return [Problem(here, f"must be at least {value} (got {_short(instance)})")]
    if keyword == "maximum":
        return [Problem(here, f"must be at most {value} (got {_short(instance)})")]
    if keyword == "minLength":
        if value == 1:
            return [Problem(here, "must not be empty")]
        return [Problem(here, f"must be at least {value} characters long")]
    if keyword == "maxLength":
        got = f" (got {len(instance)})" if isinstance(instance, str) else ""
        return [Problem(here, f"must be at most {value} characters long{got}")]
    if keyword == "minItems":
        return [Problem(here, f"must have at least {value} item(s)")]
    if keyword == "maxItems" and isinstance(instance, Sequence):
        return [Problem(here, f"must have at most {value} items (got {len(instance)})")]
    if keyword == "maxProperties" and isinstance(instance, Mapping):
        return [Problem(here, f"must have at most {value} entries (got {len(instance)})")]
    # jsonschema's own messages quote the instance: never echo more than an excerpt of it.
    return [Problem(here, excerpt(error.message, 200))]


def _unknown_fields(instance: Mapping[str, Any], known: list[str], path: list[Any]
                    ) -> list[Problem]:
    """One problem per field the schema does not know, with the likely intended name."""
    out = []
    for name in instance:
        if name in known:
            continue
        message = "unknown field"
        close = difflib.get_close_matches(str(name), known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            message += f"; known fields: {', '.join(known)}"
        out.append(Problem(format_path([*path, str(name)]), message))
    return out
