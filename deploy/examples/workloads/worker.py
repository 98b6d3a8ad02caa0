"""Federated-learning worker: pull the global model, train on the local shard, push it back.

Env: AGGREGATOR (``http://ip:port``, required), DATA_ID (seeds the data set), WORKER_INDEX
(shard override; default: hash of FOS_INSTANCE_ID), DATA_DIR (logged only).

The aggregator may be down (not yet started, failed over, crashed); the worker then
retries with capped exponential backoff and never exits on its own, so the controller
sees a healthy FDU that resumes as soon as an aggregator answers again.
"""

from __future__ import annotations

import os
import threading

import common

POLL = 0.1  # waiting for the other workers to close the round
IDLE = 2.0  # training finished: just stay in touch
MAX_BACKOFF = 5.0


def run(stop: threading.Event, url: str, worker: str, shard: list[common.Row]) -> None:
    backoff, posted_round, reachable = 0.2, -1, True
    while not stop.is_set():
        try:
            model = common.http_json("GET", f"{url}/model")
            rnd, done = int(model["round"]), bool(model.get("done"))
            if done or rnd == posted_round:
                pause = IDLE if done else POLL
            else:
                weights = common.train(common.parse_weights(model["weights"]), shard,
                                       seed=common.stable_seed(f"{worker}/{rnd}"))
                common.http_json("POST", f"{url}/update", {
                    "weights": weights, "samples": len(shard), "round": rnd, "worker": worker,
                })
                posted_round, pause = rnd, POLL
            if not reachable:
                common.log(f"aggregator {url} reachable again (round {rnd})")
            reachable, backoff = True, 0.2
        except (common.Unreachable, KeyError, TypeError, ValueError) as exc:
            if reachable:
                common.log(f"aggregator {url} unreachable ({exc}); retrying with backoff")
            reachable, pause = False, backoff
            backoff = min(backoff * 2, MAX_BACKOFF)
        stop.wait(pause)


def main() -> None:
    stop = common.stop_event()
    url = (os.environ.get("AGGREGATOR") or "").rstrip("/")
    if not url:
        common.log("worker: AGGREGATOR is not set; nothing to do")
        raise SystemExit(2)
    data_id = os.environ.get("DATA_ID") or "hydraulic-system"
    worker = common.instance_key()
    index = common.shard_index(worker)
    shard = common.make_dataset(data_id).shard(index)
    common.log(f"worker {worker} training shard {index}/{common.SHARDS} ({len(shard)} rows) "
               f"of {data_id!r} for aggregator {url} (data dir {os.environ.get('DATA_DIR', '-')})")
    run(stop, url, worker, shard)
    common.log("stopping (signal)")


if __name__ == "__main__":
    main()
