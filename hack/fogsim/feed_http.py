"""The change feed over HTTP: ``GET /fdu/instances/list?since=REV[&watch=true]``.

``since`` answers the records changed after ``REV`` (each once, as it is now) and the new
revision; with ``watch=true`` an answer with nothing in it waits (a long poll) until
something changes or ``timeout`` seconds pass. A revision the bounded log no longer
covers, or one from another run of fogsim (``epoch``), answers ``410 Gone``: list again.

Nothing is buffered per reader: an answer is computed from the log when it is sent, so a
reader that never reads costs one answer in its socket's buffer, not a growing queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from fogsim.changes import ChangeKey, Expired
from fogsim.engine import Engine, InvalidDescriptor

REVISION_HEADER = "X-Fogsim-Revision"
EPOCH_HEADER = "X-Fogsim-Epoch"
DEFAULT_WAIT = 30.0
MAX_WAIT = 300.0
MAX_WATCHERS = 1024
"""Long polls waiting at once; more answer 503 (retryable) rather than pile up."""


class Waker:
    """Wakes every waiting long poll when the engine logs a change. Engine changes come
    from any thread (the reaper's too), so the wake-up is handed to the event loop, once
    per loop turn however many changes arrived meanwhile."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self._pending = False
        self.watchers = 0

    def on_change(self, revision: int, key: ChangeKey) -> None:
        if self._pending:
            return
        self._pending = True
        with contextlib.suppress(RuntimeError):  # loop closed: fogsim is stopping
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._pending = False
        event, self._event = self._event, asyncio.Event()
        event.set()

    def current(self) -> asyncio.Event:
        return self._event


WAKER: web.AppKey[Waker] = web.AppKey("feed_waker", Waker)


def _params(request: web.Request) -> tuple[int, bool, float]:
    raw = request.query.get("since", "")
    try:
        since = int(raw)
    except ValueError:
        raise InvalidDescriptor(f"bad since {raw!r} (want a revision number)") from None
    watch = request.query.get("watch", "").lower() in {"1", "true", "yes", "on"}
    raw_wait = request.query.get("timeout", str(DEFAULT_WAIT))
    try:
        wait = float(raw_wait)
    except ValueError:
        raise InvalidDescriptor(f"bad timeout {raw_wait!r} (want seconds)") from None
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidDescriptor(f"timeout must be between 0 and {MAX_WAIT:g} seconds")
    return since, watch, wait


def _answer(engine: Engine, status: int, body: dict[str, Any]) -> web.Response:
    headers = {REVISION_HEADER: str(body["revision"]), EPOCH_HEADER: engine.changes.epoch}
    return web.json_response(body, status=status, headers=headers, dumps=json.dumps)


def _delta(engine: Engine, since: int, epoch: str | None) -> web.Response | None:
    """The answer, or None when nothing changed after ``since``."""
    log = engine.changes
    try:
        if epoch is not None and epoch != log.epoch:
            raise Expired(since, log.oldest(), log.head)
        head, changes = engine.feed(since)
    except Expired as exc:
        body = {"error": str(exc), "epoch": log.epoch, "revision": exc.head,
                "oldest": exc.oldest}
        return _answer(engine, 410, body)
    if not changes:
        return None
    return _answer(engine, 200, {"epoch": log.epoch, "revision": head, "changes": changes})


async def feed(request: web.Request, engine: Engine) -> web.Response:
    since, watch, wait = _params(request)
    epoch = request.query.get("epoch")
    answer = _delta(engine, since, epoch)
    if answer is not None or not watch or wait == 0:
        return answer or _answer(engine, 200, {"epoch": engine.changes.epoch,
                                               "revision": since, "changes": []})
    waker = request.app[WAKER]
    if waker.watchers >= MAX_WATCHERS:
        return web.json_response({"error": "too many watches, try again"}, status=503)
    waker.watchers += 1
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        while (left := until - loop.time()) > 0:
            event = waker.current()
            answer = _delta(engine, since, epoch)
            if answer is not None:
                return answer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)
    finally:
        waker.watchers -= 1
    return _delta(engine, since, epoch) or _answer(
        engine, 200, {"epoch": engine.changes.epoch, "revision": since, "changes": []})


def install(app: web.Application, engine: Engine) -> None:
    """Wake long polls on every engine change while the app runs."""

    async def start(app: web.Application) -> None:
        app[WAKER] = Waker(asyncio.get_running_loop())
        engine.changes.listen(app[WAKER].on_change)

    async def stop(app: web.Application) -> None:
        engine.changes.unlisten(app[WAKER].on_change)

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
