"""Deadlines and capped, jittered exponential backoff for fog calls.

Every fog call has one deadline covering all of its attempts (docs/design.md §7: every wait
has a deadline, every retry a capped backoff). Drivers decide *what* may be retried;
this module only decides *when*, so the policy is testable without a network.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from controller.fog.client import FogTimeout

T = TypeVar("T")

#: how long a sleep may overshoot the deadline check; keeps the last attempt meaningful
_MIN_ATTEMPT_S = 0.005


class Deadline:
    """A point in monotonic time after which a call must give up."""

    __slots__ = ("_clock", "at", "timeout")

    def __init__(self, timeout: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._clock = clock
        self.timeout = timeout
        self.at = clock() + timeout

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def check(self, what: str) -> float:
        """Return the remaining time, or raise :class:`FogTimeout` naming ``what``."""
        left = self.remaining()
        if left <= _MIN_ATTEMPT_S:
            raise FogTimeout(f"{what}: no answer within {self.timeout:g}s")
        return left


def backoff_delays(
    base: float = 0.05,
    cap: float = 1.0,
    *,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Infinite "full jitter" delays: uniform in [0, min(cap, base * 2**n)].

    Full jitter spreads concurrent retriers apart (no synchronized retry storms) while
    the cap bounds how long one backoff can eat of a deadline.
    """
    n = 0
    while True:
        ceiling = min(cap, base * (2**n))
        yield ceiling * rng()
        if ceiling < cap:
            n += 1


def retry_call(
    fn: Callable[[], T],
    *,
    deadline: Deadline,
    what: str,
    retryable: Callable[[Exception], bool],
    max_attempts: int = 6,
    base: float = 0.05,
    cap: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds, fails with a non-retryable error, runs out of
    attempts, or the deadline would pass during the next backoff.

    When it gives up after retryable errors, the last error is raised as is (so an
    unreachable fog stays :class:`FogUnavailable`); only an exhausted deadline with
    no error to report raises :class:`FogTimeout`. Callers that must re-read state
    before retrying (non-idempotent operations) do it inside ``fn``.
    """
    delays = backoff_delays(base, cap)
    attempt = 0
    while True:
        deadline.check(what)
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or attempt >= max_attempts:
                raise
            delay = next(delays)
            if deadline.remaining() <= delay + _MIN_ATTEMPT_S:
                raise
            sleep(delay)
