"""The rule that says which fog05 nodes have a dead agent, and the watch that asks them
(real threads, an agent that answers, one that answers nothing, one that hangs)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from controller.fog.agent_liveness import (
    Answer,
    DeadNode,
    Liveness,
    Seen,
    changed,
    judge,
    running_by_node,
    to_ask,
)
from controller.fog.client import FogUnavailable
from controller.fog.fog05_agents import AgentWatch


def recording(told: list[tuple[list[str], list[str]]],
              found: threading.Event) -> Callable[[list[str], list[str]], None]:
    """An ``on_change`` that keeps what it is told and signals each call."""
    def on_change(dead: list[str], back: list[str]) -> None:
        told.append((dead, back))
        found.set()
    return on_change


SEEN = Seen({"a": "info-a", "b": "info-b", "c": "info-c"},
            {"a": ("i1", "i2"), "b": ("i3",)})


def test_each_node_with_a_running_instance_is_asked_about_its_first() -> None:
    assert to_ask(Liveness(), SEEN) == {"a": "i1", "b": "i3"}


def test_a_node_no_longer_listed_is_not_asked() -> None:
    assert to_ask(Liveness(), Seen({"a": "x"}, {"a": ("i1",), "gone": ("i9",)})) == {"a": "i1"}


def test_only_running_records_are_asked_about() -> None:
    assert running_by_node([("a", "i2", "RUN"), ("a", "i1", "RUN"), ("b", "i3", "DEFINE"),
                            ("c", "i4", "ERROR")]) == {"a": ("i1", "i2")}


def test_silence_makes_a_node_dead_and_its_records_stale() -> None:
    after = judge(Liveness(), SEEN, {"a": Answer.SILENT, "b": Answer.ANSWERED})
    assert after.dead == {"a": DeadNode("info-a", frozenset({"i1", "i2"}))}
    assert after.is_dead("a") and not after.is_dead("b") and not after.is_dead("c")
    assert after.stale("a", "i2") and after.stale(None, "i1")
    assert not after.stale("b", "i3")
    assert changed(Liveness(), after) == (["a"], [])


def test_no_evidence_changes_nothing() -> None:
    """Unknown (the store failed) or not asked: a live node stays live, a dead one dead."""
    dead = judge(Liveness(), SEEN, {"a": Answer.SILENT})
    assert judge(Liveness(), SEEN, {"a": Answer.UNKNOWN}).dead == {}
    assert judge(dead, SEEN, {"a": Answer.UNKNOWN}).dead == dead.dead
    assert judge(dead, SEEN, {}).dead == dead.dead


def test_a_dead_node_is_back_when_its_agent_answers() -> None:
    dead = judge(Liveness(), SEEN, {"a": Answer.SILENT})
    back = judge(dead, SEEN, {"a": Answer.ANSWERED})
    assert not back.is_dead("a") and not back.stale("a", "i1")
    assert changed(dead, back) == ([], ["a"])


def test_a_dead_node_is_back_when_its_records_are_published_anew() -> None:
    """Its old records stay stale and are not asked about: the node does not flap."""
    dead = judge(Liveness(), SEEN, {"a": Answer.SILENT})
    again = Seen({**SEEN.records, "a": "info-a, restarted"}, SEEN.running)
    back = judge(dead, again, {"a": Answer.SILENT})
    assert not back.is_dead("a")
    assert back.stale("a", "i1") and back.stale("a", "i2") and not back.stale("b", "i3")
    assert "a" not in to_ask(back, again)
    assert not judge(back, again, {}).is_dead("a")
    newer = Seen(again.records, {"a": ("i1", "i2", "i5")})  # something new runs there
    assert to_ask(back, newer) == {"a": "i5"}
    cleaned = judge(back, Seen(again.records, {"a": ("i5",)}), {"a": Answer.ANSWERED})
    assert not cleaned.stale("a", "i1") and cleaned.left_behind == frozenset()


def test_a_dead_node_is_back_when_its_stale_records_are_gone() -> None:
    dead = judge(Liveness(), SEEN, {"a": Answer.SILENT})
    cleaned = Seen(SEEN.records, {"b": ("i3",)})
    assert not judge(dead, cleaned, {}).is_dead("a")
    fresh = Seen(SEEN.records, {"a": ("i7",), "b": ("i3",)})  # a new instance there only
    assert not judge(dead, fresh, {"a": Answer.SILENT}).is_dead("a")


def test_a_dead_node_that_leaves_the_store_is_forgotten() -> None:
    dead = judge(Liveness(), SEEN, {"a": Answer.SILENT})
    assert judge(dead, Seen({"b": "info-b"}, {"b": ("i3",)}), {}).dead == {}


# --- the watch ----------------------------------------------------------------------------


class Agents:
    """Answers per instance: ``answer`` (default ANSWERED) or blocks while ``hung``."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.hung: set[str] = set()
        self.release = threading.Event()
        self.asked: list[str] = []
        self.seen = SEEN
        self.fail_read = False

    def read(self) -> Seen:
        if self.fail_read:
            raise FogUnavailable("read the agents' records: fog05 unreachable")
        return self.seen

    def ask(self, iid: str) -> Answer:
        self.asked.append(iid)
        if iid in self.hung:
            self.release.wait(30)
        return self.answers.get(iid, Answer.ANSWERED)


@pytest.fixture
def agents() -> Agents:
    return Agents()


def watch(agents: Agents, told: list[tuple[list[str], list[str]]]) -> AgentWatch:
    return AgentWatch(read=agents.read, ask=agents.ask, timeout=0.2, interval=60,
                      on_change=lambda dead, back: told.append((dead, back)))


def test_the_watch_finds_a_silent_agent_dead_and_tells(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    w = watch(agents, told)
    agents.answers["i1"] = Answer.SILENT
    assert w.round().is_dead("a") and w.liveness.is_dead("a")
    assert told == [(["a"], [])]
    agents.answers["i1"] = Answer.ANSWERED
    assert not w.round().is_dead("a")
    assert told == [(["a"], []), ([], ["a"])]


def test_a_hung_agent_is_dead_after_the_timeout_and_asked_only_once(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    w = watch(agents, told)
    agents.hung.add("i3")
    try:
        for _ in range(3):
            assert w.round().is_dead("b")
        assert agents.asked.count("i3") == 1  # still unanswered: never asked again
        assert told == [(["b"], [])]
    finally:
        agents.release.set()


def test_an_agent_that_raises_is_no_evidence(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    w = watch(agents, told)

    def broken(iid: str) -> Answer:
        raise RuntimeError("zenoh says no")

    w._ask = broken
    assert w.round().dead == {}
    assert told == []


def test_a_failed_read_keeps_the_verdicts(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    w = watch(agents, told)
    agents.answers["i1"] = Answer.SILENT
    before = w.round()
    agents.fail_read = True
    assert w.round() is before


def test_the_watch_thread_runs_rounds_and_stops(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    found = threading.Event()
    w = AgentWatch(read=agents.read, ask=agents.ask, timeout=0.2, interval=0.01,
                   on_change=recording(told, found))
    agents.answers["i3"] = Answer.SILENT
    w.start()
    try:
        assert found.wait(30)
        assert w.liveness.is_dead("b")
    finally:
        w.stop()
    assert w._thread is None or not w._thread.is_alive()


def test_a_round_that_raises_does_not_end_the_watch(agents: Agents) -> None:
    told: list[tuple[list[str], list[str]]] = []
    found = threading.Event()
    reads = iter([RuntimeError("a record fog05 never wrote")])

    def read() -> Seen:
        for exc in reads:
            raise exc
        return agents.read()

    w = AgentWatch(read=read, ask=agents.ask, timeout=0.2, interval=0.01,
                   on_change=recording(told, found))
    agents.answers["i3"] = Answer.SILENT
    w.start()
    try:
        assert found.wait(30)
        assert told == [(["b"], [])]
    finally:
        w.stop()
