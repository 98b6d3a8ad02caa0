"""The FIMAPI half of :class:`~controller.fog.fog05_driver.Fog05Client`: every call to
fog05 0.2's Python ``FIMAPI`` (YAKS/zenoh) bounded by its deadline, and its errors typed.

A YAKS get to a dead agent can block, and FIMAPI's errors are bare
``ValueError``/``SystemError`` strings. So every call runs on a daemon thread and the
caller stops waiting at the call's deadline (:class:`FogTimeout`); a hung call leaks one
parked thread, never the caller. fog05's error strings become the typed errors of
:mod:`controller.fog.client`.

Connection is lazy (first call) and retried on the next call after a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from controller.api.limits import one_line
from controller.fog import fog05_compat
from controller.fog.client import (
    FogError,
    FogTimeout,
    FogUnavailable,
    InvalidDescriptor,
    MissingLibrary,
    NotFound,
)
from controller.fog.retry import Deadline

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0

_NOT_FOUND_HINTS = ("not found", "unable to find", "empty message list", "empty data")


def map_fog05_error(what: str, exc: BaseException) -> FogError:
    """Turn a fog05/yaks/zenoh exception into a typed, one-line :class:`FogError`."""
    if isinstance(exc, FogError):
        return exc
    text = one_line(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, OSError) or "zenoh" in low or "connection" in low:
        return FogUnavailable(f"{what}: fog05 unreachable: {text}")
    if isinstance(exc, SystemError) and "no nodes" in low:
        return FogUnavailable(f"{what}: fog05 has no nodes")
    if any(h in low for h in _NOT_FOUND_HINTS):
        return NotFound(f"{what}: not found ({text})")
    if "onboarding" in low:
        return InvalidDescriptor(f"{what}: {text}")
    return FogError(f"{what}: {text}")


class Fog05Fim:
    """One lazily connected FIMAPI, and calls to it that give up at their deadline."""

    def __init__(
        self,
        locator: str,
        *,
        sysid: str = "0",
        tenantid: str = "0",
        timeout: float = DEFAULT_TIMEOUT,
        zenoh_lib: str | None = None,
    ) -> None:
        self.locator = locator
        self.sysid = sysid
        self.tenantid = tenantid
        self.timeout = timeout
        self._zenoh_lib = zenoh_lib
        self._api: Any = None
        self._connect_lock = threading.Lock()

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline(self.timeout if timeout is None else timeout)

    @staticmethod
    def _bounded(fn: Callable[[], T], what: str, deadline: Deadline) -> T:
        """Run ``fn`` on a daemon thread; give up (not kill) at the deadline."""
        left = deadline.check(what)
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # re-raised on the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name=f"fog05 {what}", daemon=True).start()
        if not done.wait(left):
            raise FogTimeout(f"{what}: fog05 gave no answer within {deadline.timeout:g}s")
        if "error" in box:
            raise map_fog05_error(what, box["error"]) from None
        return box["value"]  # type: ignore[no-any-return]

    def _fim(self, what: str, deadline: Deadline) -> Any:
        """The FIMAPI, connecting on first use."""
        with self._connect_lock:
            if self._api is None:
                fog05 = fog05_compat.load_fog05(self._zenoh_lib)

                def connect() -> Any:
                    return fog05.FIMAPI(self.locator, sysid=self.sysid, tenantid=self.tenantid)

                try:
                    self._api = self._bounded(
                        connect, f"{what}: connect to {self.locator}", deadline
                    )
                except FogTimeout as exc:
                    raise FogUnavailable(str(exc)) from None
                except FogError as exc:
                    missing = fog05_compat.zenoh_lib_missing()
                    if missing:  # the cause, whatever zenoh's own error said
                        raise MissingLibrary(f"{what}: cannot connect to fog05 at "
                                             f"{self.locator}: {missing}", "ZenohMissing"
                                             ) from None
                    detail = str(exc).removeprefix(f"{what}: connect to {self.locator}: ")
                    detail = detail.removeprefix("fog05 unreachable: ")
                    hint = (" (is fog05's YAKS server running there? the Environment's "
                            "spec.locator says where)")
                    if "cannot open shared object" in detail or "No such file" in detail:
                        hint = f" (set {fog05_compat.ZENOH_LIB_ENV} to the libzenohc.so path)"
                    raise FogUnavailable(
                        f"{what}: cannot connect to fog05 at {self.locator}: {detail}{hint}"
                    ) from None
            return self._api

    def _call(self, what: str, deadline: Deadline, fn: Callable[[Any], T]) -> T:
        api = self._fim(what, deadline)
        return self._bounded(lambda: fn(api), what, deadline)
