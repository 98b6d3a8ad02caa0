"""The pure readiness verdict on etcd contact (controller.runtime.contact.judge)."""

from __future__ import annotations

from controller.runtime.contact import ContactState, both, judge


def test_ready_only_after_a_recent_linearizable_success() -> None:
    assert judge(ContactState(None, None), 100.0, 9.0)[0] is False
    ok, reason = judge(ContactState(98.0, None), 100.0, 9.0)
    assert ok and "linearizable request 2.0s ago" in reason
    ok, reason = judge(ContactState(80.0, None), 100.0, 9.0)
    assert not ok and "20.0s" in reason and "limit 9s" in reason


def test_a_failed_attempt_is_not_ready_at_once() -> None:
    ok, reason = judge(ContactState(99.5, "no answer within 5s"), 100.0, 9.0)
    assert not ok and "no answer within 5s" in reason and "last served 0.5s ago" in reason
    ok, reason = judge(ContactState(None, "connection failed"), 100.0, 9.0)
    assert not ok and "connection failed" in reason


def test_both_checks_must_pass() -> None:
    yes = lambda: (True, "a")  # noqa: E731
    no = lambda: (False, "b")  # noqa: E731
    assert both(yes, yes)() == (True, "a; a")
    assert both(yes, no)() == (False, "b")
    assert both(no, yes)() == (False, "b")
