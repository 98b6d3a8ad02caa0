"""What the chaos suite checks about a controller under hostile input.

- :class:`RssSampler` reads the controller's resident memory from ``/proc`` in a thread,
  keeps every sample, and SIGKILLs the controller past a hard ceiling, so a test that finds
  unbounded growth fails fast instead of taking the machine down with it.
- :class:`ControllerLog` reads the controller's log from an offset: tracebacks, lines that
  are not log records (a multi-line message or a forged line), WARNING lines naming a token.
- :func:`answer` reads the status a document got, straight from etcd.
- :class:`ChaosSize` is how big a run is: ``make test`` runs the short form, ``make chaos``
  the long one (``FOGSTRAT_CHAOS=long``); each figure can be overridden alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.store import Store
from controller.store.keys import status_key

MIB = 1024 * 1024

# One log record as the controller's text format writes it ("%(asctime)s %(levelname)-5s").
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO |WARNING|ERROR|CRITICAL) ")


@dataclass(frozen=True)
class ChaosSize:
    """How many corpus documents, how long the churn, and the controller's memory budget
    for that much; from the environment."""

    documents: int
    churn_seconds: float
    churn_batch: int
    long: bool
    budget: int

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> ChaosSize:
        env = dict(os.environ) if env is None else env
        long = env.get("FOGSTRAT_CHAOS", "short") == "long"
        return ChaosSize(
            documents=int(env.get("FOGSTRAT_CHAOS_DOCS", 10_000 if long else 500)),
            churn_seconds=float(env.get("FOGSTRAT_CHAOS_CHURN", 300 if long else 20)),
            churn_batch=int(env.get("FOGSTRAT_CHAOS_CHURN_BATCH", 2_000 if long else 500)),
            long=long,
            budget=int(env.get("FOGSTRAT_CHAOS_BUDGET_MIB", 512 if long else 300)) * MIB,
        )


FIGURES: dict[str, object] = {}


class Figures:
    """What a run measured: printed in the summary (without xdist) and written at once to
    ``$FOGSTRAT_CHAOS_REPORT`` (a worker process has no summary of its own)."""

    def add(self, name: str, value: object) -> None:
        FIGURES[name] = value
        target = os.environ.get("FOGSTRAT_CHAOS_REPORT")
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(FIGURES, indent=1) + "\n")


# --- memory ------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class RssSample:
    at: float
    rss: int


@dataclass
class RssSampler:
    """Samples one process's RSS every ``interval`` seconds until stopped; kills it when it
    passes ``ceiling`` (the test then fails on the recorded samples and a dead controller)."""

    pid: int
    ceiling: int
    interval: float = 0.2
    samples: list[RssSample] = field(default_factory=list)
    killed_at: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes(self.pid)
            if rss is None:
                return
            self.samples.append(RssSample(time.monotonic(), rss))
            if rss > self.ceiling and self.killed_at is None:
                self.killed_at = rss
                os.kill(self.pid, signal.SIGKILL)
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def since(self, start: float) -> list[int]:
        return [s.rss for s in list(self.samples) if s.at >= start]

    def max_since(self, start: float) -> int:
        return max(self.since(start), default=0)

    def last(self) -> int:
        return self.samples[-1].rss if self.samples else 0


def mib(n: int) -> str:
    return f"{n / MIB:.0f} MiB"


# --- the log -----------------------------------------------------------------------------


@dataclass
class ControllerLog:
    """The controller's log from ``offset`` on (bytes already there are someone else's)."""

    path: Path
    offset: int = 0

    @staticmethod
    def from_end(path: Path) -> ControllerLog:
        return ControllerLog(path, path.stat().st_size if path.exists() else 0)

    def text(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode("utf-8", "replace")

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def tracebacks(self) -> list[str]:
        return [ln for ln in self.lines() if "Traceback (most recent call last)" in ln]

    def stray_lines(self) -> list[str]:
        """Lines that are not one log record: a traceback's body, a message that spans
        lines, a line forged by a newline in a key or value."""
        return [ln for ln in self.lines() if not RECORD.match(ln)]

    def warnings_naming(self, token: str) -> list[str]:
        return [ln for ln in self.lines() if " WARNING " in ln[:40] and token in ln]

    def errors(self) -> list[str]:
        return [ln for ln in self.lines() if RECORD.match(ln) and " ERROR " in ln[:40]]

    def summary(self, limit: int = 20) -> str:
        bad = self.tracebacks() + self.stray_lines()[:limit] + self.errors()[:limit]
        return "\n".join(ln[:300] for ln in bad[:limit])


# --- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A document's status as the controller wrote it (``valid`` None: no Valid condition)."""

    generation: int | None
    valid: bool | None
    reason: str
    message: str


def parse_answer(value: bytes) -> Answer:
    status: Any = json.loads(value)
    if not isinstance(status, dict):
        return Answer(None, None, "", "status is not an object")
    cond = next((c for c in status.get("conditions") or []
                 if isinstance(c, dict) and c.get("type") == "Valid"), None)
    generation = status.get("observedGeneration")
    return Answer(
        int(generation) if isinstance(generation, int) else None,
        None if cond is None else cond.get("status") == "True",
        str((cond or {}).get("reason", "")),
        str((cond or {}).get("message", "")),
    )


def answer(store: Store, prefix: str, plural: str, namespace: str, name: str) -> Answer | None:
    """The status at ``<prefix>/status/<plural>/<namespace>/<name>``, if any."""
    rec = store.get(status_key(prefix, plural, namespace, name))
    return None if rec is None else parse_answer(rec.value)


def answers_under(store: Store, prefix: str, plural: str, namespace: str) -> dict[str, Answer]:
    """Every status of one kind in one namespace, by name (one range read)."""
    base = f"{prefix.rstrip('/')}/status/{plural}/{namespace}/"
    records, _ = store.list(base)
    return {r.key[len(base):]: parse_answer(r.value) for r in records}
