"""Deadline and backoff policy of fog calls (no network)."""

from __future__ import annotations

import time

import pytest

from controller.fog.client import FogError, FogTimeout, FogUnavailable, NotFound
from controller.fog.retry import Deadline, backoff_delays, retry_call


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_deadline_counts_down_and_raises_fog_timeout() -> None:
    clock = FakeClock()
    d = Deadline(2.0, clock=clock)
    assert d.remaining() == pytest.approx(2.0)
    clock.now += 1.5
    assert d.check("op x") == pytest.approx(0.5)
    clock.now += 1.0
    assert d.remaining() == 0.0 and d.expired()
    with pytest.raises(FogTimeout, match="op x"):
        d.check("op x")


def test_deadline_rejects_non_positive_timeout() -> None:
    with pytest.raises(ValueError):
        Deadline(0)


def test_backoff_is_jittered_exponential_and_capped() -> None:
    top = list(zip(range(8), backoff_delays(0.1, 0.5, rng=lambda: 1.0), strict=False))
    assert [d for _, d in top] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5])
    low = [d for _, d in zip(range(5), backoff_delays(0.1, 0.5, rng=lambda: 0.0), strict=False)]
    assert low == [0.0] * 5
    real = [d for _, d in zip(range(50), backoff_delays(0.1, 0.5), strict=False)]
    assert all(0.0 <= d <= 0.5 for d in real)


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, FogUnavailable)


def test_retry_until_success() -> None:
    clock = FakeClock()
    attempts = []

    def fn() -> str:
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise FogUnavailable("down")
        return "ok"

    d = Deadline(10, clock=clock)
    out = retry_call(fn, deadline=d, what="w", retryable=_retryable, sleep=clock.sleep)
    assert out == "ok" and len(attempts) == 3


def test_non_retryable_error_is_raised_at_once() -> None:
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1
        raise NotFound("gone")

    with pytest.raises(NotFound):
        retry_call(fn, deadline=Deadline(5), what="w", retryable=_retryable)
    assert calls == 1


def test_attempts_are_bounded_and_last_error_kept() -> None:
    clock = FakeClock()
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1
        raise FogUnavailable(f"down {calls}")

    with pytest.raises(FogUnavailable, match="down 4"):
        retry_call(
            fn,
            deadline=Deadline(100, clock=clock),
            what="w",
            retryable=_retryable,
            max_attempts=4,
            sleep=clock.sleep,
        )
    assert calls == 4


def test_never_sleeps_past_the_deadline() -> None:
    """A backoff that would overrun the deadline is not taken: the call ends in time."""
    t0 = time.monotonic()
    with pytest.raises(FogError):
        retry_call(
            lambda: (_ for _ in ()).throw(FogUnavailable("down")),
            deadline=Deadline(0.3),
            what="w",
            retryable=_retryable,
            max_attempts=1000,
            base=0.05,
            cap=0.2,
        )
    assert time.monotonic() - t0 < 0.35


def test_expired_deadline_before_first_attempt() -> None:
    clock = FakeClock()
    d = Deadline(1, clock=clock)
    clock.now += 2
    with pytest.raises(FogTimeout, match="op y"):
        retry_call(lambda: 1, deadline=d, what="op y", retryable=_retryable)
