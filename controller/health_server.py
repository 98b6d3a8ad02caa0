"""The controller's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz``.

- ``/metrics``: the :class:`~controller.metrics.Metrics` registry (text format, or
  OpenMetrics when the scraper asks for it).
- ``/healthz`` (liveness): 200 only while the reconcile loop keeps completing — the loop
  calls :meth:`Liveness.beat` after each pass, and a beat older than the staleness window
  turns the answer into 503 with a one-line reason (as Patroni's ``/liveness``). A
  controller whose watches silently stalled is restarted instead of staying green.
- ``/readyz`` (readiness): 200 when the readiness callable says so (the controller's: the
  watches are synced and etcd serves requests that need its quorum); 503 with its reason
  otherwise.

The server runs in a daemon thread (:class:`http.server.ThreadingHTTPServer`); port 0
picks a free port, exposed as :attr:`HealthServer.port`. With a web config
(:mod:`controller.webconfig`) it serves TLS only and asks for basic auth on every path;
the TLS handshake runs in the connection's own thread, under the same timeout as a
request, so a client that never completes it holds nothing but that thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import choose_encoder

from controller.api.limits import one_line
from controller.metrics import Metrics
from controller.webconfig import WebConfig

__all__ = [
    "DEFAULT_METRICS_ADDR",
    "HealthServer",
    "Liveness",
    "ReadinessCheck",
    "parse_addr",
]

log = logging.getLogger(__name__)

DEFAULT_METRICS_ADDR = "127.0.0.1:9469"
CONNECTION_TIMEOUT = 10.0
"""Seconds a client may take to complete a TLS handshake or send a request."""

#: Returns ``True``/``False``, or ``(ready, reason)``; the reason is shown on 503.
ReadinessCheck = Callable[[], "bool | tuple[bool, str]"]


def parse_addr(addr: str) -> tuple[str, int]:
    """Parse ``host:port`` (``:9469``, ``[::1]:9469``, ``127.0.0.1:0``) into (host, port)."""
    host, sep, port_s = addr.rpartition(":")
    if not sep or not port_s.isdigit():
        raise ValueError(f"invalid address {addr!r}: expected host:port")
    port = int(port_s)
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid address {addr!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", port


class Liveness:
    """When the reconcile loop last completed, and whether that is recent enough.

    Before the first :meth:`beat`, the time of construction counts as a beat, so a
    controller gets one staleness window to finish its first pass.
    """

    def __init__(
        self,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError("liveness window must be positive")
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._beats = 0

    def beat(self) -> None:
        """Record that the reconcile loop completed a pass."""
        with self._lock:
            self._last = self._clock()
            self._beats += 1

    def age(self) -> float:
        """Seconds since the last beat (or since construction)."""
        with self._lock:
            return max(0.0, self._clock() - self._last)

    def check(self) -> tuple[bool, str]:
        """``(alive, one-line reason)``."""
        age = self.age()
        with self._lock:
            beats = self._beats
        if age <= self.window:
            if beats == 0:
                return True, f"ok: starting, first reconcile pass pending ({age:.1f}s)"
            return True, f"ok: reconcile loop completed {age:.1f}s ago"
        if beats == 0:
            return False, (
                f"reconcile loop has not completed a pass in {age:.1f}s (limit {self.window:g}s)"
            )
        return False, (f"reconcile loop last completed {age:.1f}s ago (limit {self.window:g}s)")


class _Handler(BaseHTTPRequestHandler):
    server_version = "fogstrat"
    sys_version = ""
    # Set on the subclass created per server.
    owner: HealthServer
    timeout = CONNECTION_TIMEOUT

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        web = self.owner.web
        try:
            if web is not None and not web.authorized(self.headers.get("Authorization")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="fogstrat"')
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                body = encoder(self.owner.metrics.registry)
                self._send(200, body, content_type, send_body)
            elif path in ("/healthz", "/livez"):
                ok, reason = self.owner.liveness.check()
                self._send_text(200 if ok else 503, reason, send_body)
            elif path == "/readyz":
                ok, reason = self.owner.readiness_status()
                self._send_text(200 if ok else 503, reason, send_body)
            elif path == "/":
                self._send_text(200, "fogstrat controller: /metrics /healthz /readyz", send_body)
            else:
                self._send_text(404, f"not found: {path}", send_body)
        except BrokenPipeError:  # scraper went away
            pass
        except Exception:
            log.exception("health server: error serving %s", path)
            with contextlib.suppress(OSError):
                self._send_text(500, "internal error", send_body)

    def _send_text(self, status: int, text: str, send_body: bool) -> None:
        body = (one_line(text) + "\n").encode()
        self._send(status, body, "text/plain; charset=utf-8", send_body)

    def _send(self, status: int, body: bytes, content_type: str, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health server: " + format, *args)


class _Server(ThreadingHTTPServer):
    """Plain HTTP, or TLS with the handshake deferred to the connection's thread."""

    tls: ssl.SSLContext | None = None
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(CONNECTION_TIMEOUT)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:  # plain HTTP, bad certificate, gone
                log.debug("health server: TLS handshake with %s failed: %s",
                          client_address, exc)
                return
        super().finish_request(request, client_address)


class HealthServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` on ``addr`` (``host:port``)."""

    def __init__(
        self,
        metrics: Metrics,
        liveness: Liveness,
        readiness: ReadinessCheck | None = None,
        addr: str = DEFAULT_METRICS_ADDR,
        web: WebConfig | None = None,
    ) -> None:
        self.metrics = metrics
        self.web = web
        self._tls = web.tls.context() if web is not None and web.tls is not None else None
        self.liveness = liveness
        self.readiness = readiness
        self.host, self._requested_port = parse_addr(addr)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def readiness_status(self) -> tuple[bool, str]:
        """Run the readiness callable; an exception means not ready."""
        if self.readiness is None:
            return True, "ok"
        try:
            result = self.readiness()
        except Exception as exc:  # the check itself failed: not ready, say why briefly
            return False, one_line(f"readiness check failed: {type(exc).__name__}: {exc}")
        if isinstance(result, tuple):
            ready, reason = result
            return bool(ready), reason or ("ok" if ready else "not ready")
        return bool(result), "ok" if result else "not ready"

    @property
    def port(self) -> int:
        """The bound port (useful with port 0); the requested one before :meth:`start`."""
        if self._httpd is None:
            return self._requested_port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread. Raises ``OSError`` if the port is taken."""
        if self._httpd is not None:
            return
        handler = type("Handler", (_Handler,), {"owner": self})
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_cls = type("Server", (_Server,), {"address_family": family, "tls": self._tls})
        httpd = server_cls((self.host, self._requested_port), handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="fogstrat-health-server",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /metrics /healthz /readyz on %s:%d (%s, %s)", self.host, self.port,
                 "TLS" if self._tls else "plain HTTP",
                 "basic auth" if self.web is not None and self.web.users else "no auth")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port. Safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
