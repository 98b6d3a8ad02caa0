"""The story's endpoint-following client against a real etcd and real HTTP services: it
asks what the key names, moves when the key changes (by its watch, at once), asks
nothing while the key names nothing, and reads its outages from what it recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.store import Store
from controller.store.keys import endpoint_key
from tests.support.endpoint_client import Answer, EndpointClient, decode_endpoint, gaps
from tests.support.etcd import EtcdServer


class _Predict(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"label": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def services() -> Iterator[list[str]]:
    """Two prediction services' URLs."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Predict) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{srv.server_address[1]}/predict" for srv in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def _value(url: str | None, arch: str | None) -> bytes:
    return json.dumps({"url": url, "architecture": arch, "serving": url is not None}).encode()


def _until(pred: Callable[[], Any], what: str) -> Any:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if got := pred():
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_follows_the_key_and_records_what_answered(etcd: EtcdServer, store: Store,
                                                   prefix: str, services: list[str]) -> None:
    key = endpoint_key(prefix, "default", "svc")
    first, second = services
    store.put(key, _value(first, "a"))
    with EndpointClient(etcd.endpoint, key) as client:
        assert client.current.url == first  # read before the watch starts
        t0 = client.mark()
        _until(lambda: client.first_answer(t0, "a"), "an answer from a")

        store.put(key, _value(None, None))  # nothing serves
        _until(lambda: client.current.url is None, "the key to name nothing")
        t1 = client.mark()
        _until(lambda: len([a for a in client.answers if a.sent > t1]) >= 3, "3 requests")
        assert not client.answered_since(t1)

        store.put(key, _value(second, "b"))
        got = _until(lambda: client.first_answer(t1, "b"), "an answer from b")
        assert got.endpoint.url == second

        store.delete(key)
        _until(lambda: client.current.url is None, "the key's deletion")

    assert [p.architecture for p in client.published] == ["a", None, "b", None]
    assert all(a.endpoint.url in (first, second) for a in client.answers if a.ok)
    assert client.watch_errors == 0
    outage = client.downtime(t1, got.done)
    assert outage > 0
    assert got.done - outage >= t0  # the outage began after the first answer


def test_a_value_that_names_nothing_usable_is_nothing() -> None:
    assert decode_endpoint(b"not json", 1.0).url is None
    assert decode_endpoint(b"[1, 2]", 1.0).url is None
    assert decode_endpoint(b'{"url": 7, "architecture": "a"}', 1.0).url is None
    assert decode_endpoint(b'{"url": "http://x/p", "architecture": "a"}', 1.0).url == "http://x/p"


def test_gaps_run_from_answer_to_answer() -> None:
    nothing = decode_endpoint(b"{}", 0.0)
    answers = [Answer(s, d, nothing, ok) for s, d, ok in
               [(0.0, 0.1, True), (0.2, 0.3, False), (0.4, 0.5, False), (0.6, 0.9, True)]]
    assert gaps(answers, 0.0, 2.0) == [(0.0, 0.1), (0.1, 0.9), (0.9, 2.0)]
    assert gaps(answers, 0.2, 0.8) == [(0.2, 0.8)]
