"""The bounded memo keeps at most its count and its size, forgetting the oldest first."""

from __future__ import annotations

import pytest

from controller.api.memo import BoundedLru


def test_the_least_recently_used_goes_first_when_the_count_is_reached() -> None:
    memo: BoundedLru[str, int] = BoundedLru(max_entries=2, max_size=100, max_entry_size=10)
    memo.put("a", 1, 1)
    memo.put("b", 2, 1)
    assert memo.get("a") == 1  # now b is the oldest
    memo.put("c", 3, 1)
    assert memo.kept() == ["a", "c"]
    assert memo.get("b") is None


def test_the_size_bound_forgets_as_many_as_it_takes() -> None:
    memo: BoundedLru[str, int] = BoundedLru(max_entries=100, max_size=10, max_entry_size=8)
    for name in "abcde":
        memo.put(name, 0, 2)
    assert memo.size == 10
    memo.put("big", 0, 8)
    assert memo.kept() == ["e", "big"]
    assert memo.size == 10


def test_an_entry_larger_than_its_bound_is_not_kept() -> None:
    memo: BoundedLru[str, int] = BoundedLru(max_entries=10, max_size=10, max_entry_size=4)
    memo.put("a", 1, 1)
    memo.put("huge", 2, 5)
    assert memo.kept() == ["a"]
    assert memo.size == 1


def test_putting_a_key_again_replaces_its_size() -> None:
    memo: BoundedLru[str, int] = BoundedLru(max_entries=10, max_size=10, max_entry_size=10)
    memo.put("a", 1, 6)
    memo.put("a", 2, 3)
    assert (memo.get("a"), memo.size, len(memo)) == (2, 3, 1)
    memo.clear()
    assert (len(memo), memo.size) == (0, 0)


def test_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError, match="positive bounds"):
        BoundedLru(max_entries=1, max_size=4, max_entry_size=5)
