"""What the checks of every kind share: the problem sink, names, maps, durations, probes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.api.limits import LIMITS, excerpt
from controller.api.schema import (
    DNS1123_LABEL_PATTERN,
    DURATION_PATTERN,
    PATTERN_HINTS,
    PathPart,
    Problem,
    format_path,
)

_DNS_LABEL = re.compile(DNS1123_LABEL_PATTERN)
DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Kubernetes qualified names (label and annotation keys) and label values.
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
PROBE_KINDS = ("state", "http", "tcp", "qos")


class Sink:
    """Collects problems relative to a base path, so checks need not build full paths."""

    def __init__(self, problems: list[Problem], base: tuple[PathPart, ...]) -> None:
        self.problems = problems
        self.base = base

    def at(self, *parts: PathPart) -> Sink:
        return Sink(self.problems, (*self.base, *parts))

    def add(self, message: str, *parts: PathPart) -> None:
        self.problems.append(Problem(format_path((*self.base, *parts)), message))


# --- small public helpers --------------------------------------------------------------------


def is_dns1123_label(value: str) -> bool:
    """Kubernetes DNS-1123 label: what object and entity names must be."""
    return len(value) <= 63 and _DNS_LABEL.match(value) is not None


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``500ms``, ``5s``, ``2m``, ``1h30m``, ``1.5s``."""
    if not isinstance(text, str) or not DURATION.match(text):
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
    present = [k for k in PROBE_KINDS if k in probe]
    return present[0] if len(present) == 1 else None


# --- checks every kind uses --------------------------------------------------------------------


def check_name(name: Any, sink: Sink) -> None:
    if not isinstance(name, str):
        sink.add(f"must be a string, got {excerpt(name)}")
    elif not is_dns1123_label(name):
        detail = " of at most 63 characters" if len(name) > 63 else ""
        sink.add(f"{PATTERN_HINTS[DNS1123_LABEL_PATTERN]}{detail} (got {excerpt(name)})")


def check_string_map(value: Any, sink: Sink, value_re: re.Pattern[str] | None) -> None:
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


def check_positive_duration(spec: Mapping[str, Any], key: str, sink: Sink) -> float | None:
    """Seconds of a well-formed duration field; reports zero durations; None if unusable."""
    seconds = check_duration_bound(spec, key, sink)
    if seconds is not None and seconds <= 0:
        sink.add(f"must be longer than zero (got {excerpt(spec[key])})", key)
        return None
    return seconds


def check_duration_bound(spec: Mapping[str, Any], key: str, sink: Sink) -> float | None:
    """Seconds of a well-formed duration field within the longest one a timer takes."""
    value = spec.get(key)
    if not isinstance(value, str) or not DURATION.match(value):
        return None  # missing, or already reported by the schema
    seconds = parse_duration(value)
    if seconds > LIMITS.max_duration_seconds:
        sink.add(f"must be at most {LIMITS.max_duration_seconds / 3600:g}h (got "
                 f"{excerpt(value)}; limit max_duration_seconds)", key)
        return None
    return seconds


def known_entities(names: Iterable[str]) -> str:
    """The tail of an "unknown entity" message: the names the user could have meant."""
    listed = sorted(names)
    return f"; entities: {', '.join(listed)}" if listed else ""
