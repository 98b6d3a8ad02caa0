"""The rule that says which fog05 nodes have a dead agent or a hung plugin, and the watch
that asks them (real threads: agents and plugins that answer, answer nothing, or hang)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from controller.fog.agent_liveness import (
    Answer,
    Answers,
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


def agents(**answers: Answer) -> Answers:
    """Agent answers per node; every listed node not named answers."""
    return Answers({**{n: Answer.ANSWERED for n in SEEN.records}, **answers})


def test_each_node_with_a_running_instance_has_its_plugin_asked_about_its_first() -> None:
    assert to_ask(Liveness(), SEEN) == {"a": "i1", "b": "i3"}


def test_a_node_no_longer_listed_is_not_asked() -> None:
    assert to_ask(Liveness(), Seen({"a": "x"}, {"a": ("i1",), "gone": ("i9",)})) == {"a": "i1"}


def test_only_running_records_are_asked_about() -> None:
    assert running_by_node([("a", "i2", "RUN"), ("a", "i1", "RUN"), ("b", "i3", "DEFINE"),
                            ("c", "i4", "ERROR")]) == {"a": ("i1", "i2")}


def test_a_silent_agent_makes_its_node_dead_and_its_records_stale() -> None:
    after = judge(Liveness(), SEEN, agents(a=Answer.SILENT))
    assert after.dead == {"a": DeadNode("info-a", frozenset({"i1", "i2"}))}
    assert after.is_dead("a") and not after.is_dead("b") and not after.is_dead("c")
    assert after.stale("a", "i2") and after.stale(None, "i1")
    assert not after.stale("b", "i3")
    assert changed(Liveness(), after) == (["a"], [])
    assert "a" not in to_ask(after, SEEN)  # its plugin is not asked while it is dead


def test_a_silent_agent_makes_a_node_without_instances_dead() -> None:
    after = judge(Liveness(), SEEN, agents(c=Answer.SILENT))
    assert after.dead == {"c": DeadNode("info-c", frozenset())}
    back = judge(after, SEEN, agents())
    assert not back.is_dead("c") and changed(after, back) == ([], ["c"])


def test_a_silent_plugin_under_an_answering_agent_is_hung_not_dead() -> None:
    after = judge(Liveness(), SEEN, Answers(agents().agents, {"a": Answer.SILENT,
                                                             "b": Answer.ANSWERED}))
    assert after.is_hung("a") and not after.is_dead("a") and not after.stale("a", "i1")
    assert not after.is_hung("b") and changed(Liveness(), after) == ([], [])
    kept = judge(after, SEEN, Answers(agents().agents, {"a": Answer.UNKNOWN}))
    assert kept.is_hung("a")  # no evidence: kept
    assert not judge(after, SEEN, Answers(agents().agents, {"a": Answer.ANSWERED})).hung
    assert not judge(after, SEEN, agents()).hung  # nothing left to ask the plugin about
    dead = judge(after, SEEN, Answers(agents(a=Answer.SILENT).agents, {"a": Answer.SILENT}))
    assert dead.is_dead("a") and not dead.is_hung("a")


def test_no_evidence_changes_nothing() -> None:
    """Unknown (the store failed) or not asked: a live node stays live, a dead one dead."""
    dead = judge(Liveness(), SEEN, agents(a=Answer.SILENT))
    assert judge(Liveness(), SEEN, Answers({"a": Answer.UNKNOWN})).dead == {}
    assert judge(dead, SEEN, Answers({"a": Answer.UNKNOWN})).dead == dead.dead
    assert judge(dead, SEEN, Answers()).dead == dead.dead


def test_a_dead_node_is_back_when_its_agent_answers_and_its_old_records_stay_stale() -> None:
    """Its old records are not asked about: the node does not flap."""
    dead = judge(Liveness(), SEEN, agents(a=Answer.SILENT))
    back = judge(dead, SEEN, agents())
    assert not back.is_dead("a") and changed(dead, back) == ([], ["a"])
    assert back.stale("a", "i1") and back.stale("a", "i2") and not back.stale("b", "i3")
    assert "a" not in to_ask(back, SEEN)
    newer = Seen(SEEN.records, {"a": ("i1", "i2", "i5")})  # something new runs there
    assert to_ask(back, newer) == {"a": "i5"}
    cleaned = judge(back, Seen(SEEN.records, {"a": ("i5",)}), agents())
    assert not cleaned.stale("a", "i1") and cleaned.left_behind == frozenset()


def test_a_dead_node_stays_dead_while_its_agent_is_silent_whatever_its_records() -> None:
    dead = judge(Liveness(), SEEN, agents(a=Answer.SILENT))
    again = Seen({**SEEN.records, "a": "info-a, republished"}, {"b": ("i3",)})
    assert judge(dead, again, agents(a=Answer.SILENT)).dead == dead.dead


def test_a_dead_node_that_leaves_the_store_is_forgotten() -> None:
    dead = judge(Liveness(), SEEN, agents(a=Answer.SILENT))
    assert judge(dead, Seen({"b": "info-b"}, {"b": ("i3",)}), Answers()).dead == {}


# --- the watch ----------------------------------------------------------------------------


class Fog:
    """Answers per node (agents) and per instance (plugins): ``answers`` (default
    ANSWERED), or blocks while in ``hung``."""

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

    def ask(self, about: str) -> Answer:
        self.asked.append(about)
        if about in self.hung:
            self.release.wait(30)
        return self.answers.get(about, Answer.ANSWERED)


@pytest.fixture
def fog() -> Fog:
    return Fog()


Told = list[tuple[list[str], list[str]]]


def watch(fog: Fog, told: Told, interval: float = 60) -> AgentWatch:
    return AgentWatch(read=fog.read, ask_agent=fog.ask, ask_plugin=fog.ask, timeout=0.2,
                      interval=interval,
                      on_change=lambda dead, back: told.append((dead, back)))


def test_the_watch_finds_a_silent_agent_dead_and_tells(fog: Fog) -> None:
    told: Told = []
    w = watch(fog, told)
    fog.answers["c"] = Answer.SILENT  # c runs nothing: its agent is asked all the same
    assert w.round().is_dead("c") and w.liveness.is_dead("c")
    assert told == [(["c"], [])]
    fog.answers["c"] = Answer.ANSWERED
    assert not w.round().is_dead("c")
    assert told == [(["c"], []), ([], ["c"])]
    assert {"a", "b", "c", "i1", "i3"} <= set(fog.asked)


def test_the_watch_finds_a_silent_plugin_hung_and_tells_nobody(fog: Fog) -> None:
    told: Told = []
    w = watch(fog, told)
    fog.answers["i1"] = Answer.SILENT
    after = w.round()
    assert after.is_hung("a") and not after.is_dead("a") and told == []


def test_a_hung_agent_is_dead_after_the_timeout_and_asked_only_once(fog: Fog) -> None:
    told: Told = []
    w = watch(fog, told)
    fog.hung.add("b")
    try:
        for _ in range(3):
            assert w.round().is_dead("b")
        assert fog.asked.count("b") == 1  # still unanswered: never asked again
        assert told == [(["b"], [])]
    finally:
        fog.release.set()


def test_an_agent_that_raises_is_no_evidence(fog: Fog) -> None:
    told: Told = []

    def broken(about: str) -> Answer:
        raise RuntimeError("zenoh says no")

    w = AgentWatch(read=fog.read, ask_agent=broken, ask_plugin=broken, timeout=0.2,
                   interval=60, on_change=lambda dead, back: told.append((dead, back)))
    after = w.round()
    assert after.dead == {} and after.hung == frozenset()
    assert told == []


def test_a_failed_read_keeps_the_verdicts(fog: Fog) -> None:
    told: Told = []
    w = watch(fog, told)
    fog.answers["a"] = Answer.SILENT
    before = w.round()
    fog.fail_read = True
    assert w.round() is before


def test_the_watch_thread_runs_rounds_and_stops(fog: Fog) -> None:
    told: Told = []
    found = threading.Event()
    w = AgentWatch(read=fog.read, ask_agent=fog.ask, ask_plugin=fog.ask, timeout=0.2,
                   interval=0.01,
                   on_change=recording(told, found))
    fog.answers["b"] = Answer.SILENT
    w.start()
    try:
        assert found.wait(30)
        assert w.liveness.is_dead("b")
    finally:
        w.stop()
    assert w._thread is None or not w._thread.is_alive()


def test_a_round_that_raises_does_not_end_the_watch(fog: Fog) -> None:
    told: Told = []
    found = threading.Event()
    reads = iter([RuntimeError("a record fog05 never wrote")])

    def read() -> Seen:
        for exc in reads:
            raise exc
        return fog.read()

    w = AgentWatch(read=read, ask_agent=fog.ask, ask_plugin=fog.ask, timeout=0.2,
                   interval=0.01,
                   on_change=recording(told, found))
    fog.answers["b"] = Answer.SILENT
    w.start()
    try:
        assert found.wait(30)
        assert told == [(["b"], [])]
    finally:
        w.stop()
