"""Federated-learning aggregator: FedAvg over worker updates, and the prediction service.

Env: BIND (default FOS_NODE_IP, else 127.0.0.1), PORT (8080), ROUNDS (10), WORKERS (2),
DATA_ID (seeds the data set), DATA_DIR and REGION (logged only), ROUND_TIMEOUT (5s).

A round closes when WORKERS distinct workers have posted for it, or ROUND_TIMEOUT after
its first update, so a lost worker slows training down instead of stalling it. After
ROUNDS rounds the model is final: updates are still acknowledged (workers keep running)
but no longer applied.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import common

PRETRAIN_ROWS = 8  # enough for a meaningful model, too few for a good one
ACTIVE_WINDOW = 30.0  # seconds a worker counts in /qos "workers" after its last update


class Aggregator(common.PredictionService):
    def __init__(self, data: common.Dataset, rounds: int, workers: int,
                 round_timeout: float) -> None:
        super().__init__(data)
        self.weights = common.train(common.zero_model(), data.train[:PRETRAIN_ROWS])
        self.rounds, self.workers, self.round_timeout = rounds, workers, round_timeout
        self.round = 0
        self.updates: dict[str, tuple[common.Weights, float]] = {}
        self.round_started = 0.0
        self.last_seen: dict[str, float] = {}

    def routes(self) -> dict[tuple[str, str], common.Handler]:
        return {
            **super().routes(),
            ("GET", "/qos"): self._qos,
            ("GET", "/model"): self._model,
            ("POST", "/update"): self._update,
        }

    def done(self) -> bool:
        return self.round >= self.rounds

    def active_workers(self) -> int:
        """Workers that posted in the last ACTIVE_WINDOW seconds."""
        now = time.monotonic()
        with self.lock:
            return sum(now - t < ACTIVE_WINDOW for t in self.last_seen.values())

    def _qos(self, _: Any) -> tuple[int, Any]:
        return 200, {"accuracy": self.accuracy(), "round": self.round,
                     "workers": self.active_workers(), "done": self.done()}

    def _model(self, _: Any) -> tuple[int, Any]:
        with self.lock:
            return 200, {"weights": self.weights, "round": self.round, "done": self.done(),
                         "features": list(common.FEATURES)}

    def _update(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"error": "expected a JSON object"}
        try:
            weights = common.parse_weights(body.get("weights"))
            samples = float(body.get("samples", 1))
            rnd = int(body.get("round", -1))
        except (TypeError, ValueError) as exc:
            return 400, {"error": str(exc)}
        worker = str(body.get("worker") or uuid.uuid4())  # anonymous posts count separately
        with self.lock:
            self.last_seen[worker] = time.monotonic()
            if self.done() or rnd != self.round or samples <= 0:
                return 200, {"accepted": False, "round": self.round, "done": self.done()}
            if not self.updates:
                self.round_started = time.monotonic()
            self.updates[worker] = (weights, samples)
            if len(self.updates) >= self.workers:
                self._close_round()
            return 200, {"accepted": True, "round": self.round, "done": self.done()}

    def close_stale_round(self) -> None:
        """Average what arrived if the round has waited ROUND_TIMEOUT for the rest."""
        with self.lock:
            waited = time.monotonic() - self.round_started
            if self.updates and not self.done() and waited >= self.round_timeout:
                self._close_round()

    def _close_round(self) -> None:
        self.weights = common.average(list(self.updates.values()))
        self.updates.clear()
        self.round += 1
        common.log(f"round {self.round}/{self.rounds} closed; accuracy "
                   f"{common.accuracy(self.weights, self.data.test):.3f}")


def main() -> None:
    stop = common.stop_event()
    host, port = common.bind_address(), common.env_int("PORT", 8080)
    data_id = os.environ.get("DATA_ID") or "hydraulic-system"
    agg = Aggregator(common.make_dataset(data_id), rounds=common.env_int("ROUNDS", 10),
                     workers=max(1, common.env_int("WORKERS", 2)),
                     round_timeout=common.parse_duration(os.environ.get("ROUND_TIMEOUT", "5s")))
    try:
        server = common.serve(host, port, agg.routes())
    except OSError as exc:
        common.log(f"aggregator cannot bind {host}:{port}: {exc}")
        raise SystemExit(1) from None
    common.log(f"aggregator listening on {host}:{port}; data {data_id!r} "
               f"(dir {os.environ.get('DATA_DIR', '-')}, region {os.environ.get('REGION', '-')}); "
               f"{agg.rounds} rounds, {agg.workers} workers/round; "
               f"initial accuracy {agg.accuracy():.3f}")

    def ticker() -> None:
        while not stop.wait(0.5):
            agg.close_stale_round()

    threading.Thread(target=ticker, name="rounds", daemon=True).start()
    common.wait_forever(stop, server)


if __name__ == "__main__":
    main()
