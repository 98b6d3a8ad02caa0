"""A consumer of a fogstrat-served service that knows only its published endpoint.

It reads ``<prefix>/endpoints/<namespace>/<name>`` once, then follows it with an etcd
watch (no polling of etcd, no knowledge of architectures or the fog), and asks the URL
the key names for a prediction every ``interval`` seconds, and at once when the key
changes. Every request is recorded with the endpoint it was sent to, so a test can check
that answers came only from what the controller said serves, and a benchmark can read
how long the service was down around a fault.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import pyetcd
from pyetcd.events import DeleteEvent, PutEvent


@dataclass(frozen=True)
class Published:
    """One value of the endpoint key as the watch delivered it."""

    at: float  # time.monotonic() of arrival
    url: str | None
    architecture: str | None


NOTHING = Published(0.0, None, None)


@dataclass(frozen=True)
class Answer:
    """One request: sent at ``sent`` to what ``endpoint`` named, done at ``done``."""

    sent: float
    done: float
    endpoint: Published
    ok: bool


def decode_endpoint(value: bytes, at: float) -> Published:
    """The key's JSON value (``{"url", "architecture", ...}``); anything else names
    nothing, as a consumer must read a value it cannot use."""
    try:
        doc = json.loads(value)
    except ValueError:
        return Published(at, None, None)
    if not isinstance(doc, dict):
        return Published(at, None, None)
    url, arch = doc.get("url"), doc.get("architecture")
    return Published(at, url if isinstance(url, str) and url else None,
                     arch if isinstance(arch, str) and arch else None)


def gaps(answers: list[Answer], start: float, end: float) -> list[tuple[float, float]]:
    """The stretches of [start, end] with no answer: (from, to), from the last answer
    before each stretch (or ``start``) to the first answer after it (or ``end``)."""
    out: list[tuple[float, float]] = []
    last_ok = start
    for a in answers:
        if not a.ok or a.done < start:
            continue
        if a.done > end:
            break
        out.append((last_ok, a.done))
        last_ok = a.done
    out.append((last_ok, end))
    return out


@dataclass
class EndpointClient:
    """Follows ``key`` on the etcd at ``endpoint`` (``host:port``); see the module doc."""

    etcd: str
    key: str
    interval: float = 0.05
    request_timeout: float = 0.5
    published: list[Published] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    watch_errors: int = 0
    _current: Published = NOTHING
    _changed: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _client: Any = None
    _watch_id: Any = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        host, port = self.etcd.rsplit(":", 1)
        self._client = pyetcd.client(host, int(port))
        response = self._client.get_response(self.key.encode())
        now = time.monotonic()
        first = decode_endpoint(response.kvs[0].value, now) if response.kvs else \
            Published(now, None, None)
        self._set(first)
        self._watch_id = self._client.add_watch_callback(
            self.key.encode(), self._on_watch, start_revision=response.header.revision + 1)
        self._thread = threading.Thread(target=self._run, name="endpoint-client", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._client is not None:
            if self._watch_id is not None:
                self._client.cancel_watch(self._watch_id)
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- following the key ------------------------------------------------------------

    def _on_watch(self, response: Any) -> None:
        now = time.monotonic()
        if isinstance(response, Exception):  # the stream broke: the caller sees the count
            self.watch_errors += 1
            return
        for event in getattr(response, "events", ()):
            if isinstance(event, PutEvent):
                self._set(decode_endpoint(bytes(event.value), now))
            elif isinstance(event, DeleteEvent):
                self._set(Published(now, None, None))

    def _set(self, published: Published) -> None:
        with self._lock:
            self._current = published
            self.published.append(published)
        self._changed.set()

    @property
    def current(self) -> Published:
        with self._lock:
            return self._current

    # --- asking the service -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.clear()
            target = self.current
            sent = time.monotonic()
            ok = target.url is not None and self._ask(target.url)
            self.answers.append(Answer(sent, time.monotonic(), target, ok))
            self._changed.wait(self.interval)

    def _ask(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=self.request_timeout) as resp:
                return resp.status == 200 and "label" in json.loads(resp.read())
        except (OSError, ValueError, http.client.HTTPException):
            return False  # refused, reset, cut short or not JSON: not an answer

    # --- reading what happened --------------------------------------------------------

    def mark(self) -> float:
        return time.monotonic()

    def answered_since(self, since: float, architecture: str | None = None) -> bool:
        return self.first_answer(since, architecture) is not None

    def first_answer(self, since: float, architecture: str | None = None) -> Answer | None:
        """The first answer sent at or after ``since`` (by ``architecture``, if given)."""
        for a in list(self.answers):
            if a.ok and a.sent >= since and (
                    architecture is None or a.endpoint.architecture == architecture):
                return a
        return None

    def downtime(self, start: float, end: float) -> float:
        """Longest stretch of [start, end] without an answer (seconds)."""
        return max(b - a for a, b in gaps(list(self.answers), start, end))
