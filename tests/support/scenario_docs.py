"""The documents a :class:`tests.support.scenario.Scenario` applies: a fogsim Environment,
a one-entity web Architecture running ``tests/fixtures/controller/websvc.py``, a Strategy
and an ActiveStrategy."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

WEBSVC = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "controller" / "websvc.py"
API = "fogstrat.io/v1alpha1"


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def environment(name: str, url: str) -> dict[str, Any]:
    return doc("Environment", name, {"driver": "fogsim", "locator": url,
                                     "info": {"region": "test"}, "timeout": "5s"})


def web_architecture(name: str, port: int, *, selector: dict[str, str],
                     qos_min: float | None = None, interval: str = "1s",
                     failure_threshold: int = 2) -> dict[str, Any]:
    """One BARE entity ``web`` running ``websvc.py`` on ``port``; params ``version`` (env
    VERSION) and ``qosFile`` (env QOS_FILE)."""
    probes: list[dict[str, Any]] = [{"entity": "web", "http": {"port": port, "path": "/healthz"}}]
    if qos_min is not None:
        probes.append({"name": "web-accuracy", "entity": "web",
                       "qos": {"http": {"port": port, "path": "/qos"}, "field": "accuracy",
                               "min": qos_min}})
    return doc("Architecture", name, {
        "parameters": {"version": {"type": "string", "default": "v1"},
                       "qosFile": {"type": "string", "default": ""}},
        "entities": [{
            "name": "web",
            "requirements": {"cpuArch": "x86_64", "ramMB": 64, "nodeSelector": selector},
            "fdu": {"name": "web", "hypervisor": "BARE", "migration_kind": "COLD",
                    "computation_requirements": {"cpu_arch": "x86_64", "ram_size_mb": 64},
                    "command": {"binary": sys.executable, "args": [str(WEBSVC), str(port)]}},
            "env": {"VERSION": "{{ params.version }}", "QOS_FILE": "{{ params.qosFile }}"},
        }],
        "health": {"interval": interval, "timeout": "1s",
                   "failureThreshold": failure_threshold, "successThreshold": 1,
                   "probes": probes},
    })


def strategy(name: str, main: str, replacements: Iterable[str], *,
             main_config: dict[str, Any] | None = None,
             replacement_config: dict[str, Any] | None = None,
             window: str = "3s", mode: str = "Automatic") -> dict[str, Any]:
    return doc("Strategy", name, {
        "main": {"architecture": main, "config": main_config or {}},
        "replacements": [{"architecture": r, "config": replacement_config or {}}
                         for r in replacements],
        "policy": {"failback": {"mode": mode, "stabilizationWindow": window},
                   "maxFailoversPerHour": 20},
    })


def active_strategy(name: str, strategy_name: str, env: str, **extra: Any) -> dict[str, Any]:
    return doc("ActiveStrategy", name, {"strategy": strategy_name, "environment": env,
                                        "serve": True, **extra})
