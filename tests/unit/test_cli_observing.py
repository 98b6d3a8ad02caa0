"""The CLI's pure parts: watch rows that stay under their header, reachability from the
ActiveStrategies' status, what an unpin leads to, and `wait`'s verdict on a status."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import kinds
from controller.api.models import ArchitectureRef, FailbackPolicy, StrategyPolicy, StrategySpec
from controller.cli import printers
from controller.cli.commands import CommandError
from controller.cli.observe import Replica, judge, parse_wanted, replicas
from controller.resources import StoredObject

NOW = 1_800_000_000.0


def active(name: str, status: dict[str, Any] | None, env: str = "lab",
           ns: str = "default") -> StoredObject:
    doc = {"kind": "ActiveStrategy", "metadata": {"name": name},
           "spec": {"strategy": "prediction", "environment": env}}
    return StoredObject(kinds.ACTIVE_STRATEGY, ns, name, doc, 1, status)


def condition(ctype: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def test_watch_rows_stay_under_the_header_whatever_comes_later() -> None:
    first = [active("prediction-lab", {"phase": "Serving", "activeArchitecture": "fl",
                                       "activeRole": "main", "createdAt": NOW})]
    cols = printers.columns(kinds.ACTIVE_STRATEGY)
    table = printers.rows(kinds.ACTIVE_STRATEGY, first)
    widths = printers.watch_widths(cols, table)
    later = printers.rows(kinds.ACTIVE_STRATEGY, [active("prediction-lab", {
        "phase": "FailingOver", "activeArchitecture": "a-very-long-replacement-architecture",
        "activeRole": "replacement", "failoverCount": 12, "createdAt": NOW})])[1]
    lines = [printers.format_row(r, widths, clip=True) for r in [*table, later]]
    header = lines[0]
    starts = [header.index(h) for h in table[0]]
    for line in lines[1:]:
        for start in starts[1:]:
            assert line[start - 1] == " " and line[start] != " ", (line, start)
    assert "a-very-long-replace\u2026" in lines[-1]


def test_reachability_comes_from_the_strategies_deployed_to_each_environment() -> None:
    error = {"time": NOW - 30, "reason": "FogUnreachable", "message": "fog unreachable"}
    strategies = [
        active("ok", {"phase": "Serving"}, env="lab"),
        active("down", {"phase": "Degraded", "lastError": error}, env="edge"),
        active("up-too", {"phase": "Serving"}, env="edge"),
        active("never-seen", None, env="attic"),
        active("other-ns", {"phase": "Serving"}, env="lab", ns="team-a"),
    ]
    seen = printers.reachability(strategies, now=NOW)
    assert seen == {("default", "lab"): "True",
                    ("default", "edge"): "False (FogUnreachable 30s ago)",
                    ("team-a", "lab"): "True"}
    env = StoredObject(kinds.ENVIRONMENT, "default", "attic",
                       {"spec": {"driver": "fogsim", "locator": "http://x"}}, 1)
    rows = printers.rows(kinds.ENVIRONMENT, [env], wide=True, reachable=seen)
    assert rows[0][-1] == "REACHABLE" and rows[1][-1] == "<unknown>"


def strategy(mode: str = "Automatic", window: float = 30.0) -> StrategySpec:
    return StrategySpec(main=ArchitectureRef("fl"), replacements=(ArchitectureRef("gl"),),
                        policy=StrategyPolicy(failback=FailbackPolicy(
                            mode=mode, stabilization_window=window)))  # type: ignore[arg-type]


def test_unpin_says_what_follows() -> None:
    on_replacement = {"activeArchitecture": "gl"}
    assert printers.after_unpin(strategy(), on_replacement) == (
        "failback to fl follows once it has been healthy for the stabilization window of 30s")
    manual = printers.after_unpin(strategy("Manual"), on_replacement)
    assert manual.startswith("gl stays active: failback is Manual, so it never returns to fl")
    assert "main architecture, stays active" in printers.after_unpin(
        strategy(), {"activeArchitecture": "fl"})
    assert printers.after_unpin(None, on_replacement) == "the automatic rules resume"


def test_wait_is_done_stuck_or_on_its_way() -> None:
    wanted = parse_wanted(["phase=Serving", "activeRole = main"])
    assert wanted == {"phase": "Serving", "activeRole": "main"}
    assert judge(None, wanted).progress == "waiting for the controller to observe it"
    deploying = {"phase": "Deploying", "conditions": [
        condition("Ready", "False", "Deploying", "deploying fl")]}
    verdict = judge(deploying, wanted)
    assert not verdict.done and verdict.stuck is None
    assert verdict.progress == ("phase=Deploying activeArchitecture=- activeRole=- "
                                "(Deploying: deploying fl)")
    serving = {"phase": "Serving", "activeRole": "main", "activeArchitecture": "fl"}
    assert judge(serving, wanted).done
    unreachable = {"phase": "Degraded", "conditions": [
        condition("Degraded", "True", "FogUnreachable", "fog unreachable: http://x")]}
    assert judge(unreachable, wanted).stuck == "FogUnreachable: fog unreachable: http://x"
    flapping = {"phase": "Degraded", "conditions": [
        condition("Degraded", "True", "FlapGuard", "holding")]}
    assert judge(flapping, wanted).stuck is None
    invalid = {"phase": "Invalid", "conditions": [condition("Valid", "False", "Bad", "no")]}
    assert judge(invalid, wanted).stuck == "Bad: no"
    with pytest.raises(CommandError, match="FIELD=VALUE"):
        parse_wanted(["Serving"])


def test_replicas_of_the_active_architecture() -> None:
    rec = {"fduId": "f", "fduUuid": "u", "nodeName": "cloud-1", "instanceId": "i-1"}
    status = {"activeArchitecture": "fl", "architectures": {
        "fl": {"instances": {"state": "served", "entities": {
            "aggregator": {"0": rec},
            "worker": {"0": {**rec, "nodeName": "fog-1", "instanceId": "i-2"},
                       "1": {**rec, "nodeName": "fog-2", "instanceId": None}}}}}}}
    assert replicas(status, None) == [Replica("aggregator", 0, "cloud-1", "i-1"),
                                      Replica("worker", 0, "fog-1", "i-2")]
    assert replicas(status, "worker") == [Replica("worker", 0, "fog-1", "i-2")]
    with pytest.raises(CommandError, match=r"no entity 'client' running \(entities: "
                                           r"aggregator, worker\)"):
        replicas(status, "client")
    assert replicas({}, None) == []
