"""Which fog05 nodes have a dead agent, and which a hung plugin: the rule, with no I/O.

fog05 0.2's agents only mirror their own records into the global store: a node that dies
with its agent keeps its node info and status there, and its instances stay ``RUN``,
while its processes are gone and evals to it answer nothing. The records alone cannot
tell such a node from a live one (they carry no heartbeat), so the driver asks each round:

* every listed node's **agent**, with an eval the agent answers itself
  (``get_node_mgmt_address``, one of the agent's own evals under ``/alfos/<node>/agent``;
  it reads a value, changes nothing and goes through no plugin);
* every node with a ``RUN`` instance, its **plugin**, with fog05's ``log`` eval of one
  of them (the agent hands it to the runtime plugin holding the instance).

This module decides from the answers; :mod:`controller.fog.fog05_agents` asks.

* A node whose agent answers is alive. If its plugin answers nothing, the node is
  **hung**: alive and listed, its instances neither gone nor known to run (no definite
  failure: the controller's own probes judge them).
* A node whose agent answers nothing (an empty answer, or none within the agent
  timeout) is dead from then on, and every instance record it had then is stale,
  whether or not anything ran there.
* A dead node is alive again when its agent answers. The ``RUN`` records it had at its
  death that are still there stay stale (a restarted agent removes them) and are not
  asked about.
* A question that could not be asked (the store failed, the call raised) is no
  evidence: the node keeps its verdict.
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
class Answers:
    """One round's answers, per node; a node missing was not asked."""

    agents: Mapping[str, Answer] = field(default_factory=dict)
    plugins: Mapping[str, Answer] = field(default_factory=dict)


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
    hung: frozenset[str] = frozenset()
    """Nodes whose agent answers and whose plugin does not."""

    def is_dead(self, node: str) -> bool:
        return node in self.dead

    def is_hung(self, node: str) -> bool:
        return node in self.hung

    def stale(self, node: str | None, instance: str) -> bool:
        """An instance record that nothing runs behind: on a dead node, or one a node
        had when it died."""
        if node is not None and node in self.dead:
            return True
        return instance in self.left_behind or any(
            instance in d.instances for d in self.dead.values())


def to_ask(liveness: Liveness, seen: Seen) -> dict[str, str]:
    """node → the instance whose plugin to ask about it: its first ``RUN`` instance that
    is not left behind (a dead node's plugin is not asked: its agent is asked first)."""
    out = {}
    for node, iids in seen.running.items():
        asked = [i for i in iids if i not in liveness.left_behind]
        if asked and node in seen.records and node not in liveness.dead:
            out[node] = asked[0]
    return out


def judge(before: Liveness, seen: Seen, answers: Answers) -> Liveness:
    """The verdicts after one round."""
    dead: dict[str, DeadNode] = {}
    left: set[str] = set()
    hung: set[str] = set()
    for node, records in seen.records.items():
        agent = answers.agents.get(node, Answer.UNKNOWN)
        was = before.dead.get(node)
        running = frozenset(seen.running.get(node, ()))
        if agent is Answer.SILENT or (agent is Answer.UNKNOWN and was is not None):
            dead[node] = was or DeadNode(records, running)
            continue
        if was is not None:
            left |= running & was.instances
        plugin = answers.plugins.get(node)
        if plugin is Answer.SILENT or (plugin is Answer.UNKNOWN and node in before.hung):
            hung.add(node)
    everything = {i for iids in seen.running.values() for i in iids}
    return Liveness(dead, frozenset((before.left_behind | left) & everything),
                    frozenset(hung))


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
