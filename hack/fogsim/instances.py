"""An instance as fogsim keeps it, and fog05's state machine over it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fogsim.errors import IllegalTransition


class State(enum.StrEnum):
    """The fog05 instance states fogsim reports (no transient ones)."""

    DEFINE = "DEFINE"
    CONFIGURE = "CONFIGURE"
    RUN = "RUN"
    ERROR = "ERROR"


#: action -> (legal source states, target state; None = removed)
TRANSITIONS: dict[str, tuple[frozenset[State], State | None]] = {
    "configure": (frozenset({State.DEFINE}), State.CONFIGURE),
    "start": (frozenset({State.CONFIGURE}), State.RUN),
    "stop": (frozenset({State.RUN}), State.CONFIGURE),
    "clean": (frozenset({State.CONFIGURE, State.ERROR}), State.DEFINE),
    "undefine": (frozenset({State.DEFINE}), None),
}

#: States in which an instance holds its FDU's RAM/disk on its node.
HOLDING = frozenset({State.CONFIGURE, State.RUN})


@dataclass
class Instance:
    uuid: str
    fdu_id: str
    node: str
    descriptor: dict[str, Any]
    status: State = State.DEFINE
    error_code: int = 0
    error_msg: str = ""
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    proc_key: str | None = None
    exit_code: int | None = None
    cwd: Path | None = None
    log_path: Path | None = None
    stored: bytes | None = field(default=None, compare=False, repr=False)
    """The record as JSON, as fog05 keeps it in its store; any change of a field drops it."""

    @property
    def hypervisor(self) -> str:
        return str(self.descriptor.get("hypervisor", ""))

    @property
    def holding(self) -> bool:
        """Whether the instance holds its FDU's RAM/disk on its node now."""
        return self.status in HOLDING

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "stored":
            object.__setattr__(self, "stored", None)

    def requirement(self, key: str) -> float:
        reqs = self.descriptor.get("computation_requirements") or {}
        value = reqs.get(key) or 0
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.0


def check_transition(inst: Instance, action: str) -> State | None:
    """The state ``action`` leads to, or :class:`IllegalTransition` from this one."""
    sources, target = TRANSITIONS[action]
    if inst.status not in sources:
        raise IllegalTransition(inst.uuid, inst.status.value, action)
    return target


def parse_env(env: Mapping[str, Any] | str | None) -> dict[str, str]:
    """Accept a dict or fog05's ``"A=1,B=2"`` string form."""
    if env is None:
        return {}
    if isinstance(env, str):
        out: dict[str, str] = {}
        for item in env.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"bad env entry {item!r} (want KEY=VALUE)")
            out[key.strip()] = value
        return out
    if isinstance(env, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    raise ValueError("env must be an object or a 'A=1,B=2' string")
