"""Reading and writing documents as YAML or JSON text.

Users write YAML (often several documents per file), tools write JSON, and ``etcdctl
put`` stores whatever bytes it is given; every path must yield the same plain dicts.
So the YAML loader here is JSON-compatible: timestamps stay strings, scalar keys are
kept as written (``on:`` is the key "on", not True), and duplicate keys are errors
(PyYAML would silently keep the last one — a classic source of "my change had no
effect"). Errors are one line, ``source:line: what``.

Every path is bounded (``controller.api.limits``): sizes are checked before decoding,
nesting and YAML alias expansion while composing, and items and strings right after, so
no text can make a reader spend unbounded time or memory, or recurse out of its stack.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.api.limits import LimitExceeded, Limits, check_json_depth, check_value, limits
from controller.api.yaml_loader import BoundedLoader

__all__ = [
    "DocumentSyntaxError",
    "LocatedDocument",
    "decode_json",
    "decode_value",
    "dump_json",
    "dump_yaml",
    "dump_yaml_documents",
    "load_documents",
    "load_documents_located",
    "load_path",
    "load_path_located",
    "load_value",
]

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
_MESSAGE_CHARS = 300


class DocumentSyntaxError(ValueError):
    """Text that is not a well-formed document: ``source:line: message`` in one line."""

    def __init__(self, source: str, line: int | None, message: str,
                 limit: str | None = None) -> None:
        self.source = source
        self.line = line
        self.message = " ".join(message.split())[:_MESSAGE_CHARS]
        self.limit = limit
        """The name of the limit the text exceeds; None when it is malformed."""
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {self.message}")


@dataclass(frozen=True)
class LocatedDocument:
    """A decoded document and where it starts (for messages such as ``a.yaml:12: ...``)."""

    source: str
    line: int
    document: dict[str, Any]

    @property
    def origin(self) -> str:
        return f"{self.source}:{self.line}"


# --- loading -------------------------------------------------------------------------------


def load_documents(text: str, source: str = STDIN) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML (multi-document) or JSON text, in order.

    A JSON array, or a ``kind: List`` with ``items`` (what ``kubectl get -o yaml``
    prints), contributes its elements. Raises :class:`DocumentSyntaxError`.
    """
    return [located.document for located in load_documents_located(text, source)]


def load_documents_located(text: str, source: str = STDIN, limit: Limits | None = None
                           ) -> list[LocatedDocument]:
    """Like :func:`load_documents`, keeping the line where each document starts.

    Every document is within ``limit`` (default :func:`controller.api.limits.limits`):
    a text over ``max_stream_bytes``, a YAML document over ``max_document_bytes``, or
    any document too deep, too large or with too long strings is refused before it is
    walked.
    """
    limit = limit or limits()
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > limit.max_stream_bytes:
        raise DocumentSyntaxError(source, None, f"{len(text)} characters, more than "
                                  f"{limit.max_stream_bytes}", "max_stream_bytes")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        values = [(_json_line(text), _load_json(text, source, limit))]
    else:
        values = _load_yaml(text, source, limit)
    out: list[LocatedDocument] = []
    for line, value in values:
        for item in _expand(value, source, line):
            try:
                check_value(item, limit)
            except LimitExceeded as exc:
                raise DocumentSyntaxError(source, line, str(exc), exc.limit) from None
            out.append(LocatedDocument(source, line, item))
    return out


def _json_line(text: str) -> int:
    """Line of the first non-blank character (where a JSON document starts)."""
    return text[: len(text) - len(text.lstrip())].count("\n") + 1


def _load_json(text: str, source: str, limit: Limits) -> Any:
    try:
        check_json_depth(text, limit)
    except LimitExceeded as exc:
        raise DocumentSyntaxError(source, None, str(exc), exc.limit) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentSyntaxError(source, exc.lineno, exc.msg) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise DocumentSyntaxError(source, None, _value_error(exc)) from None


def _value_error(exc: BaseException) -> str:
    if "integer string conversion" in str(exc):
        return f"an integer with more than {sys.get_int_max_str_digits()} digits"
    return str(exc) or type(exc).__name__


def _load_yaml(text: str, source: str, limit: Limits) -> list[tuple[int, Any]]:
    values: list[tuple[int, Any]] = []
    try:
        loader = BoundedLoader(text)  # reads the text: a NUL is refused here
    except yaml.YAMLError as exc:
        raise DocumentSyntaxError(source, None, str(exc)) from None
    loader.limits = limit
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            size = node.end_mark.index - node.start_mark.index
            if size > limit.max_document_bytes:
                raise DocumentSyntaxError(
                    source, line, f"document is {size} characters long, more than "
                    f"{limit.max_document_bytes} (limit max_document_bytes)",
                    "max_document_bytes")
            values.append((line, loader.construct_document(node)))
    except DocumentSyntaxError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        raise DocumentSyntaxError(source, mark.line + 1 if mark else None, message,
                                  getattr(exc, "limit", None)) from None
    except yaml.YAMLError as exc:
        raise DocumentSyntaxError(source, None, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise DocumentSyntaxError(source, None, _value_error(exc)) from None
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
    limit = limits()
    if str(path) == STDIN:
        return load_documents_located(sys.stdin.read(limit.max_stream_bytes + 1), "<stdin>",
                                      limit)
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
            with file.open(encoding="utf-8") as handle:
                text = handle.read(limit.max_stream_bytes + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise DocumentSyntaxError(str(file), None, f"cannot read: {exc}") from None
        out.extend(load_documents_located(text, str(file), limit))
    return out


def decode_value(data: bytes | str, source: str = "value") -> dict[str, Any]:
    """One document from bytes stored in etcd (YAML or JSON, as ``etcdctl put`` or the
    CLI wrote them). Equivalent YAML and JSON decode to equal dicts."""
    limit = limits()
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
    if size > limit.max_document_bytes:
        raise DocumentSyntaxError(source, None, f"document is {size} bytes, more than "
                                  f"{limit.max_document_bytes} (limit max_document_bytes)",
                                  "max_document_bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentSyntaxError(source, None, f"not UTF-8 text: {exc.reason} at byte "
                                      f"{exc.start}") from None
    else:
        text = data
    documents = load_documents_located(text, source, limit)
    if len(documents) != 1:
        raise DocumentSyntaxError(
            source, None, f"expected exactly one document, found {len(documents)}"
        )
    return documents[0].document


def load_value(text: str, source: str = STDIN) -> Any:
    """The one YAML or JSON value of ``text``, of any type (a configuration file rather
    than a document), within the same limits as a document; raises
    :class:`DocumentSyntaxError`."""
    limit = limits()
    if len(text) > limit.max_document_bytes:
        raise DocumentSyntaxError(source, None, f"{len(text)} characters, more than "
                                  f"{limit.max_document_bytes}", "max_document_bytes")
    if text.lstrip().startswith(("{", "[")):
        values = [(_json_line(text), _load_json(text, source, limit))]
    else:
        values = _load_yaml(text, source, limit)
    if len(values) > 1:
        raise DocumentSyntaxError(source, values[1][0], "expected one document, found more")
    value = values[0][1] if values else None
    try:
        check_value(value, limit)
    except LimitExceeded as exc:
        raise DocumentSyntaxError(source, None, str(exc), exc.limit) from None
    return value


def decode_json(data: bytes, source: str = "value") -> Any:
    """A JSON value from bytes written by a program (a status), within the same limits
    as a document; raises :class:`DocumentSyntaxError`."""
    limit = limits()
    if len(data) > limit.max_document_bytes:
        raise DocumentSyntaxError(source, None, f"{len(data)} bytes, more than "
                                  f"{limit.max_document_bytes}", "max_document_bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentSyntaxError(source, None, f"not UTF-8 text: {exc.reason}") from None
    value = _load_json(text, source, limit)
    try:
        check_value(value, limit)
    except LimitExceeded as exc:
        raise DocumentSyntaxError(source, None, str(exc), exc.limit) from None
    return value


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
