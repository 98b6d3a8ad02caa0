"""A fog that answers its change feed with hostile data: the controller keeps a bounded
buffer and a bounded wait, says what is wrong in one line, falls back to polling and goes
on. The fog is a real HTTP server started here (``http.server`` on a free port), one
behaviour per test, in front of the fogsim driver the controller uses."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.fog import fogsim_http
from controller.fog.cache import CachedFog
from controller.fog.client import FeedCursor, FogError, FogTimeout, InstanceState
from controller.fog.fogsim_driver import FogsimClient
from controller.fog.fogsim_http import HttpSettings
from controller.runtime.fog_informer import FogInformer, OwnerIndex, Wake

EPOCH = "e1"
CURSOR = FeedCursor(EPOCH, 5)


def record(iid: str, status: object = "RUN", **extra: object) -> dict[str, object]:
    return {"uuid": iid, "fdu_id": "f", "node": "n1", "status": status, **extra}


def answer(revision: object, *entries: object) -> bytes:
    return json.dumps({"epoch": EPOCH, "revision": revision, "changes": list(entries)}).encode()


Behaviour = Callable[["Handler"], None]


@dataclass
class Fog:
    """What the hostile fog does on a watch (``?since=``); a listing, and the node list,
    are answered sanely, so that an informer gets as far as the watch."""

    watch: Behaviour
    watches: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


class Handler(BaseHTTPRequestHandler):
    server: FogServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the controller's log, not the server's."""

    def send(self, body: bytes, status: int = 200,
             headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fog = self.server.fog
        if self.path.startswith("/nodes/list"):
            self.send(json.dumps(["n1"]).encode())
        elif "since=" in self.path:
            fog.watches += 1
            with contextlib.suppress(OSError):  # the client hung up, as a bounded reader does
                fog.watch(self)
        else:
            self.send(json.dumps([record("i1")]).encode(),
                      headers={"X-Fogsim-Revision": "5", "X-Fogsim-Epoch": EPOCH})


class FogServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fog: Fog) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fog = fog

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], FogServer]]:
    servers: list[FogServer] = []

    def start(watch: Behaviour) -> FogServer:
        server = FogServer(Fog(watch))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.fog.stop.set()
        server.shutdown()
        server.server_close()


def client(server: FogServer, timeout: float = 2.0) -> FogsimClient:
    return FogsimClient(server.url, HttpSettings(timeout=timeout, max_attempts=1))


# --- hostile answers ------------------------------------------------------------------------


def endless_chunks(h: Handler) -> None:
    """A chunked body that never ends, as fast as the client takes it."""
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b'{"kind":"node","id":"n1","record":null},' * 1000
    head = b'{"epoch":"e1","revision":6,"changes":['
    h.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
    while not h.server.fog.stop.is_set():
        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def gigabyte(h: Handler) -> None:
    """Says a gigabyte is coming, and sends as much as the client reads."""
    h.send_response(200)
    h.send_header("Content-Length", str(2**30))
    h.end_headers()
    block = b" " * 65536
    while not h.server.fog.stop.is_set():
        h.wfile.write(block)


def trickle(h: Handler) -> None:
    """Headers at once, then a byte now and then: each read succeeds, the body never ends."""
    h.send_response(200)
    h.send_header("Content-Length", "1000000")
    h.end_headers()
    h.wfile.write(b"[")
    while not h.server.fog.stop.wait(0.1):
        h.wfile.write(b"[")
        h.wfile.flush()


def silent(h: Handler) -> None:
    """Takes the request and never answers."""
    h.server.fog.stop.wait(30)


def deeply_nested(h: Handler) -> None:
    h.send(b"[" * 200_000 + b"]" * 200_000)


def not_utf8(h: Handler) -> None:
    h.send(b'\xff\xfe\x80{"epoch": "e1", \xc3\x28 "revision": 6}')


def test_an_endless_chunked_body_is_cut_at_the_answer_limit(
        serve: Callable[[Behaviour], FogServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fogsim_http, "MAX_ANSWER_BYTES", 2**20)
    fog = client(serve(endless_chunks), timeout=30.0)
    tracemalloc.start()
    try:
        with pytest.raises(FogError, match="larger than 1 MiB"):
            fog.watch_instances(CURSOR, wait=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak


def test_a_gigabyte_announced_is_refused_unread(
        serve: Callable[[Behaviour], FogServer]) -> None:
    fog = client(serve(gigabyte), timeout=30.0)
    tracemalloc.start()
    try:
        with pytest.raises(FogError, match="larger than 64 MiB"):
            fog.watch_instances(CURSOR, wait=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak


def test_a_body_sent_a_byte_at_a_time_ends_at_the_calls_deadline(
        serve: Callable[[Behaviour], FogServer]) -> None:
    """Every read gets a byte before its timeout: only the call's own deadline ends it."""
    fog = client(serve(trickle), timeout=0.5)
    with pytest.raises(FogTimeout, match="did not finish its answer"):
        fog.watch_instances(CURSOR, wait=0)


def test_a_feed_that_never_answers_times_out(serve: Callable[[Behaviour], FogServer]) -> None:
    fog = client(serve(silent), timeout=0.5)
    with pytest.raises(FogTimeout):
        fog.watch_instances(CURSOR, wait=0.2)


@pytest.mark.parametrize(("behaviour", "message"), [
    (deeply_nested, "nested too deeply"),
    (not_utf8, "non-JSON"),
    (lambda h: h.send(answer(6, {"kind": "instance", "id": "i1",
                                 "record": record("i1", "EXPLODED" * 10_000)})),
     "unknown state 'EXPLODEDEXPLODED"),
    (lambda h: h.send(answer(6, {"kind": "instance", "id": "i1",
                                 "record": record("i1", {"nested": [[[]]]})})),
     "unknown state"),
    (lambda h: h.send(b'{"epoch": "e1", "revision": 1' + b"9" * 5000 + b', "changes": []}'),
     "non-JSON"),
    (lambda h: h.send(answer(6, {"kind": "bogus", "id": "x", "record": None})),
     "unknown kind"),
    (lambda h: h.send(answer("six")), "lacks epoch, revision or changes"),
    (lambda h: h.send(answer(6, {"kind": "node", "id": "n1", "record": {"ram": [1]}})),
     "status record is malformed"),
    (lambda h: h.send(answer(6, {"kind": "node", "id": "n1",
                                 "record": {"ram": {"free": 1e400}}})),
     "has inf where a number belongs"),
])
def test_a_malformed_answer_is_one_clear_error(
        serve: Callable[[Behaviour], FogServer], behaviour: Behaviour, message: str) -> None:
    fog = client(serve(behaviour))
    with pytest.raises(FogError, match=message) as err:
        fog.watch_instances(CURSOR, wait=0)
    text = str(err.value)
    assert "\n" not in text and len(text) < 400, text


def test_odd_error_codes_and_non_utf8_text_in_a_record_are_taken_without_a_crash(
        serve: Callable[[Behaviour], FogServer]) -> None:
    body = answer(6, {"kind": "instance", "id": "i1",
                      "record": record("i1", "ERROR", error_code="x" * 6000)},
                  {"kind": "instance", "id": "i2",
                   "record": record("i2", "ERROR", error_code=10**40)})
    body = body.replace(b'"i1"', b'"i1\xff"', 1)
    feed = client(serve(lambda h: h.send(body))).watch_instances(CURSOR, wait=0)
    infos = [c.instance for c in feed.changes]
    assert [(i.state, i.error_code) for i in infos if i is not None] == [
        (InstanceState.ERROR, None), (InstanceState.ERROR, None)]


# --- the informer over a hostile feed -------------------------------------------------------


def follow(server: FogServer, caplog: pytest.LogCaptureFixture, watches: int = 3,
           wait: float = 0.2) -> tuple[FogInformer, CachedFog, list[Wake]]:
    """An informer on the hostile fog until it has asked the feed ``watches`` times."""
    fog = CachedFog(client(server, timeout=1.0))
    woken: list[Wake] = []
    informer = FogInformer(fog, OwnerIndex(), woken.append, name="hostile", wait=wait)
    caplog.set_level(logging.INFO, logger="fogstrat.fog_informer")
    informer.start()
    try:
        while server.fog.watches < watches:
            time.sleep(0.05)
    finally:
        informer.stop()
        informer.join(10.0)
    assert not informer._thread.is_alive()
    return informer, fog, woken


@pytest.mark.parametrize(("behaviour", "says"), [
    (lambda h: h.send(answer(2)), "revision went back from 5 to 2"),
    (lambda h: h.send(answer(2**70)), "revision is out of range"),
    (lambda h: h.send(answer(-1)), "revision is out of range"),
    (deeply_nested, "nested too deeply"),
    (endless_chunks, "larger than 1 MiB"),
    (silent, "no answer"),
])
def test_the_informer_logs_one_line_and_falls_back_to_polling(
        serve: Callable[[Behaviour], FogServer], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, behaviour: Behaviour, says: str) -> None:
    monkeypatch.setattr(fogsim_http, "MAX_ANSWER_BYTES", 2**20)
    server = serve(behaviour)
    informer, fog, woken = follow(server, caplog, watches=2 if behaviour is silent else 3)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert says in lines[0].getMessage() and "polling only" in lines[0].getMessage()
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in caplog.records)
    assert not informer.healthy and woken == []
    assert informer.cursor == FeedCursor(EPOCH, 5)  # where the listing left it
    assert not fog._feed_covers(fog.now())  # the fog-wide reads keep their ordinary pace


def test_a_feed_that_always_says_list_again_is_backed_off_with_one_line(
        serve: Callable[[Behaviour], FogServer], caplog: pytest.LogCaptureFixture) -> None:
    """A ``410`` to every watch: each is a full listing, so the informer stops asking at
    once and says so once."""
    server = serve(lambda h: h.send(b'{"error": "list again", "revision": 5}', status=410,
                                    headers={"X-Fogsim-Revision": "5"}))
    informer, fog, woken = follow(server, caplog, watches=5, wait=10.0)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "listed again each time" in lines[0], lines
    assert informer._relists >= 4 and woken == []
    assert not fog._feed_covers(fog.now())
