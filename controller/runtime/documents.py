"""The informer's cache as typed documents, parsed once per revision.

Reconciles run often and documents change rarely, so validation (schema plus semantic
checks) happens once per (object, mod revision), not once per reconcile; and a revision
whose body (all but ``metadata``) equals one seen before, such as a pause undone, is
neither validated nor built again (``controller.api.validation.checked_body``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from controller.api.documents import DocumentSyntaxError, decode_value
from controller.api.kinds import Kind
from controller.api.limits import excerpt, limits, summarize
from controller.api.memo import BoundedLru
from controller.api.models import Document
from controller.api.parse import parse_document
from controller.api.schema import validator
from controller.api.validation import InvalidDocument, is_dns1123_label
from controller.runtime.informer import CachedValue, Informer, ObjectKey, Refusal

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """A stored document: typed when valid, otherwise the problems a user must fix."""

    key: ObjectKey
    generation: int
    document: Document | None
    problems: tuple[str, ...] = ()
    reason: str = "InvalidSpec"
    """Why it is not valid: InvalidSpec, Undecodable (not a YAML/JSON document) or
    LimitExceeded (too large, too deep, ...: see controller/api/limits.py)."""
    revision: int = 0
    """The spec key's mod revision this was parsed at."""

    @property
    def valid(self) -> bool:
        return self.document is not None

    @property
    def message(self) -> str:
        """The problems as one status message of bounded length."""
        return summarize(self.problems)


def parse_cached(key: ObjectKey, cached: CachedValue) -> Parsed:
    """:func:`parse_value` of a cached value, which may be only the size of one too large
    to keep, or only why it was refused."""
    if cached.refusal is not None:
        return Parsed(key, cached.version, None, cached.refusal.problems,
                      cached.refusal.reason, cached.mod_revision)
    if cached.dropped_bytes:
        limit = limits().max_document_bytes
        return Parsed(key, cached.version, None,
                      (f"document is {cached.dropped_bytes} bytes, more than {limit} "
                       "(limit max_document_bytes)",), "LimitExceeded", cached.mod_revision)
    return parse_value(key, cached.value, cached.version, cached.mod_revision)


def parse_value(key: ObjectKey, value: bytes, generation: int, revision: int = 0) -> Parsed:
    """Decode, check against the key and validate; never raises: whatever is wrong with
    the value is the user's document to fix, reported as problems."""
    parsed = _parse(key, value, generation)
    if not parsed.valid:
        parsed = replace(parsed, problems=bounded(parsed.problems))
    return replace(parsed, revision=revision) if revision else parsed


def bounded(problems: tuple[str, ...]) -> tuple[str, ...]:
    """The problems a status message shows (:func:`summarize`), and how many more there
    were: a document of ten thousand unknown fields is refused with a record of a few
    KiB, not one string per field."""
    limit = limits().max_message_chars - _MORE_RESERVE
    kept: list[str] = []
    used = 0
    for problem in problems:
        used += len(problem) + 2
        if used > limit:
            break
        kept.append(problem)
    if not kept and problems:
        kept.append(problems[0][:limit])
    left = len(problems) - len(kept)
    return tuple(kept) + ((f"… and {left} more problem(s)",) if left else ())


_MORE_RESERVE = 64
"""Room left in a status message for ``bounded``'s last item, so it is shown whole."""


def _parse(key: ObjectKey, value: bytes, generation: int) -> Parsed:
    try:
        raw = decode_value(value)
    except DocumentSyntaxError as exc:
        reason = "LimitExceeded" if exc.limit else "Undecodable"
        where = f" (line {exc.line})" if exc.line is not None else ""
        return Parsed(key, generation, None, (f"cannot decode document{where}: {exc.message}",),
                      reason)
    except Exception as exc:  # a reader bug must not make a document go unanswered
        return _unexpected(key, generation, "decode", exc)
    problems = _key_problems(key) + _identity_problems(key, raw)
    if problems:
        return Parsed(key, generation, None, tuple(problems))
    raw = _with_namespace(key, raw)
    try:
        return Parsed(key, generation, parse_document(raw))
    except InvalidDocument as exc:
        return Parsed(key, generation, None, tuple(str(p) for p in exc.problems))
    except Exception as exc:  # a validator bug must not make a document go unanswered
        return _unexpected(key, generation, "validate", exc)


def _with_namespace(key: ObjectKey, raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("metadata")
    if isinstance(meta, dict) and "namespace" not in meta:
        return {**raw, "metadata": {**meta, "namespace": key.namespace}}
    return raw


def _unexpected(key: ObjectKey, generation: int, what: str, exc: Exception) -> Parsed:
    _log.warning("%s: cannot %s document (%s: %s)", key, what, type(exc).__name__,
                 excerpt(str(exc), 200))
    return Parsed(key, generation, None, (f"cannot {what} document: {type(exc).__name__}",))


def _key_problems(key: ObjectKey) -> list[str]:
    return [f"key: the {what} {excerpt(value)} is not a DNS-1123 label (at most 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit)"
            for what, value in (("namespace", key.namespace), ("name", key.name))
            if not is_dns1123_label(value)]


def _identity_problems(key: ObjectKey, raw: dict[str, Any]) -> list[str]:
    """The document's kind, name and namespace must be those of the key it is stored at."""
    problems: list[str] = []
    meta = raw.get("metadata")
    if raw.get("kind") != key.kind.kind:
        problems.append(f"kind: stored under {key.kind.plural} but says "
                        f"{excerpt(raw.get('kind'))}")
    if isinstance(meta, dict) and meta.get("name") not in (None, key.name):
        problems.append(f"metadata.name: {excerpt(meta.get('name'))} differs from its key "
                        f"{excerpt(key.name)}")
    if isinstance(meta, dict) and meta.get("namespace") not in (None, key.namespace):
        problems.append(f"metadata.namespace: {excerpt(meta.get('namespace'))} differs from "
                        f"its key {excerpt(key.namespace)}")
    return problems


@dataclass(frozen=True, slots=True)
class _Seen:
    schema: object
    """The CRD validator the value was parsed against: only good for that one."""
    parsed: Parsed


class Documents:
    def __init__(self, informer: Informer) -> None:
        self._informer = informer
        self._lock = threading.Lock()
        self._parsed: dict[ObjectKey, Parsed] = {}
        self._seen: BoundedLru[tuple[ObjectKey, bytes], _Seen] = BoundedLru(
            max_entries=256, max_size=512 * 1024, max_entry_size=64 * 1024)
        """Values parsed before, by key and bytes: a value put back as it was (a pause
        undone) answers without decoding it again. Any other value takes the parse,
        whose checked bodies are remembered on their own (``checked_body``)."""

    @property
    def version(self) -> int:
        """Changes whenever any spec document changes."""
        return self._informer.spec_version

    def get(self, key: ObjectKey) -> Parsed | None:
        cached = self._informer.spec(key)
        if cached is None:
            with self._lock:
                self._parsed.pop(key, None)
            return None
        with self._lock:
            hit = self._parsed.get(key)
        if hit is not None and hit.revision == cached.mod_revision:
            return hit
        parsed = self._parse(key, cached)
        if not parsed.valid and cached.refusal is None:
            self._informer.refuse(key, cached.mod_revision,
                                  Refusal(parsed.reason, parsed.problems))
        with self._lock:
            self._parsed[key] = parsed
        return parsed

    def _parse(self, key: ObjectKey, cached: CachedValue) -> Parsed:
        if cached.dropped_bytes or cached.refusal is not None:
            return parse_cached(key, cached)
        schema = validator(key.kind)
        seen = self._seen.get((key, cached.value))
        if seen is not None and seen.schema is schema:
            return replace(seen.parsed, generation=cached.version,
                           revision=cached.mod_revision)
        parsed = parse_cached(key, cached)
        self._seen.put((key, cached.value), _Seen(schema, parsed), len(cached.value))
        return parsed

    def find(self, kind: Kind, namespace: str, name: str) -> Parsed | None:
        return self.get(ObjectKey(kind, namespace, name))

    def all(self, kind: Kind, namespace: str | None = None) -> list[Parsed]:
        out = []
        for key in self._informer.keys(kind):
            if namespace is None or key.namespace == namespace:
                parsed = self.get(key)
                if parsed is not None:
                    out.append(parsed)
        return out
