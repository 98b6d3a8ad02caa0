"""Environment rules the schema cannot express: the locator a driver can use, durations,
node labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from controller.api.limits import excerpt
from controller.api.validation.common import (
    LABEL_VALUE,
    Sink,
    check_positive_duration,
    check_string_map,
)

MIN_AGENT_TIMEOUT = 0.1
"""Seconds: shorter, a busy but live fog05 agent would count as dead."""


def check_environment(spec: Mapping[str, Any], sink: Sink) -> None:
    locator = spec.get("locator")
    if spec.get("driver") == "fogsim" and isinstance(locator, str) and locator:
        try:
            url = urlparse(locator)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket
            sink.add(f"not a URL: {exc} (got {excerpt(locator)})", "locator")
            return
        if url.scheme not in ("http", "https") or not url.netloc:
            sink.add(
                f"the fogsim driver needs an http:// or https:// URL (got {excerpt(locator)})",
                "locator",
            )
    check_positive_duration(spec, "timeout", sink)
    agent = check_positive_duration(spec, "agentTimeout", sink)
    if agent is not None and agent < MIN_AGENT_TIMEOUT:
        sink.add(f"must be at least {MIN_AGENT_TIMEOUT * 1000:g}ms: a live agent needs "
                 f"time to answer (got {excerpt(spec['agentTimeout'])})", "agentTimeout")
    node_labels = spec.get("nodeLabels")
    if isinstance(node_labels, Mapping):
        for node, labels in node_labels.items():
            if isinstance(labels, Mapping):
                check_string_map(labels, sink.at("nodeLabels", str(node)), value_re=LABEL_VALUE)
