"""Running an architecture's probes: targets, concurrency, per-probe combination.

A probe of an entity runs once per replica (against the replica's node IP, where
fogsim and fog05 BARE processes bind); the replicas' results combine into one
:class:`ProbeResult`. All (probe, replica) checks of one cycle run concurrently on one
shared, bounded thread pool, so many architectures cannot exhaust threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial

from controller.api.models import ProbeSpec
from controller.arch import checks
from controller.arch.probes import Outcome, ProbeResult, Verdict, combine
from controller.arch.record import ArchitectureRecord, ReplicaRecord
from controller.fog.client import FogClient

DEFAULT_PROBE_WORKERS = 16

_lock = threading.Lock()
_shared: ThreadPoolExecutor | None = None
_shared_workers = DEFAULT_PROBE_WORKERS


def set_probe_workers(max_workers: int) -> None:
    """Bound the shared pool (takes effect when it is next created)."""
    global _shared, _shared_workers
    with _lock:
        _shared_workers = max(1, max_workers)
        if _shared is not None:
            _shared.shutdown(wait=False)
            _shared = None


def shared_executor() -> Executor:
    """The process-wide probe pool, created on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = ThreadPoolExecutor(_shared_workers, thread_name_prefix="fogstrat-probe")
        return _shared


def state_probe(entity: str) -> ProbeSpec:
    """The implicit probe every deployed entity gets: its instances must be ``RUN``."""
    return ProbeSpec(name=f"{entity}-running", kind="state", entity=entity)


def with_state_probes(probes: Sequence[ProbeSpec], entities: Sequence[str]) -> list[ProbeSpec]:
    """``probes`` plus an instance-state probe for each entity that has none."""
    covered = {p.entity for p in probes if p.kind == "state"}
    extra = [state_probe(e) for e in entities if e not in covered]
    return [*extra, *probes]


def _one(
    probe: ProbeSpec, rep: ReplicaRecord | None, fog: FogClient | None, timeout: float
) -> Verdict:
    if probe.kind == "state":
        if fog is None:
            return Outcome.UNKNOWN, "not associated with a fog", None
        where = f"{probe.entity} on {rep.node_name or rep.node_id}" if rep else ""
        return checks.state_check(fog, rep.instance_id if rep else None, probe.state, timeout,
                                  where)
    if probe.kind == "qos" and probe.qos is not None and probe.qos.prometheus is not None:
        return checks.qos_prometheus_check(probe.qos.prometheus, probe.qos, timeout)
    host = (rep.address or rep.node_ip) if rep is not None else None
    if not host:
        return Outcome.FAILURE, "entity has no running replica with an address", None
    if probe.kind == "http" and probe.http is not None:
        return checks.http_check(host, probe.http, timeout)
    if probe.kind == "tcp" and probe.tcp is not None:
        return checks.tcp_check(host, probe.tcp.port, timeout)
    if probe.kind == "qos" and probe.qos is not None and probe.qos.http is not None:
        return checks.qos_http_check(host, probe.qos, timeout)
    return Outcome.UNKNOWN, f"probe kind {probe.kind} lacks its settings", None


def _targets(probe: ProbeSpec, record: ArchitectureRecord) -> list[ReplicaRecord | None]:
    if probe.kind == "qos" and probe.qos is not None and probe.qos.prometheus is not None:
        return [None]
    if probe.entity is None:
        return [None]
    reps: list[ReplicaRecord | None] = list(record.replicas(probe.entity))
    return reps or [None]


def run_probes(
    probes: Sequence[ProbeSpec],
    record: ArchitectureRecord,
    fog: FogClient | None,
    *,
    timeout: float,
    executor: Executor | None = None,
) -> list[ProbeResult]:
    """One result per probe, in ``probes`` order; checks run concurrently."""
    rows = [[(probe, rep) for rep in _targets(probe, record)] for probe in probes]
    if sum(map(len, rows)) == 1:
        # Nothing to run concurrently, and the caller waits for it either way: a hand-off
        # to the pool would only add two thread switches (each check keeps its own timeout).
        probe, rep = rows[0][0]
        return [_combine_row(probe, [_verdict(partial(_one, probe, rep, fog, timeout))])]
    pool = executor or shared_executor()
    futures = [[pool.submit(_one, probe, rep, fog, timeout) for probe, rep in row]
               for row in rows]
    wait = timeout * 3 + 5
    return [_combine_row(probe, [_verdict(partial(fut.result, timeout=wait)) for fut in row])
            for probe, row in zip(probes, futures, strict=True)]


def _verdict(check: Callable[[], Verdict]) -> Verdict:
    try:
        return check()
    except Exception as exc:  # a check must never take the cycle down
        return Outcome.UNKNOWN, f"probe error: {exc}", None


def _combine_row(probe: ProbeSpec, verdicts: list[Verdict]) -> ProbeResult:
    per = [ProbeResult(probe.name, probe.entity, outcome, msg, value)
           for outcome, msg, value in verdicts]
    return combine(probe.name, probe.entity, per)
