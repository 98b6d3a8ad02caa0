"""Reading and writing documents as YAML or JSON text.

Users write YAML (often several documents per file), tools write JSON, and ``etcdctl
put`` stores whatever bytes it is given; every path must yield the same plain dicts.
So the YAML loader here is JSON-compatible: timestamps stay strings, scalar keys are
kept as written (``on:`` is the key "on", not True), and duplicate keys are errors
(PyYAML would silently keep the last one — a classic source of "my change had no
effect"). Errors are one line, ``source:line: what``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DocumentSyntaxError",
    "LocatedDocument",
    "decode_value",
    "dump_json",
    "dump_yaml",
    "dump_yaml_documents",
    "load_documents",
    "load_documents_located",
    "load_path",
    "load_path_located",
]

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


class DocumentSyntaxError(ValueError):
    """Text that is not a well-formed document: ``source:line: message`` in one line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class LocatedDocument:
    """A decoded document and where it starts (for messages such as ``a.yaml:12: ...``)."""

    source: str
    line: int
    document: dict[str, Any]

    @property
    def origin(self) -> str:
        return f"{self.source}:{self.line}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that produces only JSON values and rejects duplicate keys."""


# Timestamps would become datetime objects, which JSON cannot represent: keep them strings.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str) and isinstance(key_node, yaml.ScalarNode):
            # YAML 1.1 would make `on:` True and `80:` an int; JSON keys are strings, and
            # the text as written is what the user meant.
            key = key_node.value
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be strings", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_binary(loader: _Loader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "binary values (!!binary) are not supported", node.start_mark
    )


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:binary", _construct_binary)


# --- loading -------------------------------------------------------------------------------


def load_documents(text: str, source: str = STDIN) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML (multi-document) or JSON text, in order.

    A JSON array, or a ``kind: List`` with ``items`` (what ``kubectl get -o yaml``
    prints), contributes its elements. Raises :class:`DocumentSyntaxError`.
    """
    return [located.document for located in load_documents_located(text, source)]


def load_documents_located(text: str, source: str = STDIN) -> list[LocatedDocument]:
    """Like :func:`load_documents`, keeping the line where each document starts."""
    if text.startswith("\ufeff"):
        text = text[1:]
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        values = [(_json_line(text), _load_json(text, source))]
    else:
        values = _load_yaml(text, source)
    out: list[LocatedDocument] = []
    for line, value in values:
        for item in _expand(value, source, line):
            out.append(LocatedDocument(source, line, item))
    return out


def _json_line(text: str) -> int:
    """Line of the first non-blank character (where a JSON document starts)."""
    return text[: len(text) - len(text.lstrip())].count("\n") + 1


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentSyntaxError(source, exc.lineno, exc.msg) from None


def _load_yaml(text: str, source: str) -> list[tuple[int, Any]]:
    loader = _Loader(text)
    values: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            value = loader.construct_document(node)
            values.append((node.start_mark.line + 1, value))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        raise DocumentSyntaxError(source, mark.line + 1 if mark else None, message) from None
    except yaml.YAMLError as exc:
        raise DocumentSyntaxError(source, None, str(exc).replace("\n", " ")) from None
    finally:
        loader.dispose()
    return values


def _expand(value: Any, source: str, line: int) -> list[dict[str, Any]]:
    if value is None:
        return []  # an empty document ("---" followed by nothing, comments only)
    if isinstance(value, list):
        return [d for item in value for d in _expand(item, source, line)]
    if not isinstance(value, dict):
        raise DocumentSyntaxError(
            source, line, f"a document must be a mapping, got {type(value).__name__}"
        )
    if value.get("kind") == "List" and isinstance(value.get("items"), list) and "spec" not in value:
        return [d for item in value["items"] for d in _expand(item, source, line)]
    return [value]


def load_path(path: str | Path) -> list[dict[str, Any]]:
    """Documents of a file, of a directory (``*.yaml``, ``*.yml``, ``*.json``, sorted, not
    recursive) or of standard input (``-``)."""
    return [located.document for located in load_path_located(path)]


def load_path_located(path: str | Path) -> list[LocatedDocument]:
    """Like :func:`load_path`, keeping each document's file and line."""
    if str(path) == STDIN:
        return load_documents_located(sys.stdin.read(), "<stdin>")
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in SUFFIXES and p.is_file())
    elif target.exists():
        files = [target]
    else:
        raise DocumentSyntaxError(str(path), None, "no such file or directory")
    out: list[LocatedDocument] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DocumentSyntaxError(str(file), None, f"cannot read: {exc}") from None
        out.extend(load_documents_located(text, str(file)))
    return out


def decode_value(data: bytes | str, source: str = "value") -> dict[str, Any]:
    """One document from bytes stored in etcd (YAML or JSON, as ``etcdctl put`` or the
    CLI wrote them). Equivalent YAML and JSON decode to equal dicts."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentSyntaxError(source, None, f"not UTF-8 text: {exc.reason}") from None
    else:
        text = data
    documents = load_documents(text, source)
    if len(documents) != 1:
        raise DocumentSyntaxError(
            source, None, f"expected exactly one document, found {len(documents)}"
        )
    return documents[0]


# --- dumping -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Plain dict/list copies of any Mapping/Sequence (MappingProxyType, tuples...)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump_yaml(value: Any) -> str:
    """Block-style YAML of one value, keys in insertion order (as the user wrote them)."""
    return yaml.safe_dump(
        _plain(value), sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )


def dump_yaml_documents(documents: Iterable[Any]) -> str:
    """Several documents as one multi-document YAML stream (``---`` separated)."""
    return "".join(f"---\n{dump_yaml(d)}" for d in documents)


def dump_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON of one value (``indent=None`` for the compact form stored in etcd)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(_plain(value), indent=indent, separators=separators, ensure_ascii=False)
