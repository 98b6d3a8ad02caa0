"""A real controller serving a healthy strategy, ready to be attacked.

    with ChaosStack(etcd, prefix) as stack:      # fogsim, controller, ``web`` serving
        mark = stack.mark()                       # RSS and log from here on
        stack.put_raw("architectures", "default", "bomb", ALIAS_BOMB.encode())
        ...
        stack.assert_unharmed(mark)               # alive, in budget, no traceback,
                                                  # ``web`` serving on the same instances

The healthy strategy is the scenario fixture's ``web`` (one small process per
architecture), so the suite measures the controller and not the workload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from controller.store import Store, connect
from controller.store.keys import spec_key
from tests.support.chaos import MIB, Answer, ControllerLog, RssSampler, answer, mib
from tests.support.controller import ControllerProcess
from tests.support.etcd import EtcdServer
from tests.support.scenario import Scenario, wait_for

# Past its budget by this much the sampler kills the controller: the test has failed, and
# the machine is shared (docs/testing.md says how the budgets were chosen).
OVERSHOOT = 400 * MIB

# etcd's request limit raised so the suite can store what an operator's etcd might accept
# (a 2.9 MB name); the controller must still refuse it.
ETCD_ARGS = ("--max-request-bytes", str(4 * MIB), "--quota-backend-bytes", str(4096 * MIB))


@dataclass(frozen=True)
class Mark:
    """Where a step of a test starts: its RSS samples and log lines are the ones after."""

    at: float
    log: ControllerLog


class ChaosStack:
    def __init__(self, etcd: EtcdServer, prefix: str, budget: int, *,
                 resync: float = 3.0) -> None:
        self.etcd = etcd
        self.prefix = prefix
        self.budget = budget
        self.ceiling = budget + OVERSHOOT
        # The CLI's default lease: a flood of documents must not cost the leadership.
        self.scenario = Scenario(etcd.endpoint, prefix, etcd=etcd, lease_ttl=10)
        self.resync = resync
        self.store: Store | None = None
        self.ctl: ControllerProcess | None = None
        self.sampler: RssSampler | None = None
        self.instances: list[str] = []
        self.written: set[str] = set()

    def start(self) -> Self:
        s = self.scenario.start()
        s.given.web_strategy()
        self.ctl = s.controller(resync=self.resync)
        self.ctl.start()
        s.given.serving()
        self.instances = self.instance_ids()
        assert self.ctl.pid is not None
        self.sampler = RssSampler(self.ctl.pid, self.ceiling).start()
        self.store = connect(self.etcd.endpoint, timeout=10.0)
        return self

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.store is not None:
            self.store.close()
        self.scenario.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- acting ---------------------------------------------------------------------------

    @property
    def db(self) -> Store:
        assert self.store is not None
        return self.store

    @property
    def controller(self) -> ControllerProcess:
        assert self.ctl is not None
        return self.ctl

    def key(self, plural: str, namespace: str, name: str) -> str:
        return spec_key(self.prefix, plural, namespace, name)

    def put_raw(self, plural: str, namespace: str, name: str, value: bytes) -> int:
        """``etcdctl put`` as a user would: no validation. The generation written (the key's
        etcd version, which the status reports as ``observedGeneration``)."""
        key = self.key(plural, namespace, name)
        self.put_key(key, value)
        rec = self.db.get(key)
        assert rec is not None, f"{key} vanished right after its put"
        return rec.version

    def put_key(self, key: str, value: bytes) -> None:
        """A put at any key, well-formed or not (remembered for :meth:`cleanup`)."""
        self.written.add(key)
        self.db.put(key, value)

    def cleanup(self) -> None:
        """Delete every key this stack wrote, so the next test starts from ``web`` alone."""
        for key in sorted(self.written):
            self.db.delete(key)
        self.written.clear()

    def revive(self) -> None:
        """A controller an earlier test killed (over the ceiling) comes back, so one failure
        does not hide the next test's result."""
        if self.controller.running:
            return
        self.controller.kill()
        self.controller.start()
        assert self.controller.pid is not None
        self.sampler = RssSampler(self.controller.pid, self.ceiling).start()

    def mark(self) -> Mark:
        return Mark(time.monotonic(), ControllerLog.from_end(self.controller.log_path))

    # --- checking -------------------------------------------------------------------------

    def instance_ids(self) -> list[str]:
        """The running fog instances that belong to ``web`` (other strategies a test starts
        have their own)."""
        owner = f"fs.default.{self.scenario.name}."
        return sorted(str(i["uuid"]) for i in self.scenario.running()
                      if str(i.get("fdu_id")).startswith(owner))

    def max_rss(self, mark: Mark) -> int:
        assert self.sampler is not None
        return self.sampler.max_since(mark.at)

    def wait_answer(self, plural: str, namespace: str, name: str, generation: int,
                    timeout: float = 30) -> Answer:
        """The status the controller wrote for the document at ``generation``."""
        def current() -> Answer | None:
            got = answer(self.db, self.prefix, plural, namespace, name)
            return got if got is not None and got.generation == generation else None
        return wait_for(current, timeout, f"a status for {plural}/{namespace}/{name[:40]} at "
                        f"generation {generation}", self.describe)

    def wait_no_status(self, plural: str, namespace: str, name: str, timeout: float = 30) -> None:
        wait_for(lambda: answer(self.db, self.prefix, plural, namespace, name) is None,
                 timeout, f"the status of {plural}/{namespace}/{name[:40]} to go",
                 self.describe)

    def describe(self) -> str:
        return f"controller log:\n{self.controller.log_tail(20)[-6000:]}"

    def assert_unharmed(self, mark: Mark) -> None:
        """The controller is up and within budget, its log since ``mark`` holds only single
        log records (no traceback, no forged line), and ``web`` still serves on the very
        instances it served on before the chaos began."""
        assert self.sampler is not None
        assert self.sampler.killed_at is None, (
            f"controller killed at {mib(self.sampler.killed_at)} RSS (ceiling {mib(self.ceiling)})")
        assert self.controller.running, f"controller died:\n{self.controller.log_tail()}"
        peak = self.max_rss(mark)
        assert peak < self.budget, f"controller RSS {mib(peak)} over budget {mib(self.budget)}"
        assert not mark.log.tracebacks(), f"tracebacks in the log:\n{mark.log.summary()}"
        assert not mark.log.stray_lines(), f"lines that are not records:\n{mark.log.summary()}"
        self.scenario.then.phase_is("Serving", active="web-main")
        assert self.instance_ids() == self.instances, (
            f"web's instances changed: {self.instances} -> {self.instance_ids()}")
