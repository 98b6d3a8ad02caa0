"""A user of the prediction service, asking for predictions throughout a scenario.

It follows whatever the fog runs (the federated aggregator on :8080 or any gossip peer on
:8090), as a client with service discovery would, and records when it got an answer, so
the test can report how long the service was down during a failover or a failback.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PORTS = {".aggregator.": 8080, ".peer.": 8090}


def descriptor_ids(state: dict[str, Any]) -> dict[str, str]:
    """FDU uuid -> descriptor id (``fs.<ns>.<as>.<arch>.<entity>.<replica>``)."""
    return {str(d.get("uuid")): str(d.get("id")) for d in state.get("fdus", [])}


@dataclass
class ServiceProbe:
    fog_state: Callable[[], dict[str, Any]]
    interval: float = 0.1
    samples: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _endpoints: list[str] = field(default_factory=list)
    _refreshed: float = 0.0

    def start(self) -> ServiceProbe:
        self._thread = threading.Thread(target=self._run, name="service-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _refresh(self) -> None:
        try:
            state = self.fog_state()
        except OSError:
            return
        ips = {n["uuid"]: n["ip"] for n in state.get("nodes", [])}
        ids = descriptor_ids(state)
        endpoints = []
        for inst in state.get("instances", []):
            if inst.get("status") != "RUN":
                continue
            for marker, port in PORTS.items():
                if marker in ids.get(inst.get("fdu_id", ""), "") and inst.get("node") in ips:
                    endpoints.append(f"http://{ips[inst['node']]}:{port}/predict")
        self._endpoints = endpoints
        self._refreshed = time.monotonic()

    def _ask(self) -> bool:
        for url in self._endpoints:
            try:
                with urllib.request.urlopen(url, timeout=0.5) as resp:
                    if resp.status == 200 and "label" in json.loads(resp.read()):
                        return True
            except (OSError, ValueError):
                continue
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._refreshed > 0.5:
                self._refresh()
            self.samples.append((time.monotonic(), self._ask()))
            self._stop.wait(self.interval)

    def mark(self) -> float:
        return time.monotonic()

    def answered_since(self, since: float) -> bool:
        return any(ok for t, ok in self.samples if t >= since)

    def downtime(self, start: float, end: float) -> float:
        """Longest stretch without an answer between ``start`` and ``end`` (seconds)."""
        worst, last_ok = 0.0, start
        for t, ok in self.samples:
            if t < start or t > end:
                continue
            if ok:
                worst = max(worst, t - last_ok)
                last_ok = t
        return max(worst, end - last_ok)
