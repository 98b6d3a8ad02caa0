"""``evolve``: ``dataclasses.replace`` for the reconcile models, without its overhead.

A probe cycle or a decision builds a status a dozen times, and ``replace`` passes every
field by name through ``__init__`` each time. ``evolve`` copies the instance dictionary
instead and runs ``__post_init__`` (which freezes what changed) as ``replace`` would. It
is checked as ``replace`` itself, so mypy still rejects a field the class does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["evolve"]

if TYPE_CHECKING:
    from dataclasses import replace as evolve
else:
    _T = TypeVar("_T")

    def evolve(obj: _T, /, **changes: Any) -> _T:
        """A copy of the (dict-backed) dataclass ``obj`` with ``changes``."""
        new = object.__new__(type(obj))
        state = new.__dict__
        state.update(obj.__dict__)
        state.update(changes)
        post = getattr(new, "__post_init__", None)
        if post is not None:
            post()
        return new
