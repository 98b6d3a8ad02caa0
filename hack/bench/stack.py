"""The set-up the rows that time one ActiveStrategy share: its world in etcd (the
Environment ``bench`` on the run's fogsim, one architecture, a strategy of it alone and
the ActiveStrategy), a controller, and the strategy serving. etcd and fogsim are the
run's (``hack/bench/run.py``); each row brings its own controller, in this process
(:class:`~hack.bench.inproc.InProcessController`, for its hooks) or as the
``fogstrat controller`` process (:func:`controller_process`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from controller.store import Store, connect
from hack.bench import world
from hack.bench.scale import Controller
from hack.bench.small import serving, wait_until

C = TypeVar("C")


@dataclass(frozen=True)
class OneStrategy:
    """An ActiveStrategy ``name`` of strategy ``strategy`` whose one architecture is
    ``arch``, made with ``arch_options`` (:func:`hack.bench.world.architecture`)."""

    name: str
    strategy: str
    arch: str
    arch_options: Mapping[str, Any] = field(default_factory=dict)

    def documents(self, fog_url: str) -> list[dict[str, Any]]:
        return [
            world.environment("bench", fog_url),
            world.architecture(self.arch, **self.arch_options),
            world.strategy(self.strategy, self.arch),
            world.active_strategy(self.name, self.strategy, "bench"),
        ]


@contextmanager
def serving_one(endpoint: str, prefix: str, fog_url: str, one: OneStrategy,
                controller: Callable[[], AbstractContextManager[C]]
                ) -> Iterator[tuple[Store, C]]:
    """``one`` put under ``prefix``, ``controller()`` running and ``one`` serving: the
    store (closed on exit) and the controller."""
    store = connect(endpoint)
    try:
        world.put_all(store, prefix, one.documents(fog_url))
        with controller() as ctl:
            wait_until(lambda: serving(store, prefix, one.name), 30, f"{one.name} to serve")
            yield store, ctl
    finally:
        store.close()


@contextmanager
def controller_process(endpoint: str, prefix: str, log_file: Path) -> Iterator[Controller]:
    """The ``fogstrat controller`` process, answering ``/healthz``; stopped on exit."""
    ctl = Controller(endpoint, prefix, log_file).start(wait=True)
    try:
        yield ctl
    finally:
        ctl.stop()
