"""fogsim's nodes at run time: up or down, and the instances each hosts.

Not locked itself: the engine's lock covers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fogsim.errors import NotFound
from fogsim.nodes import NodeSpec


@dataclass
class Node:
    spec: NodeSpec
    up: bool = True
    instances: dict[str, None] = field(default_factory=dict)  # ordered set

    def summary(self) -> dict[str, Any]:
        """The node as ``/sim/state`` shows it."""
        return {
            "uuid": self.spec.uuid,
            "name": self.spec.name,
            "ip": self.spec.ip,
            "up": self.up,
            "labels": dict(self.spec.labels),
            "instances": list(self.instances),
        }


class NodeTable:
    """The nodes by uuid, found by uuid or by name."""

    def __init__(self, specs: Iterable[NodeSpec]) -> None:
        self._nodes: dict[str, Node] = {}
        self._by_name: dict[str, str] = {}
        for spec in specs:
            if spec.uuid in self._nodes or spec.name in self._by_name:
                raise ValueError(f"duplicate node {spec.name}")
            self._nodes[spec.uuid] = Node(spec)
            self._by_name[spec.name] = spec.uuid

    def find(self, ref: str, *, include_down: bool = False) -> Node:
        """The node by uuid or name; a down one only with ``include_down``."""
        uid = ref if ref in self._nodes else self._by_name.get(ref)
        node = self._nodes.get(uid) if uid else None
        if node is None or (not node.up and not include_down):
            raise NotFound(f"node {ref} not found")
        return node

    def __getitem__(self, uid: str) -> Node:
        return self._nodes[uid]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def up_ids(self) -> list[str]:
        return [uid for uid, n in self._nodes.items() if n.up]
