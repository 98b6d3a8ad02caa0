"""Asking fog05's agents (and their plugins) whether they are alive, on a thread of its own.

Every ``interval`` seconds one round reads the store (nodes and instance records), asks
each node's agent an eval of its own and, on a node with a ``RUN`` instance, the plugin
about one of them, and judges (:mod:`controller.fog.agent_liveness`). Each question runs
on a daemon thread and counts as unanswered after ``timeout`` seconds; a question still
unanswered is not asked again until it returns, so a hung agent or plugin holds one
parked thread per question, however many rounds pass. The driver reads the verdicts
without waiting (no fog call of a worker waits for an agent it already knows is dead),
and hears of each node found dead or back through ``on_change``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.api.limits import one_line
from controller.fog.agent_liveness import (
    Answer,
    Answers,
    Liveness,
    Seen,
    changed,
    judge,
    running_by_node,
    to_ask,
)
from controller.fog.client import FogError

_log = logging.getLogger("fogstrat.fog05")

DEFAULT_AGENT_TIMEOUT = 2.0
"""Seconds an agent has to answer before its node counts as dead."""
DEFAULT_INTERVAL = 1.0
"""Seconds between rounds."""
IDLE = 60.0
"""Seconds without a use of the driver after which the rounds stop."""
AGENT_PROBE = "get_node_mgmt_address"
"""An eval the agent registers itself (no plugin behind it), with no parameter, that
only reads."""


@dataclass
class _Question:
    done: threading.Event = field(default_factory=threading.Event)
    answer: Answer = Answer.SILENT


class AgentWatch:
    def __init__(self, *, read: Callable[[], Seen], ask_agent: Callable[[str], Answer],
                 ask_plugin: Callable[[str], Answer],
                 on_change: Callable[[list[str], list[str]], None],
                 timeout: float = DEFAULT_AGENT_TIMEOUT,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self._read = read
        self._ask_agent = ask_agent
        self._ask_plugin = ask_plugin
        self._on_change = on_change
        self.timeout = timeout
        self.interval = interval
        self._liveness = Liveness()
        self._asking: dict[tuple[str, str], _Question] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._used = 0.0

    @property
    def liveness(self) -> Liveness:
        with self._lock:
            return self._liveness

    def start(self) -> None:
        """Keep the rounds going: the driver calls this on each use; without one for
        ``IDLE`` seconds, the rounds stop (a client no Environment uses any more costs
        nothing) until the next."""
        with self._lock:
            self._used = time.monotonic()
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="fog05 agent watch",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if time.monotonic() - self._used > IDLE:
                    self._thread = None
                    return
            try:
                self.round()
            except Exception as exc:  # anything: the watch goes on, and says it in one line
                _log.warning("fog05 agent watch: a round failed: %s", one_line(exc))
            self._stop.wait(self.interval)

    def round(self) -> Liveness:
        """One read, the questions, the verdicts; the store failing changes nothing."""
        before = self.liveness
        try:
            seen = self._read()
        except FogError as exc:
            _log.debug("fog05 agent watch: reading the store failed: %s", one_line(exc))
            return before
        asks = {("agent", node): (self._ask_agent, node) for node in seen.records}
        asks.update({("plugin", node): (self._ask_plugin, iid)
                     for node, iid in to_ask(before, seen).items()})
        got = self._answers(asks)
        answers = Answers({n: a for (kind, n), a in got.items() if kind == "agent"},
                          {n: a for (kind, n), a in got.items() if kind == "plugin"})
        after = judge(before, seen, answers)
        with self._lock:
            self._liveness = after
        self._tell(before, after)
        return after

    def _tell(self, before: Liveness, after: Liveness) -> None:
        dead, back = changed(before, after)
        for node in dead:
            _log.warning("fog05 node %s: its agent answered nothing within %gs: the node "
                         "counts as gone, its %d instance record(s) as stale", node,
                         self.timeout, len(after.dead[node].instances))
        for node in back:
            _log.info("fog05 node %s: its agent is back", node)
        for node in sorted(after.hung - before.hung):
            _log.warning("fog05 node %s: its agent answers but its plugin answered nothing "
                         "within %gs: its instances are not known to run", node, self.timeout)
        for node in sorted(before.hung - after.hung - set(after.dead)):
            _log.info("fog05 node %s: its plugin answers again", node)
        if dead or back:
            self._on_change(dead, back)

    def _answers(self, asks: Mapping[tuple[str, str], tuple[Callable[[str], Answer], str]]
                 ) -> dict[tuple[str, str], Answer]:
        questions = {key: self._question(key, ask, about)
                     for key, (ask, about) in asks.items()}
        until = time.monotonic() + self.timeout
        for q in questions.values():
            q.done.wait(max(0.0, until - time.monotonic()))
        out = {}
        for key, q in questions.items():
            out[key] = q.answer if q.done.is_set() else Answer.SILENT
            if q.done.is_set():
                with self._lock:
                    self._asking.pop(key, None)
        return out

    def _question(self, key: tuple[str, str], ask: Callable[[str], Answer], about: str
                  ) -> _Question:
        """The question ``key`` (kind, node): the one still unanswered, else a new one
        about ``about`` (a node or an instance)."""
        with self._lock:
            q = self._asking.get(key)
            if q is not None:
                return q
            q = self._asking[key] = _Question()

        def run() -> None:
            try:
                q.answer = ask(about)
            except Exception as exc:  # anything: the watch must go on; no evidence
                _log.debug("fog05 agent watch: asking about %s failed: %s", about,
                           one_line(exc))
                q.answer = Answer.UNKNOWN
            finally:
                q.done.set()

        threading.Thread(target=run, name=f"fog05 {key[0]} {key[1]}", daemon=True).start()
        return q


@dataclass(frozen=True)
class StoreRead:
    """One read of fog05's store for a round, and where each instance record lives."""

    seen: Seen
    paths: Mapping[str, str]
    """instance id → its record's path (to tell the feed it is gone)."""


def read_store(api: Any) -> StoreRead:
    """Three globs: the nodes' info and status records, and every instance record."""
    conn = api.connector.glob.actual
    base = f"{conn.prefix}/{api.sysid}/tenants/{api.tenantid}/nodes"
    records: dict[str, list[str]] = {}
    with_info: set[str] = set()  # a listed node is one with an info record (FIMAPI's list)
    for kind in ("info", "status"):
        for kv in conn.ws.get(f"{base}/*/{kind}"):
            node = kv.get_path()[len(base) + 1:].split("/")[0]
            records.setdefault(node, []).append(str(kv.get_value().get_value()))
            if kind == "info":
                with_info.add(node)
    states: list[tuple[str, str, str]] = []
    paths: dict[str, str] = {}
    for kv in conn.ws.get(f"{base}/*/fdu/*/instances/*/info"):
        path = kv.get_path()
        rest = path[len(base) + 1:].split("/")
        try:
            state = str(json.loads(kv.get_value().get_value()).get("status"))
        except (ValueError, AttributeError):
            continue  # not a record fog05 wrote: nothing to judge by
        states.append((rest[0], rest[4], state))
        paths[rest[4]] = path
    listed = {node: "\n".join(texts) for node, texts in records.items() if node in with_info}
    return StoreRead(Seen(listed, running_by_node(states)), paths)


def ask_agent(api: Any, node: str) -> Answer:
    """The agent's own ``get_node_mgmt_address`` eval (under ``/alfos/<node>/agent``,
    which fog05's plugins call too): the agent answers it without any plugin, and
    reading an address changes nothing. YAKS returns an empty answer when no eval is
    registered there any more (the agent is gone)."""
    try:
        api.connector.loc.actual.exec_agent_eval(node, AGENT_PROBE, {})
    except ValueError as exc:
        return Answer.SILENT if str(exc).startswith("Empty data") else Answer.ANSWERED
    return Answer.ANSWERED


def ask_plugin(api: Any, instance_id: str) -> Answer:
    """fog05's ``log`` eval of the instance: the agent holding it hands it to the
    instance's runtime plugin, and reading a log changes nothing. Empty when nothing
    answers."""
    try:
        api.connector.glob.actual.log_fdu_in_node(api.sysid, api.tenantid, instance_id)
    except ValueError as exc:
        return Answer.SILENT if str(exc).startswith("Empty data") else Answer.ANSWERED
    return Answer.ANSWERED


def onboard_via(api: Any, fdu: Any, alive: Callable[[str], bool]) -> str:
    """FIMAPI's ``fdu.onboard``, sent to a live node's agent: FIMAPI's own picks a node at
    random, a dead one included (whose agent never answers). The FDU's uuid."""
    conn = api.connector.glob.actual
    nodes = [n for n in conn.get_all_nodes(api.sysid, api.tenantid) if alive(str(n))]
    if not nodes:
        raise SystemError("No nodes in the system!")
    res = conn.onboard_fdu_from_node(api.sysid, api.tenantid, random.choice(nodes),
                                     fdu.get_uuid(), fdu.to_json())
    if res.get("result") is None:
        raise SystemError(f"Error during onboarding {res.get('error')} with message "
                          f"{res.get('error_msg')}")
    return str(res["result"].get("uuid") or "")
