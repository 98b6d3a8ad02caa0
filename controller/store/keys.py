"""The etcd key layout of docs/design.md §3, and its inverse.

    <prefix>/<plural>/<namespace>/<name>          the document, as the user wrote it
    <prefix>/status/<plural>/<namespace>/<name>   its status (controller only)
    <prefix>/leader                               the leader identity, on a lease
    <prefix>/events/<namespace>/<name>.<id>       an Event about object <name>, on a lease
    <prefix>/endpoints/<namespace>/<name>         where ActiveStrategy <name>'s service is

No kind has the plural "status", "leader", "events" or "endpoints", so the families never
collide. Prefixes
for listing always end with "/", so ``architectures/`` never matches ``architecturedata/``.
"""

from __future__ import annotations

import re

DEFAULT_PREFIX = "/fogstrat"
STATUS = "status"
LEADER = "leader"
EVENTS = "events"
ENDPOINTS = "endpoints"
_RESERVED = frozenset({STATUS, LEADER, EVENTS, ENDPOINTS})
#: Longest plural, namespace or name segment of a key: a DNS subdomain's length. A longer
#: segment would make the status key, written with the status, larger than is sensible.
MAX_SEGMENT_CHARS = 253
# Keys arrive decoded with "surrogateescape": a surrogate stands for a byte that is not
# UTF-8, which no name, label value or log line can carry.
_UNDECODABLE = re.compile("[\ud800-\udfff]")


def _root(prefix: str) -> str:
    return prefix.rstrip("/")


def _segment(what: str, value: str) -> str:
    if not value or "/" in value:
        raise ValueError(f"invalid {what} {value!r}: must be non-empty and contain no '/'")
    return value


def _plural(plural: str) -> str:
    _segment("plural", plural)
    if plural in _RESERVED:
        raise ValueError(f"invalid plural {plural!r}: reserved key segment")
    return plural


def spec_key(prefix: str, plural: str, namespace: str, name: str) -> str:
    """``<prefix>/<plural>/<namespace>/<name>``."""
    return "/".join((_root(prefix), _plural(plural), _segment("namespace", namespace),
                     _segment("name", name)))


def status_key(prefix: str, plural: str, namespace: str, name: str) -> str:
    """``<prefix>/status/<plural>/<namespace>/<name>``."""
    return "/".join((_root(prefix), STATUS, _plural(plural), _segment("namespace", namespace),
                     _segment("name", name)))


def leader_key(prefix: str) -> str:
    """``<prefix>/leader``."""
    return f"{_root(prefix)}/{LEADER}"


def spec_prefix(prefix: str, plural: str, namespace: str | None = None) -> str:
    """Prefix (with trailing "/") listing one kind's documents, optionally one namespace."""
    parts = [_root(prefix), _plural(plural)]
    if namespace is not None:
        parts.append(_segment("namespace", namespace))
    return "/".join(parts) + "/"


def status_prefix(prefix: str, plural: str | None = None, namespace: str | None = None) -> str:
    """Prefix (with trailing "/") listing statuses: all, one kind, or one kind+namespace."""
    parts = [_root(prefix), STATUS]
    if plural is not None:
        parts.append(_plural(plural))
        if namespace is not None:
            parts.append(_segment("namespace", namespace))
    elif namespace is not None:
        raise ValueError("namespace needs a plural")
    return "/".join(parts) + "/"


def root_prefix(prefix: str) -> str:
    """``<prefix>/``: everything fogstrat stores (watch this to see specs and statuses)."""
    return _root(prefix) + "/"


def parse_key(prefix: str, key: str) -> tuple[bool, str, str, str] | None:
    """``(is_status, plural, namespace, name)`` for a spec or status key, else None.

    The leader key, keys outside ``prefix`` and malformed keys (wrong depth, empty segment)
    all give None, so a watcher on the whole prefix can skip what it does not understand.
    """
    root = root_prefix(prefix)
    if not key.startswith(root):
        return None
    parts = key[len(root):].split("/")
    is_status = parts[0] == STATUS
    if is_status:
        parts = parts[1:]
    if len(parts) != 3 or not all(parts) or parts[0] in _RESERVED:
        return None
    if any(p in (".", "..") or len(p) > MAX_SEGMENT_CHARS for p in parts):
        return None
    if _UNDECODABLE.search(key):
        return None
    plural, namespace, name = parts
    return is_status, plural, namespace, name


def key_problem(prefix: str, key: str) -> str | None:
    """Why ``key`` under ``prefix`` is not ``<prefix>[/status]/<plural>/<namespace>/<name>``.

    None for well-formed keys, for the leader key and for keys outside ``prefix``: only a
    key that looks like a misplaced document gets a reason (for one warning in the log).
    Whether the plural names a kind is for the caller to say.
    """
    root = root_prefix(prefix)
    if not key.startswith(root) or key == leader_key(prefix):
        return None
    parts = key[len(root):].split("/")
    if parts[0] in (EVENTS, ENDPOINTS):
        return None  # the controller's own Events and endpoints, not documents
    if parts[0] == STATUS:
        parts = parts[1:]
    layout = f"not {_root(prefix)}/[status/]<plural>/<namespace>/<name>"
    if len(parts) != 3:
        plural = "" if len(parts) == 1 else "s"
        return f"{layout}: {len(parts)} segment{plural} instead of 3"
    for what, part in zip(("plural", "namespace", "name"), parts, strict=True):
        if not part:
            return f"{layout}: empty {what}"
        if part in (".", ".."):
            return f"{layout}: {what} {part!r} is a path step, not a name"
        if len(part) > MAX_SEGMENT_CHARS:
            return f"{what} of {len(part)} characters, more than {MAX_SEGMENT_CHARS}"
    if parts[0] in _RESERVED:
        return f"{layout}: {parts[0]!r} is a reserved segment"
    if _UNDECODABLE.search(key):
        return "not UTF-8 text: no object can be named by it"
    return None


def permission_scope(key: str) -> str:
    """The key range a permission on ``key`` is best granted for: ``<prefix>/status/`` for
    a status key and ``<prefix>/endpoints/`` for an endpoint key (the controller writes
    them all), the key itself otherwise."""
    parts = key.split("/")
    if len(parts) >= 5 and parts[-4] == STATUS:
        return "/".join(parts[:-3]) + "/"
    if len(parts) >= 4 and parts[-3] == ENDPOINTS:
        return "/".join(parts[:-2]) + "/"
    return key


def event_key(prefix: str, namespace: str, name: str) -> str:
    """``<prefix>/events/<namespace>/<name>`` (``name``: the object's name and an id)."""
    return "/".join((_root(prefix), EVENTS, _segment("namespace", namespace),
                     _segment("name", name)))


def event_prefix(prefix: str, namespace: str | None = None) -> str:
    """Where the Events of ``namespace`` (or all) are, ending with "/"."""
    root = f"{_root(prefix)}/{EVENTS}/"
    return root + (f"{_segment('namespace', namespace)}/" if namespace else "")


def endpoint_key(prefix: str, namespace: str, name: str) -> str:
    """``<prefix>/endpoints/<namespace>/<name>``: ActiveStrategy ``name``'s endpoint."""
    return "/".join((_root(prefix), ENDPOINTS, _segment("namespace", namespace),
                     _segment("name", name)))


def endpoint_prefix(prefix: str, namespace: str | None = None) -> str:
    """Where the endpoints of ``namespace`` (or all) are, ending with "/"."""
    root = f"{_root(prefix)}/{ENDPOINTS}/"
    return root + (f"{_segment('namespace', namespace)}/" if namespace else "")
