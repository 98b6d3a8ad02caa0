"""An Architecture's ``spec.health``: timings, probe names and shapes, QoS ranges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api.limits import excerpt
from controller.api.validation.common import (
    PROBE_KINDS,
    Sink,
    check_positive_duration,
    known_entities,
)


def check_health(
    health: Mapping[str, Any], entities: Mapping[str, Mapping[str, Any]], plugin: bool, sink: Sink
) -> None:
    """``plugin``: the architecture is a plugin, whose entities are not declared here."""
    interval = check_positive_duration(health, "interval", sink)
    timeout = check_positive_duration(health, "timeout", sink)
    if interval is not None and timeout is not None and timeout > interval:
        sink.add(f"must not be longer than interval ({health['interval']})", "timeout")
    startup = check_positive_duration(health, "startupInterval", sink)
    if interval is not None and startup is not None and startup > interval:
        sink.add(f"must not be longer than interval ({health['interval']})", "startupInterval")
    probes = health.get("probes")
    if not isinstance(probes, list):
        return
    explicit: dict[str, int] = {}
    for index, probe in enumerate(probes):
        if isinstance(probe, Mapping):
            _check_probe(probe, index, explicit, entities, plugin, sink.at("probes", index))


def _check_probe(
    probe: Mapping[str, Any],
    index: int,
    explicit: dict[str, int],
    entities: Mapping[str, Mapping[str, Any]],
    plugin: bool,
    here: Sink,
) -> None:
    """One probe; ``explicit`` maps the names seen so far to their first index."""
    name = probe.get("name")
    if isinstance(name, str):
        if name in explicit:
            here.add(f"duplicate probe name {excerpt(name)} (also probes[{explicit[name]}])",
                     "name")
        explicit.setdefault(name, index)
    present = [k for k in PROBE_KINDS if k in probe]
    if len(present) != 1:
        got = ", ".join(present) if present else "none"
        here.add(f"set exactly one of {', '.join(PROBE_KINDS)} (got {got})")
    qos = probe.get("qos")
    prometheus = isinstance(qos, Mapping) and "prometheus" in qos
    entity = probe.get("entity")
    if entity is None:
        if present and not (present == ["qos"] and prometheus):
            here.add("required (only a Prometheus qos probe may omit it)", "entity")
    elif isinstance(entity, str) and not plugin and entity not in entities:
        here.add(f"unknown entity {excerpt(entity)}{known_entities(entities)}", "entity")
    if isinstance(qos, Mapping):
        _check_qos(qos, here.at("qos"))


def _check_qos(qos: Mapping[str, Any], sink: Sink) -> None:
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
