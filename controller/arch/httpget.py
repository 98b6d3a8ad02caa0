"""One bounded HTTP GET for the probes: a byte budget and a deadline on the whole exchange.

A probed service is not trusted: it may stream an endless body, drip one byte a second,
or send headers without end. General-purpose clients bound only each socket operation,
so any of those holds a probe worker (and grows its memory) for as long as the service
likes. Here connect, TLS handshake, request, headers and body share one deadline, and the
answer (headers and body together) may not exceed ``limit`` bytes. The request asks for
``Connection: close`` and no content coding, so the answer is framed by Content-Length,
chunked encoding or the end of the connection.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_ANSWER_BYTES = 64 * 1024
"""The most a probe reads of one answer: a health or metrics answer is a few hundred bytes."""

_RECV = 16 * 1024
_NO_BODY = frozenset({204, 304})
_tls: ssl.SSLContext | None = None


class ProbeError(Exception):
    """The exchange did not produce a usable answer; ``str()`` is one line for a status."""


class Refused(ProbeError):
    """Nothing listens there (connection refused or reset): the endpoint is dead."""


class Unanswered(ProbeError):
    """Nothing came back in time, or the network failed: we could not tell."""


class BadAnswer(ProbeError):
    """The service answered, but too much, too slowly or not in HTTP."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:  # building one loads the CA store: do it once
        _tls = ssl.create_default_context()
    return _tls


class _Conn:
    """A socket read against one deadline and one byte budget."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float, limit: int) -> None:
        self.sock = sock
        self.deadline = deadline
        self.timeout = timeout
        self.limit = limit
        self.buf = bytearray()
        self.received = 0
        self.eof = False

    def late(self) -> ProbeError:
        if self.received == 0:
            return Unanswered(f"timed out after {self.timeout:g}s")
        return BadAnswer(f"probe took longer than {self.timeout:g}s "
                         f"({self.received} bytes of answer by then)")

    def fill(self) -> None:
        """Read more into ``buf``; sets ``eof`` when the peer closed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.late()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(min(_RECV, self.limit + 1 - self.received))
        except TimeoutError:
            raise self.late() from None
        if not data:
            self.eof = True
            return
        self.received += len(data)
        if self.received > self.limit:
            raise BadAnswer(f"probe answer exceeds {self.limit} bytes")
        self.buf += data

    def take_until(self, marker: bytes) -> bytes:
        """Everything up to ``marker`` (consumed, not returned)."""
        while (at := self.buf.find(marker)) < 0:
            self.fill()
            if self.eof:
                raise BadAnswer("answer ended early")
        out = bytes(self.buf[:at])
        del self.buf[:at + len(marker)]
        return out

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.fill()
            if self.eof:
                raise BadAnswer("answer ended early")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self) -> bytes:
        while not self.eof:
            self.fill()
        return bytes(self.buf)


def _head(conn: _Conn) -> tuple[int, dict[str, str]]:
    lines = conn.take_until(b"\r\n\r\n").split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise BadAnswer("answer is not HTTP")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return int(parts[1]), headers


def _chunked(conn: _Conn) -> bytes:
    body = bytearray()
    while True:
        size_line = conn.take_until(b"\r\n").split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadAnswer("malformed chunked answer") from None
        if size == 0:
            return bytes(body)  # trailers, if any, are not needed
        body += conn.take(size)
        conn.take(2)


def _body(conn: _Conn, status: int, headers: dict[str, str]) -> bytes:
    if status in _NO_BODY or 100 <= status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(conn)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadAnswer("malformed Content-Length")
        if int(length) > conn.limit:
            raise BadAnswer(f"probe answer exceeds {conn.limit} bytes")
        return conn.take(int(length))
    return conn.rest()


def _connect(host: str, port: int, tls: bool, deadline: float, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise Unanswered(f"timed out after {timeout:g}s") from None
    except (ConnectionRefusedError, ConnectionResetError):
        raise Refused("connection refused") from None
    except OSError as exc:
        raise Unanswered(" ".join(str(exc).split()) or type(exc).__name__) from None
    if not tls:
        return sock
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        return _tls_context().wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        raise Unanswered(f"timed out after {timeout:g}s") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise Unanswered(f"TLS: {' '.join(str(exc).split())}") from None


def get(url: str, timeout: float, *, limit: int = MAX_ANSWER_BYTES,
        accept: str = "*/*") -> Answer:
    """GET ``url`` within ``timeout`` seconds in all, reading at most ``limit`` bytes.

    Raises :class:`Refused`, :class:`Unanswered` or :class:`BadAnswer`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadAnswer(f"cannot probe {url!r}: not an http(s) URL")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    sock = _connect(parts.hostname, port, tls, deadline, timeout)
    conn = _Conn(sock, deadline, timeout, limit)
    try:
        request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                   f"User-Agent: fogstrat-probe\r\nAccept: {accept}\r\n"
                   "Connection: close\r\n\r\n")
        sock.sendall(request.encode("latin-1", "replace"))
        status, headers = _head(conn)
        return Answer(status, _body(conn, status, headers))
    except TimeoutError:
        raise conn.late() from None
    except (ConnectionRefusedError, ConnectionResetError):
        raise Refused("connection reset") from None
    except OSError as exc:
        raise Unanswered(" ".join(str(exc).split()) or type(exc).__name__) from None
    finally:
        sock.close()
