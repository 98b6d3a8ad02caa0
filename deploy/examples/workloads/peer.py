"""Gossip-learning peer: average models with a random other peer, train locally, serve.

Env: PEERS (every peer's IP, separated by spaces or commas, own included; entries may be
``ip:port``), PORT (8090, shared by all peers), GOSSIP_INTERVAL (``2s``, ``500ms``...), BIND
(default FOS_NODE_IP, else 127.0.0.1; it is also how the peer finds itself in PEERS), DATA_ID,
WORKER_INDEX (shard override; default: hash of FOS_INSTANCE_ID), DATA_DIR (logged only).

There is no coordinator: a peer that cannot reach the one it picked just trains on its
own shard this round, so losing peers costs quality, never the service.
"""

from __future__ import annotations

import os
import random
import threading
from typing import Any

import common


class Peer(common.PredictionService):
    def __init__(self, data: common.Dataset, shard: list[common.Row], me: str,
                 others: list[str]) -> None:
        super().__init__(data)
        self.shard, self.me, self.others = shard, me, others
        self.merges = 0
        self.rounds = 0
        self._pick = random.Random(common.stable_seed(me))
        self._unreachable: set[str] = set()

    def routes(self) -> dict[tuple[str, str], common.Handler]:
        return {
            **super().routes(),
            ("GET", "/qos"): lambda _: (200, {"accuracy": self.accuracy(),
                                               "merges": self.merges, "rounds": self.rounds}),
            ("GET", "/model"): self._model,
        }

    def _model(self, _: Any) -> tuple[int, Any]:
        return 200, {"weights": self.current(), "merges": self.merges, "peer": self.me,
                     "features": list(common.FEATURES)}

    def gossip_once(self) -> None:
        """One round: merge with a random other peer if it answers, then train locally."""
        weights = self.current()
        if self.others:
            other = self._pick.choice(self.others)
            try:
                theirs = common.parse_weights(
                    common.http_json("GET", f"http://{other}/model", timeout=1.0)["weights"])
            except (common.Unreachable, KeyError, TypeError, ValueError) as exc:
                if other not in self._unreachable:
                    common.log(f"peer {other} unreachable ({exc}); training alone this round")
                self._unreachable.add(other)
            else:
                if other in self._unreachable:
                    common.log(f"peer {other} reachable again")
                self._unreachable.discard(other)
                weights = common.average([(weights, 1.0), (theirs, 1.0)])
                self.merges += 1
        weights = common.train(weights, self.shard,
                               seed=common.stable_seed(f"{self.me}/{self.rounds}"))
        with self.lock:
            self.weights = weights
            self.rounds += 1


def split_peers(raw: str, port: int, me: str) -> list[str]:
    """``host:port`` of every other peer in PEERS."""
    out = []
    for entry in raw.replace(",", " ").split():
        if not entry:
            continue
        addr = entry if ":" in entry else f"{entry}:{port}"
        if addr != me:
            out.append(addr)
    return out


def main() -> None:
    stop = common.stop_event()
    host, port = common.bind_address(), common.env_int("PORT", 8090)
    me = f"{host}:{port}"
    others = split_peers(os.environ.get("PEERS", ""), port, me)
    interval = common.parse_duration(os.environ.get("GOSSIP_INTERVAL") or "2s")
    data_id = os.environ.get("DATA_ID") or "hydraulic-system"
    index = common.shard_index(common.instance_key())
    data = common.make_dataset(data_id)
    peer = Peer(data, data.shard(index), me, others)
    try:
        server = common.serve(host, port, peer.routes())
    except OSError as exc:
        common.log(f"peer cannot bind {me}: {exc}")
        raise SystemExit(1) from None
    common.log(f"peer listening on {me}; gossiping every {interval}s with "
               f"{', '.join(others) or 'nobody'}; shard {index}/{common.SHARDS} of {data_id!r} "
               f"(data dir {os.environ.get('DATA_DIR', '-')})")

    def gossip() -> None:
        while not stop.wait(interval):
            peer.gossip_once()

    threading.Thread(target=gossip, name="gossip", daemon=True).start()
    common.wait_forever(stop, server)


if __name__ == "__main__":
    main()
