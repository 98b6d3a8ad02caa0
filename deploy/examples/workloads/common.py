"""Shared pieces of the example workloads (standard library only, Python 3.11).

The thesis trained on the UCI "condition monitoring of hydraulic systems" data set; these
workloads must run anywhere fogsim runs, without downloads, so they use a synthetic
stand-in with the same shape: standardized sensor readings -> "valve condition OK".
Every program derives the same data from ``DATA_ID``, so an aggregator, its workers and
gossip peers on different nodes agree on the shards and on the held-out test set.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FEATURES = (
    "PS1_bar", "PS2_bar", "TS1_C", "FS1_lpm", "VS1_mms", "CE_pct", "CP_kW", "EPS1_W",
)
TRAIN_ROWS = 2000
TEST_ROWS = 500
SHARDS = 4
LABEL_NOISE = 1.0  # logit noise: caps the best achievable accuracy near 0.9

Row = tuple[list[float], int]
Weights = list[float]  # one weight per feature, then the bias
Handler = Callable[[Any], tuple[int, Any]]  # parsed JSON body -> (status, JSON answer)


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Dataset:
    train: list[Row]
    test: list[Row]

    def shard(self, index: int, shards: int = SHARDS) -> list[Row]:
        """Contiguous slice ``index`` of ``shards`` of the training rows."""
        size = len(self.train) // shards
        start = (index % shards) * size
        return self.train[start:start + size]


def stable_seed(text: str) -> int:
    """A seed that is the same in every process (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def make_dataset(data_id: str) -> Dataset:
    """Rows from a fixed random linear model plus noise, all seeded by ``data_id``."""
    rng = random.Random(stable_seed(data_id))
    true_w = [rng.gauss(0.0, 1.0) for _ in FEATURES]
    true_b = rng.gauss(0.0, 0.3)

    def row() -> Row:
        x = [rng.gauss(0.0, 1.0) for _ in FEATURES]
        score = sum(w * v for w, v in zip(true_w, x, strict=True)) + true_b
        return x, int(score + rng.gauss(0.0, LABEL_NOISE) > 0)

    rows = [row() for _ in range(TRAIN_ROWS + TEST_ROWS)]
    return Dataset(train=rows[:TRAIN_ROWS], test=rows[TRAIN_ROWS:])


def shard_index(key: str, shards: int = SHARDS) -> int:
    """The shard an instance trains on: ``WORKER_INDEX`` if set, else a hash of ``key``."""
    explicit = os.environ.get("WORKER_INDEX", "").strip()
    if explicit:
        return int(explicit) % shards
    return stable_seed(key) % shards


# --------------------------------------------------------------------------- model
def zero_model() -> Weights:
    return [0.0] * (len(FEATURES) + 1)


def _sigmoid(z: float) -> float:
    z = max(-30.0, min(30.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def probability(weights: Weights, x: list[float]) -> float:
    return _sigmoid(sum(w * v for w, v in zip(weights, x, strict=False)) + weights[-1])


def train(weights: Weights, rows: list[Row], *, epochs: int = 1, lr: float = 0.05,
          seed: int = 0) -> Weights:
    """Plain SGD on the log-loss; returns new weights and leaves ``weights`` alone."""
    w = list(weights)
    order = list(range(len(rows)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            x, y = rows[i]
            g = probability(w, x) - y
            for j, v in enumerate(x):
                w[j] -= lr * g * v
            w[-1] -= lr * g
    return w


def accuracy(weights: Weights, rows: list[Row]) -> float:
    hits = sum(int(probability(weights, x) >= 0.5) == y for x, y in rows)
    return hits / len(rows) if rows else 0.0


def average(models: list[tuple[Weights, float]]) -> Weights:
    """Weighted mean of models (FedAvg); weights are e.g. sample counts."""
    total = sum(n for _, n in models) or 1.0
    return [sum(w[j] * n for w, n in models) / total for j in range(len(models[0][0]))]


def parse_weights(value: Any) -> Weights:
    """Validate a JSON weight vector; raises ValueError on anything else."""
    if (not isinstance(value, list) or len(value) != len(FEATURES) + 1
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)):
        raise ValueError(f"weights must be {len(FEATURES) + 1} finite numbers")
    return [float(v) for v in value]


def predict_response(weights: Weights, x: list[float]) -> dict[str, Any]:
    p = probability(weights, x)
    return {"label": int(p >= 0.5), "probability": round(p, 4)}


class PredictionService:
    """What both learners serve: /predict, /model, /qos (with the fault hook)."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.lock = threading.Lock()
        self.weights = zero_model()
        self.override: float | None = None
        self._rng = random.Random()
        self._acc_cache: tuple[Weights, float] | None = None

    def current(self) -> Weights:
        with self.lock:
            return list(self.weights)

    def accuracy(self) -> float:
        """Held-out accuracy of the current model, unless a fault override is set."""
        weights = self.current()
        if self.override is not None:
            return self.override
        if self._acc_cache is None or self._acc_cache[0] != weights:
            self._acc_cache = (weights, round(accuracy(weights, self.data.test), 4))
        return self._acc_cache[1]

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
            ("GET", "/predict"): self._predict_random,
            ("POST", "/predict"): self._predict,
            ("POST", "/admin/qos"): self._set_override,
        }

    def _predict_random(self, _: Any) -> tuple[int, Any]:
        x, y = self._rng.choice(self.data.test)
        return 200, {**predict_response(self.current(), x), "features": x, "expected": y}

    def _predict(self, body: Any) -> tuple[int, Any]:
        x = body.get("features") if isinstance(body, dict) else None
        if (not isinstance(x, list) or len(x) != len(FEATURES)
                or not all(isinstance(v, int | float) for v in x)):
            return 400, {"error": f"features must be a list of {len(FEATURES)} numbers"}
        return 200, predict_response(self.current(), [float(v) for v in x])

    def _set_override(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or "accuracy" not in body:
            return 400, {"error": 'expected {"accuracy": number|null}'}
        value = body["accuracy"]
        if value is not None and not isinstance(value, int | float):
            return 400, {"error": "accuracy must be a number or null"}
        self.override = None if value is None else float(value)
        log(f"qos override set to {self.override}")
        return 200, {"override": self.override}


# --------------------------------------------------------------------------- HTTP
class Unreachable(Exception):
    """Any failure to get a JSON answer from a peer: refused, timeout, non-2xx, junk."""


def http_json(method: str, url: str, body: Any = None, timeout: float = 2.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        exc.close()
        raise Unreachable(f"HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise Unreachable(str(getattr(exc, "reason", exc)) or type(exc).__name__) from None


def serve(host: str, port: int, routes: dict[tuple[str, str], Handler]) -> ThreadingHTTPServer:
    """Start a threaded JSON server in the background; handlers get the parsed body."""

    class _Handler(BaseHTTPRequestHandler):
        def _dispatch(self, method: str) -> None:
            handler = routes.get((method, self.path.split("?", 1)[0]))
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
            except ValueError:
                status, payload = 400, {"error": "body is not JSON"}
            else:
                status, payload = handler(body) if handler else (404, {"error": "not found"})
            out = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass  # the caller hung up; nothing to tell it

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the instance log

    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


# --------------------------------------------------------------------------- process
def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def stop_event() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so loops can end and the process exits 0."""
    event = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        event.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return event


def wait_forever(stop: threading.Event, server: ThreadingHTTPServer | None = None) -> None:
    """Block until a stop signal, then close ``server`` and exit 0."""
    while not stop.wait(0.5):
        pass
    if server is not None:
        server.shutdown()
        server.server_close()
    log("stopping (signal)")
    sys.exit(0)


def bind_address() -> str:
    return os.environ.get("BIND") or os.environ.get("FOS_NODE_IP") or "127.0.0.1"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def parse_duration(text: str) -> float:
    """``2s``, ``500ms``, ``1m`` or a bare number of seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) * scale


def instance_key() -> str:
    """What identifies this instance for shard choice: the fog05 instance id if any."""
    return os.environ.get("FOS_INSTANCE_ID") or f"{os.environ.get('FOS_NODE_IP')}-{os.getpid()}"
