"""Which fog05 nodes have a dead agent: the rule, with no I/O.

fog05 0.2's agents only mirror their own records into the global store: a node that dies
with its agent keeps its node info and status there, and its instances stay ``RUN``,
while its processes are gone and evals to it answer nothing. The records alone cannot
tell such a node from a live one (they carry no heartbeat), so the driver asks the agent:
one eval per node, on one of its ``RUN`` instances (fog05's side-effect-free ``log``), each
round. This module decides from the answers; :mod:`controller.fog.fog05_agents` asks.

* A node whose agent answers is alive.
* A node whose agent answers nothing (an empty answer, or none within the agent
  timeout) is dead from then on, and every instance record on it is stale.
* A dead node is alive again when its agent answers, when its node records change (a
  restarted agent publishes them anew), or when none of the instance records it had at
  its death is left (a restarted agent cleaned them). Those records, while still there
  and ``RUN``, stay stale and are not asked about again.
* A node that could not be asked (no ``RUN`` instance, or the store itself failed) keeps
  its verdict: there is no evidence either way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Answer(enum.Enum):
    ANSWERED = "answered"
    SILENT = "silent"
    """Nothing came back: an empty answer, or none within the agent timeout."""
    UNKNOWN = "unknown"
    """The question could not be asked (the store failed): no evidence."""


@dataclass(frozen=True)
class Seen:
    """One read of the store: each listed node's own records and its ``RUN`` instances."""

    records: Mapping[str, str]
    """node id → its info and status record texts, as one string."""
    running: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """node id → ids of the instance records in ``RUN`` on it, sorted."""


@dataclass(frozen=True)
class DeadNode:
    records: str
    """The node's records when its agent was found dead."""
    instances: frozenset[str]
    """The instance records on it then: stale."""


@dataclass(frozen=True)
class Liveness:
    dead: Mapping[str, DeadNode] = field(default_factory=dict)
    left_behind: frozenset[str] = frozenset()
    """``RUN`` records a dead agent left on a node that is back: stale still, and never
    asked about (nothing answers for them)."""

    def is_dead(self, node: str) -> bool:
        return node in self.dead

    def stale(self, node: str | None, instance: str) -> bool:
        """An instance record that nothing runs behind: on a dead node, or one a node
        had when it died."""
        if node is not None and node in self.dead:
            return True
        return instance in self.left_behind or any(
            instance in d.instances for d in self.dead.values())


def to_ask(liveness: Liveness, seen: Seen) -> dict[str, str]:
    """node → the instance whose agent to ask about it: its first ``RUN`` instance that
    is not left behind."""
    out = {}
    for node, iids in seen.running.items():
        asked = [i for i in iids if i not in liveness.left_behind]
        if asked and node in seen.records:
            out[node] = asked[0]
    return out


def judge(before: Liveness, seen: Seen, answers: Mapping[str, Answer]) -> Liveness:
    """The verdicts after one round: ``answers`` for the nodes :func:`to_ask` named."""
    dead: dict[str, DeadNode] = {}
    left: set[str] = set()
    for node, records in seen.records.items():
        answer = answers.get(node, Answer.UNKNOWN)
        was = before.dead.get(node)
        if answer is Answer.ANSWERED:
            continue
        if was is not None:
            still = set(seen.running.get(node, ())) & was.instances
            if records == was.records and still:
                dead[node] = was
            else:
                left |= still
        elif answer is Answer.SILENT:
            dead[node] = DeadNode(records, frozenset(seen.running.get(node, ())))
    running = {i for iids in seen.running.values() for i in iids}
    return Liveness(dead, frozenset((before.left_behind | left) & running))


def changed(before: Liveness, after: Liveness) -> tuple[list[str], list[str]]:
    """(nodes found dead, nodes alive again) between two verdicts, sorted."""
    return (sorted(set(after.dead) - set(before.dead)),
            sorted(set(before.dead) - set(after.dead)))


def running_by_node(records: Iterable[tuple[str, str, str]]) -> dict[str, tuple[str, ...]]:
    """(node, instance id, state) → node → its ``RUN`` instance ids, sorted."""
    out: dict[str, list[str]] = {}
    for node, iid, state in records:
        if state == "RUN":
            out.setdefault(node, []).append(iid)
    return {node: tuple(sorted(iids)) for node, iids in out.items()}
