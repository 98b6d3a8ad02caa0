"""Verbs that look at what the controller made of an ActiveStrategy: ``wait`` and ``logs``.

``wait`` decides from the status alone (a pure function of it), so a script such as
``make run`` learns the controller's own reason at once, not after a timeout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api import kinds
from controller.api.models import EnvironmentSpec
from controller.api.parse import parse_document
from controller.arch.record import ArchitectureRecord
from controller.cli.commands import CommandError, _resources
from controller.fog.client import FogClient, FogError
from controller.fog.factory import make_fog_client

# Degraded reasons no amount of waiting fixes by itself: the fog is not there, or no
# architecture can run on it. Others (a flap guard, a pinned unhealthy one) pass.
STUCK = frozenset({"FogUnreachable", "NoCandidate", "Unplaceable", "NoPlaceableCandidate",
                   "PinUnplaceable"})
POLL_INTERVAL = 0.5


@dataclass(frozen=True)
class Verdict:
    """What one look at the status says: done, stuck (with why), or still on its way."""

    done: bool
    stuck: str | None
    progress: str


def _condition(status: Mapping[str, Any], ctype: str) -> Mapping[str, Any]:
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return c
    return {}


def parse_wanted(pairs: Sequence[str]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            raise CommandError(f"--for wants FIELD=VALUE (e.g. phase=Serving), got {pair!r}")
        wanted[field.strip()] = value.strip()
    return wanted


def judge(status: Mapping[str, Any] | None, wanted: Mapping[str, str]) -> Verdict:
    """The verdict on one status (None: the controller has not written one yet)."""
    if not status:
        return Verdict(False, None, "waiting for the controller to observe it")
    got = {k: "" if status.get(k) is None else str(status.get(k)) for k in wanted}
    ready = _condition(status, "Ready")
    progress = " ".join(f"{k}={status.get(k) or '-'}"
                        for k in ("phase", "activeArchitecture", "activeRole"))
    if ready.get("message"):
        progress += f" ({ready.get('reason')}: {ready.get('message')})"
    if got == dict(wanted):
        return Verdict(True, None, progress)
    valid = _condition(status, "Valid")
    if valid.get("status") == "False":
        return Verdict(False, f"{valid.get('reason')}: {valid.get('message')}", progress)
    degraded = _condition(status, "Degraded")
    if degraded.get("status") == "True" and degraded.get("reason") in STUCK:
        return Verdict(False, f"{degraded.get('reason')}: {degraded.get('message')}", progress)
    return Verdict(False, None, progress)


def wait(args: argparse.Namespace) -> int:
    kind = kinds.by_typed_name(args.kind)
    if kind is not kinds.ACTIVE_STRATEGY:
        raise CommandError(f"wait works on activestrategies, not {kind.plural}")
    wanted = parse_wanted(args.until)
    what = ", ".join(f"{k}={v}" for k, v in wanted.items())
    start = time.monotonic()
    shown = ""
    with _resources(args) as res:
        while True:
            obj = res.get(kind, args.namespace, args.name)
            if obj is None:
                raise CommandError(f'activestrategy "{args.name}" not found in namespace '
                                   f'"{args.namespace}"')
            verdict = judge(obj.status, wanted)
            if verdict.progress != shown:
                shown = verdict.progress
                print(f"  {time.monotonic() - start:5.1f}s  {shown}", flush=True)
            if verdict.done:
                return 0
            if verdict.stuck:
                raise CommandError(f"{args.name} will not reach {what}: {verdict.stuck}")
            if time.monotonic() - start > args.wait_timeout:
                raise CommandError(f"{args.name} did not reach {what} within "
                                   f"{args.wait_timeout:g}s; last seen: {shown}")
            time.sleep(POLL_INTERVAL)


@dataclass(frozen=True)
class Replica:
    """One running instance of the active architecture, as the status records it."""

    entity: str
    index: int
    node: str
    instance_id: str


def replicas(status: Mapping[str, Any], entity: str | None) -> list[Replica]:
    """The active architecture's instances (of ``entity`` only, when given)."""
    active = status.get("activeArchitecture")
    arch = (status.get("architectures") or {}).get(active) or {}
    record = ArchitectureRecord.from_dict(arch.get("instances") or {})
    if entity is not None and entity not in record.entities:
        known = ", ".join(sorted(record.entities)) or "none"
        raise CommandError(f"{active} has no entity {entity!r} running (entities: {known})")
    return [Replica(ent, i, r.node_name or r.node_id or "?", r.instance_id)
            for ent in sorted(record.entities) if entity in (None, ent)
            for i, r in enumerate(record.replicas(ent)) if r.instance_id]


def logs(args: argparse.Namespace) -> int:
    if kinds.by_typed_name(args.kind) is not kinds.ACTIVE_STRATEGY:
        raise CommandError("logs works on activestrategies (fogstrat logs as NAME [ENTITY])")
    with _resources(args) as res:
        obj = res.get(kinds.ACTIVE_STRATEGY, args.namespace, args.name)
        if obj is None:
            raise CommandError(f'activestrategy "{args.name}" not found in namespace '
                               f'"{args.namespace}"')
        env_name = str((obj.document.get("spec") or {}).get("environment", ""))
        env = res.get(kinds.ENVIRONMENT, args.namespace, env_name, with_status=False)
    if env is None:
        raise CommandError(f'environment "{env_name}" not found in namespace "{args.namespace}"')
    spec = parse_document(dict(env.document)).spec
    if not isinstance(spec, EnvironmentSpec):
        raise CommandError(f'"{env_name}" is not an environment')
    found = replicas(obj.status or {}, args.entity)
    if not found:
        print(f"{args.name} runs no instances right now", file=sys.stderr)
        return 0
    return _print_logs(spec, found, args.tail)


def _print_logs(spec: EnvironmentSpec, found: list[Replica], tail: int | None) -> int:
    try:
        fog = make_fog_client(spec.driver, spec.locator, sysid=spec.sysid,
                              tenantid=spec.tenantid, timeout=spec.timeout)
        try:
            for rep in found:
                _print_log(fog, rep, tail)
        finally:
            fog.close()
    except FogError as exc:
        if spec.driver != "fog05":
            raise
        # A fog05 agent keeps a BARE instance's output on its own node and may not hand
        # it out through YAKS; say where to look rather than fail with the driver's words.
        nodes = ", ".join(sorted({r.node for r in found}))
        raise CommandError(f"the fog05 driver cannot read instance output from {spec.locator} "
                           f"({exc}); read it on the nodes themselves: {nodes}") from None
    return 0


def _print_log(fog: FogClient, rep: Replica, tail: int | None) -> None:
    text = fog.instance_log(rep.instance_id)
    if tail is not None and tail >= 0:
        text = "".join(text.splitlines(keepends=True)[-tail:]) if tail else ""
    print(f"==> {rep.entity}[{rep.index}] on {rep.node} (instance {rep.instance_id}) <==")
    print(text, end="" if text.endswith("\n") or not text else "\n", flush=True)
