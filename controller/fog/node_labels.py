"""A node's labels, from every source with one meaning.

A real fog05 reports no labels, so a ``nodeSelector`` could never match there. Every
node therefore gets well-known labels derived from what fog05 does report, plus the
labels the Environment gives centrally (``spec.nodeLabels``, by node name or uuid);
what the fog reports of its own (fogsim's node file) is one more source. Later sources
win: the fog's own, then the Environment's by name, then by uuid; the well-known labels
are facts about the node and win over all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.api.cpuarch import normalize_arch

ARCH = "fogstrat.io/arch"
OS = "fogstrat.io/os"
NODE_NAME = "fogstrat.io/node-name"
NODE_UUID = "fogstrat.io/node-uuid"
WELL_KNOWN: tuple[str, ...] = (ARCH, OS, NODE_NAME, NODE_UUID)

NodeLabels = Mapping[str, Mapping[str, str]]
"""Labels by node name or uuid, as an Environment gives them."""

_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """``text`` as a label value (at most 63 letters, digits, ``-_.``, alphanumeric at
    both ends), so a selector can be written for any node a fog reports."""
    return _VALUE_UNSAFE.sub("-", text).strip("-_.")[:63].rstrip("-_.")


def well_known(uuid: str, name: str, cpu_arch: str, os: str) -> dict[str, str]:
    out = {NODE_UUID: label_value(uuid), NODE_NAME: label_value(name)}
    if cpu_arch:
        out[ARCH] = label_value(normalize_arch(cpu_arch))
    if os:
        out[OS] = label_value(os.lower())
    return out


def merged(rec: Mapping[str, Any], uuid: str, name: str, cpu_arch: str,
           central: NodeLabels) -> dict[str, str]:
    """Every label of the node whose fog05 info record is ``rec``."""
    own = rec.get("labels")
    out = {str(k): str(v) for k, v in own.items()} if isinstance(own, Mapping) else {}
    out.update(central.get(name) or {})
    out.update(central.get(uuid) or {})
    out.update(well_known(uuid, name, cpu_arch, str(rec.get("os") or "")))
    return out
