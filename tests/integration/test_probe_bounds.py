"""Probes against hostile services: real sockets that stream without end, drip one byte at
a time, or send headers without end. Each probe must end with a failed outcome naming the
bound it hit, and the probing process must not grow."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.api.models import HttpCheck, ProbeSpec, PrometheusQuery, QosCheck
from controller.arch.health import run_probes
from controller.arch.httpget import MAX_ANSWER_BYTES
from controller.arch.probes import Outcome, ProbeResult
from controller.arch.record import ArchitectureRecord, ReplicaRecord

Behaviour = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """A TCP server on a free loopback port answering each connection with ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.threads: list[threading.Thread] = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(4096)  # the request
                self.behaviour(conn, self.stop)
            except OSError:
                pass  # the probe hung up: that is the point

    def close(self) -> None:
        self.stop.set()
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.accepter.join(5)
        for t in self.threads:
            t.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], int]]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour) -> int:
        servers.append(RawServer(behaviour))
        return servers[-1].port

    yield start
    for s in servers:
        s.close()


def endless_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    block = b"[" * 8192
    while not stop.is_set():
        conn.sendall(block)


def endless_chunks(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"2000\r\n" + b"x" * 0x2000 + b"\r\n")


def endless_headers(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stop.is_set():
        conn.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")


def drip(conn: socket.socket, stop: threading.Event) -> None:
    """Slow loris: a byte every tenth of a second, each well inside any per-read timeout."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 10_000:
        if stop.wait(0.1):
            return
        conn.sendall(bytes([byte]))


def huge_length(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n{")
    stop.wait(30)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)


def answer(body: bytes, *, chunked: bool = False) -> Behaviour:
    def send(conn: socket.socket, stop: threading.Event) -> None:
        if chunked:
            half = len(body) // 2
            parts = [body[:half], body[half:]]
            framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return send


def probe(p: ProbeSpec, timeout: float = 1.0) -> ProbeResult:
    record = ArchitectureRecord()
    record.put("e", 0, ReplicaRecord("f", "u", node_ip="127.0.0.1"))
    return run_probes([p], record, None, timeout=timeout)[0]


def http(port: int) -> ProbeSpec:
    return ProbeSpec("p", "http", "e", http=HttpCheck(port))


def qos(port: int, field: str = "accuracy") -> ProbeSpec:
    return ProbeSpec("q", "qos", "e", qos=QosCheck(http=HttpCheck(port, "/qos"), field=field,
                                                min=0.5))


def prom(port: int) -> ProbeSpec:
    return ProbeSpec("m", "qos", None, qos=QosCheck(
        prometheus=PrometheusQuery(f"http://127.0.0.1:{port}", "acc"), min=0.5))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.parametrize("behaviour", [endless_body, endless_chunks, endless_headers,
                                       huge_length])
def test_an_answer_larger_than_the_budget_fails_the_probe(
        serve: Callable[[Behaviour], int], behaviour: Behaviour) -> None:
    port = serve(behaviour)
    for p in (http(port), qos(port)):
        got = probe(p, timeout=30.0)
        assert got.outcome is Outcome.FAILURE, got
        assert f"probe answer exceeds {MAX_ANSWER_BYTES} bytes" in got.message
    assert probe(prom(port), timeout=30.0).outcome is Outcome.UNKNOWN  # backend ≠ service


def test_a_slow_drip_fails_at_the_deadline_of_the_whole_exchange(
        serve: Callable[[Behaviour], int]) -> None:
    port = serve(drip)
    got = probe(http(port), timeout=1.0)
    assert got.outcome is Outcome.FAILURE
    assert "probe took longer than 1s" in got.message, got.message


def test_no_answer_at_all_stays_unknown(serve: Callable[[Behaviour], int]) -> None:
    got = probe(http(serve(silent)), timeout=0.5)
    assert got.outcome is Outcome.UNKNOWN and "timed out after 0.5s" in got.message


def test_endless_answers_do_not_grow_the_process(serve: Callable[[Behaviour], int]) -> None:
    ports = [serve(b) for b in (endless_body, endless_chunks, endless_headers)]
    probe(qos(ports[0]), timeout=30.0)  # warm up allocator and imports
    before = rss_kib()
    for _ in range(30):
        for port in ports:
            assert probe(qos(port), timeout=30.0).outcome is Outcome.FAILURE
    grown = rss_kib() - before
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB over 90 endless answers"


def test_well_behaved_answers_still_pass(serve: Callable[[Behaviour], int]) -> None:
    good = json.dumps({"accuracy": 0.9, "pad": "x" * 1000}).encode()
    for port in (serve(answer(good)), serve(answer(good, chunked=True))):
        assert probe(http(port)).outcome is Outcome.SUCCESS
        got = probe(qos(port))
        assert got.outcome is Outcome.SUCCESS and got.value == 0.9, got
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "0.7"]}]}}
    got = probe(prom(serve(answer(json.dumps(vector).encode(), chunked=True))))
    assert got.outcome is Outcome.SUCCESS and got.value == 0.7


def test_a_deeply_nested_answer_is_not_json(serve: Callable[[Behaviour], int]) -> None:
    got = probe(qos(serve(answer(b"[" * 60_000))))
    assert got.outcome is Outcome.UNKNOWN and "not JSON" in got.message
