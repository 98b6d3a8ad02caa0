"""How large a document may be, in every dimension a hostile or clumsy one could grow.

Documents come from anyone who can write to etcd or hand a file to the CLI, and every
consumer walks them (schema validation, copies, JSON encoding, template scans). Each
limit below keeps one such walk bounded in time and memory, and each is checked before
the walk that it protects: size before decoding, nesting depth and alias expansion
while composing YAML (and before ``json.loads``), item counts and string lengths right
after decoding. Numeric fields with a physical meaning (``replicas``, thresholds, probe
counts) are bounded in the CRDs in ``crds/``, which are the schemas; durations, which a
schema can only describe as a pattern, are bounded here.

docs/limits.md says what each limit protects and how to raise the one a user could need.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DOCUMENT_BYTES_ENV",
    "LIMITS",
    "LimitExceeded",
    "Limits",
    "check_json_depth",
    "check_value",
    "excerpt",
    "limits",
    "summarize",
]

#: Environment variable raising (or lowering) the largest document accepted, in bytes.
DOCUMENT_BYTES_ENV = "FOGSTRAT_MAX_DOCUMENT_BYTES"
#: etcd refuses requests above 1.5 MiB by default; a status and the key ride along.
ETCD_REQUEST_BYTES = 1536 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound on a document, by name (the name appears in the error it causes)."""

    max_document_bytes: int = 512 * 1024
    max_stream_bytes: int = 16 * 1024 * 1024
    """A file or standard input given to the CLI, which may hold many documents."""
    max_depth: int = 64
    max_nodes: int = 50_000
    """Values and keys of one document, counted with YAML aliases expanded: what a walk
    over the decoded document visits."""
    max_items: int = 10_000
    """Elements of one list or entries of one map."""
    max_string_chars: int = 64 * 1024
    max_key_segment_chars: int = 253
    """One segment (plural, namespace, name) of an etcd key: a DNS subdomain's length."""
    max_duration_seconds: float = 7 * 24 * 3600.0
    max_message_chars: int = 4096
    """A status condition's message: problems beyond it are summarised by their count."""


LIMITS = Limits()


class LimitExceeded(ValueError):
    """A document exceeds one of :class:`Limits`; the message names the limit."""

    def __init__(self, limit: str, message: str) -> None:
        self.limit = limit
        super().__init__(f"{message} (limit {limit})")


def limits() -> Limits:
    """The limits in force: :data:`LIMITS` with ``$FOGSTRAT_MAX_DOCUMENT_BYTES`` applied.

    Only the document size is configurable: it is the one a legitimate document (an FDU
    descriptor with a large inline configuration) can need more of, up to what etcd
    accepts. The others bound the cost of walking a document and no real document
    comes near them.
    """
    return _limits_for(os.environ.get(DOCUMENT_BYTES_ENV, "").strip())


@functools.lru_cache(maxsize=4)
def _limits_for(raw: str) -> Limits:
    if not raw:
        return LIMITS
    try:
        size = int(raw)
    except ValueError:
        raise LimitExceeded(DOCUMENT_BYTES_ENV, f"{DOCUMENT_BYTES_ENV}={excerpt(raw)} is not "
                            "a number of bytes") from None
    if not 1024 <= size <= ETCD_REQUEST_BYTES:
        raise LimitExceeded(DOCUMENT_BYTES_ENV, f"{DOCUMENT_BYTES_ENV}={size} must be between "
                            f"1024 and {ETCD_REQUEST_BYTES} (etcd's default request limit)")
    return Limits(max_document_bytes=size)


def one_line(value: object, limit: int = 300) -> str:
    """``value`` (a message, or an exception's) on one line of at most ``limit`` characters:
    a log line or an error must be one line, whatever a library or a fog put in it."""
    flat = " ".join(str(value).split())
    if not flat and isinstance(value, BaseException):
        flat = type(value).__name__
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def excerpt(value: object, chars: int = 80) -> str:
    """``repr`` of ``value`` cut to ``chars`` characters with "…": an error message must
    not echo a megabyte the user gave us."""
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str):
        text = repr(value[: chars + 1])
    return text if len(text) <= chars else text[: chars - 1] + "…"


def summarize(problems: Sequence[str]) -> str:
    """``a; b; c`` cut at the message limit, saying how many problems it leaves out: a
    document with ten thousand unknown fields must not make a status of megabytes."""
    limit = LIMITS.max_message_chars
    out = ""
    for shown, problem in enumerate(problems):
        part = problem if not out else f"; {problem}"
        if len(out) + len(part) > limit:
            left = len(problems) - shown
            return (out or problem[:limit]) + f"; … and {left} more problem(s)"
        out += part
    return out


# --- JSON nesting, before json.loads recurses into it ------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def check_json_depth(text: str, limit: Limits = LIMITS) -> None:
    """Raise :class:`LimitExceeded` if JSON ``text`` nests deeper than ``max_depth``.

    ``json.loads`` recurses once per level, so it must not see the text first; brackets
    inside strings do not count.
    """
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit.max_depth:
                raise _too_deep(limit)
        else:
            depth -= 1


def _too_deep(limit: Limits) -> LimitExceeded:
    return LimitExceeded("max_depth",
                         f"document nests deeper than {limit.max_depth} levels")


# --- a decoded value -----------------------------------------------------------------------


@dataclass
class _Walk:
    limit: Limits
    nodes: int = 0

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > self.limit.max_nodes:
            raise LimitExceeded("max_nodes", f"document has more than {self.limit.max_nodes} "
                                "values (YAML aliases count once per use)")

    def scalar(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            if len(value) > self.limit.max_string_chars:
                raise LimitExceeded("max_string_chars", f"{path or 'document'}: a string of "
                                    f"{len(value)} characters ({excerpt(value, 40)}) is longer "
                                    f"than {self.limit.max_string_chars}")
            if "\0" in value:
                raise LimitExceeded("no NUL characters", f"{path or 'document'}: "
                                    f"{excerpt(value, 40)} contains a NUL character")
        elif isinstance(value, float) and not math.isfinite(value):
            raise LimitExceeded("finite numbers", f"{path or 'document'}: {value} is not a "
                                "finite number")


def check_value(value: Any, limit: Limits = LIMITS) -> None:
    """Raise :class:`LimitExceeded` unless ``value`` (decoded JSON/YAML) is within limits:
    nesting depth, values in all, items per list or map, string length, no NUL, finite
    numbers. Iterative, so a deep value cannot exhaust the stack while being checked."""
    walk = _Walk(limit)
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        walk.count()
        if isinstance(item, dict | list):
            if depth > limit.max_depth:
                raise _too_deep(limit)
            if len(item) > limit.max_items:
                raise LimitExceeded("max_items", f"{path or 'document'} has {len(item)} items, "
                                    f"more than {limit.max_items}")
            if isinstance(item, dict):
                for key, sub in item.items():
                    walk.count()
                    walk.scalar(key, path)
                    stack.append((sub, depth + 1, _join(path, key)))
            else:
                stack.extend((sub, depth + 1, f"{path}[{i}]") for i, sub in enumerate(item))
        else:
            walk.scalar(item, path)


def _join(path: str, key: object) -> str:
    text = key if isinstance(key, str) and len(key) <= 40 else excerpt(key, 40)
    return f"{path}.{text}" if path else str(text)
