"""Serve-phase client: keeps asking the service for predictions and measures what it gets.

Env: SERVICE (``http://ip:port`` for the aggregator, or peer IPs / ``ip:port`` entries
separated by spaces or commas, for gossip), SERVICE_PORT (port for bare IPs, default 8090),
CLIENT_PORT (8099), BIND (default FOS_NODE_IP, else 127.0.0.1), REQUEST_INTERVAL (``200ms``),
REQUEST_TIMEOUT (``1s``), DATA_DIR (logged only).

It is the service's user-side view: its ``/qos`` says how much of the last minute the
service answered (the e2e test derives failover downtime from it), and every up/down
transition is printed as one JSON line so the instance log shows the outages.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from typing import Any

import common

WINDOW = 60.0  # seconds of history behind successRate and the latency percentiles


def targets(service: str, default_port: int) -> list[str]:
    """Base URLs to try, in round-robin order."""
    out = []
    for entry in (s.rstrip("/") for s in service.replace(",", " ").split()):
        if not entry:
            continue
        if "://" not in entry:
            entry = f"http://{entry}" if ":" in entry else f"http://{entry}:{default_port}"
        out.append(entry)
    return out


class Client:
    def __init__(self, urls: list[str], timeout: float) -> None:
        self.urls, self.timeout = urls, timeout
        self.lock = threading.Lock()
        self.window: collections.deque[tuple[float, bool, float]] = collections.deque()
        self.requests = self.failures = 0
        self.last_success: float | None = None
        self.state = "unknown"
        self.since = time.time()
        self._next = 0

    def call_once(self) -> None:
        """One prediction; on failure try the other targets before counting it as lost."""
        start, error, served_by = time.monotonic(), "", ""
        for i in range(len(self.urls)):
            url = self.urls[(self._next + i) % len(self.urls)]
            try:
                answer = common.http_json("GET", f"{url}/predict", timeout=self.timeout)
                if not isinstance(answer, dict) or "label" not in answer:
                    raise common.Unreachable("answer has no label")
            except common.Unreachable as exc:
                error = f"{url}: {exc}"
                continue
            served_by = url
            self._next = (self._next + i + 1) % len(self.urls)
            break
        self.record(bool(served_by), (time.monotonic() - start) * 1000.0, served_by or error)

    def record(self, ok: bool, latency_ms: float, detail: str) -> None:
        now = time.time()
        with self.lock:
            self.requests += 1
            self.failures += not ok
            if ok:
                self.last_success = now
            self.window.append((now, ok, latency_ms))
            while self.window and self.window[0][0] < now - WINDOW:
                self.window.popleft()
            state = "up" if ok else "down"
            if state == self.state:
                return
            event = {"event": state, "at": round(now, 3), "previous": self.state,
                     "previousFor": round(now - self.since, 3),
                     ("servedBy" if ok else "error"): detail}
            self.state, self.since = state, now
        print(json.dumps(event), flush=True)

    def qos(self, _: Any = None) -> tuple[int, Any]:
        now = time.time()
        with self.lock:
            recent = [(ok, ms) for t, ok, ms in self.window if t >= now - WINDOW]
            latencies = sorted(ms for ok, ms in recent if ok)
            return 200, {
                "successRate": round(sum(ok for ok, _ in recent) / len(recent), 4)
                if recent else None,
                "p50Ms": percentile(latencies, 0.50),
                "p99Ms": percentile(latencies, 0.99),
                "requests": self.requests,
                "failures": self.failures,
                "lastSuccess": self.last_success,
                "windowRequests": len(recent),
                "state": self.state,
            }


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 2)


def main() -> None:
    stop = common.stop_event()
    service = os.environ.get("SERVICE", "")
    urls = targets(service, common.env_int("SERVICE_PORT", 8090))
    if not urls:
        common.log("client: SERVICE is not set; nothing to call")
        raise SystemExit(2)
    interval = common.parse_duration(os.environ.get("REQUEST_INTERVAL") or "200ms")
    timeout = common.parse_duration(os.environ.get("REQUEST_TIMEOUT") or "1s")
    client = Client(urls, timeout)
    host, port = common.bind_address(), common.env_int("CLIENT_PORT", 8099)
    routes: dict[tuple[str, str], common.Handler] = {
        ("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
        ("GET", "/qos"): client.qos,
    }
    try:
        server = common.serve(host, port, routes)
    except OSError as exc:
        common.log(f"client cannot bind {host}:{port}: {exc}")
        raise SystemExit(1) from None
    common.log(f"client serving /qos on {host}:{port}; calling {', '.join(urls)} /predict "
               f"every {interval}s, timeout {timeout}s "
               f"(data dir {os.environ.get('DATA_DIR', '-')})")

    def loop() -> None:
        while not stop.is_set():
            began = time.monotonic()
            client.call_once()
            stop.wait(max(0.0, interval - (time.monotonic() - began)))

    threading.Thread(target=loop, name="calls", daemon=True).start()
    common.wait_forever(stop, server)


if __name__ == "__main__":
    main()
