"""The controller's memory under a churn of odd documents: does it stay flat?

    .venv/bin/python hack/bench/churn.py                 # 60 s, prints a markdown row
    .venv/bin/python hack/bench/churn.py --seconds 120 --fogstrat '/path/to/fogstrat'

Starts etcd and one controller, then, round after round, writes a few MB of documents
under fresh names (large valid ones, large and deep and undecodable ones, alias bombs,
ActiveStrategies that refer to nothing, malformed keys) and deletes the previous
round's, sampling the controller's resident memory (VmRSS) once a second. A controller
that keeps only what each live key needs stays near its size after the first rounds;
one that remembers deleted keys or caches by content grows with every round.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from controller.store import Store, connect  # noqa: E402
from tests.support.controller import ControllerProcess  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402

PREFIX = "/churn"
HEADER = "apiVersion: fogstrat.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
BOMB_SPEC = "".join(
    f"    {chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n"
    for i in range(8))


@dataclass(frozen=True)
class ChurnResult:
    seconds: float
    rounds: int
    written_mb: float
    rss_start_mb: float
    rss_max_mb: float
    rss_end_mb: float
    rss_last_quarter_growth_mb: float
    """The last sample minus the first of the last quarter (two samples: noisy)."""
    rss_quarter_medians_mb: tuple[float, ...]
    """The median RSS of each quarter of the run."""
    max_queue_depth: int
    """The most keys the controller's work queue held at a sample."""

    @property
    def levelling_mb(self) -> float:
        """The last quarter's median RSS minus the third's: near zero when memory is
        flat. RSS swings by tens of MiB from one second to the next while documents of
        hundreds of KB pass, so a difference of two samples says little."""
        return self.rss_quarter_medians_mb[-1] - self.rss_quarter_medians_mb[-2]

    def row(self) -> str:
        """A row of ``make bench``'s table: the target is a bounded, levelled-off RSS."""
        ok = self.rss_max_mb < 1024 and self.levelling_mb < 32
        medians = ", ".join(f"{m:.0f}" for m in self.rss_quarter_medians_mb)
        return (f"| memory under a churn of odd documents ({self.seconds:.0f} s, "
                f"{self.rounds} rounds, {self.written_mb:.0f} MB written; work queue at "
                f"most {self.max_queue_depth} keys) | RSS {self.rss_start_mb:.0f} → max "
                f"{self.rss_max_mb:.0f} → end {self.rss_end_mb:.0f} MiB (quarters' medians "
                f"{medians}) | last quarter's median {self.levelling_mb:+.0f} MiB (last "
                f"quarter's samples {self.rss_last_quarter_growth_mb:+.0f}) | "
                f"{self.rss_max_mb / 1024:.2f} | < 1 GiB, levelled off (< 32 MiB) | "
                f"{'ok' if ok else '**over**'} |")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def odd_documents(round_: int) -> dict[str, bytes]:
    """About 2.5 MB of documents under names no earlier round used."""
    n = f"r{round_}"
    blob = f"{round_:08d}" * 7_000  # distinct content every round: a memo by content grows
    docs: dict[str, bytes] = {}
    for i in range(4):
        docs[f"environments/default/{n}-large-{i}"] = (
            HEADER.format(kind="Environment", name=f"{n}-large-{i}") +
            "spec:\n  locator: http://127.0.0.1:1\n  info:\n" +
            "".join(f"    k{j}: '{blob}'\n" for j in range(6))).encode()
    docs[f"architectures/default/{n}-oversized"] = b"kind: Architecture\nx: " + b"y" * 600_000
    docs[f"strategies/default/{n}-deep"] = b"spec: " + b"[" * 5_000 + b"]" * 5_000
    docs[f"environments/default/{n}-bomb"] = (
        HEADER.format(kind="Environment", name=f"{n}-bomb") +
        "spec:\n  info:\n    a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + BOMB_SPEC).encode()
    docs[f"environments/default/{n}-utf8"] = b"\xff\xfe" * 1000
    for i in range(20):
        docs[f"activestrategies/default/{n}-as-{i}"] = (
            HEADER.format(kind="ActiveStrategy", name=f"{n}-as-{i}") +
            f"spec: {{strategy: missing-{round_}, environment: nowhere-{i}}}\n").encode()
    for i in range(5):
        docs[f"strategies/{n}/../x{i}"] = b"{}"
        docs[f"widgets/default/{n}-{i}"] = b"{}"
    return docs


_DEPTH = re.compile(r"^fogstrat_workqueue_depth (\S+)$", re.MULTILINE)


def queue_depth(metrics: str) -> int:
    """The work queue's depth in a /metrics text (0 when absent)."""
    found = _DEPTH.search(metrics)
    return int(float(found.group(1))) if found else 0


def churn(store: Store, seconds: float, samples: list[tuple[float, float]], pid: int,
          pause: float = 0.0, depths: tuple[Callable[[], str], list[int]] | None = None
          ) -> tuple[int, float]:
    """Write and delete rounds until ``seconds`` have passed; (rounds, MB written).
    ``depths``: the controller's /metrics and where to note its work queue's depth."""
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.is_set():
            samples.append((time.monotonic() - start, rss_mb(pid)))
            if depths is not None:
                depths[1].append(queue_depth(depths[0]()))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline, rounds, written = time.monotonic() + seconds, 0, 0
    previous: list[str] = []
    try:
        while time.monotonic() < deadline:
            docs = odd_documents(rounds)
            for key, value in docs.items():
                store.put(f"{PREFIX}/{key}", value)
                written += len(value)
            for key in previous:
                store.delete(f"{PREFIX}/{key}")
            previous, rounds = list(docs), rounds + 1
            time.sleep(pause)
    finally:
        stop.set()
        sampler.join()
    return rounds, written / 1e6


def measure(seconds: float, fogstrat: list[str] | None = None, pause: float = 0.0,
            trace: bool = False) -> ChurnResult:
    with EtcdServer(name="fogstrat-churn", extra_args=("--quota-backend-bytes", str(8 << 30),
                                                       "--auto-compaction-mode", "revision",
                                                       "--auto-compaction-retention", "1000")
                    ) as etcd, ControllerProcess(etcd.endpoint, PREFIX, resync=10.0) as ctl:
        if fogstrat:
            ctl.args[:2] = [*fogstrat, "controller"]
            ctl.stop()
            ctl.start()
        pid = ctl.pid
        assert pid is not None
        store = connect(etcd.endpoint, timeout=10.0)
        samples: list[tuple[float, float]] = []
        depths: list[int] = []
        try:
            time.sleep(2.0)  # the controller's own start-up, before the first document
            rounds, written = churn(store, seconds, samples, pid, pause,
                                    (ctl.metrics, depths))
        finally:
            store.close()
    if trace:
        print(" ".join(f"{t:.0f}s:{rss:.0f}" for t, rss in samples), file=sys.stderr)
    values = [rss for _, rss in samples]
    quarter = values[-max(2, len(values) // 4):]
    size = max(1, len(values) // 4)
    medians = tuple(statistics.median(values[i * size:(i + 1) * size] or values[-1:])
                    for i in range(4))
    return ChurnResult(seconds, rounds, written, values[0], max(values), values[-1],
                       quarter[-1] - quarter[0], medians, max(depths, default=0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fogstrat", help="command running another fogstrat build (a baseline)")
    p.add_argument("--pause", type=float, default=0.0,
                   help="seconds between rounds (0: as fast as etcd takes them)")
    p.add_argument("--trace", action="store_true", help="print every RSS sample")
    args = p.parse_args(argv)
    result = measure(args.seconds, shlex.split(args.fogstrat) if args.fogstrat else None,
                     args.pause, args.trace)
    print("| measurement | value | limit / growth | ratio | target | |\n|---|---|---|---:|---|---|")
    print(result.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
