"""Instance lifecycle: fog05's transitions, and the processes BARE FDUs really run.

Each call moves one instance the engine has looked up, under the engine's lock; the
engine records the change. Threading: BARE processes are spawned on the calling thread,
and Linux's ``PR_SET_PDEATHSIG`` fires when *that thread* exits.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from fogsim.instances import Instance, State, check_transition
from fogsim.nodes import NodeSpec
from fogsim.processes import ExitCallback, SpawnError, Supervisor

CRASH_CODE = -9
SPAWN_FAILED_CODE = 127


class Lifecycle:
    """Moves instances through their states and runs their processes."""

    def __init__(self, *, no_processes: bool, stop_grace: float, workdir: str | Path | None,
                 poll_interval: float, on_exit: ExitCallback) -> None:
        self.no_processes = no_processes
        self.stop_grace = stop_grace
        self.own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fogsim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.supervisor = Supervisor(on_exit=on_exit, poll_interval=poll_interval)
        self._generation = itertools.count(1)

    def simulated(self, inst: Instance) -> bool:
        """Whether no process runs for the instance (fogsim only plays its states)."""
        return self.no_processes or inst.hypervisor != "BARE"

    def configure(self, inst: Instance) -> None:
        check_transition(inst, "configure")
        inst.status = State.CONFIGURE

    def start(self, inst: Instance, env: dict[str, str], node: NodeSpec) -> None:
        """CONFIGURE -> RUN; BARE FDUs really start (spawn failure -> ERROR 127)."""
        check_transition(inst, "start")
        inst.env = env
        inst.error_code, inst.error_msg, inst.exit_code = 0, "", None
        if inst.hypervisor == "BARE" and not self.no_processes:
            self._spawn(inst, node)
        else:
            inst.status = State.RUN

    def stop(self, inst: Instance) -> None:
        """RUN -> CONFIGURE at once; the process is terminated in the background."""
        check_transition(inst, "stop")
        self.kill(inst, graceful=True)
        inst.status = State.CONFIGURE

    def clean(self, inst: Instance) -> None:
        """CONFIGURE/ERROR -> DEFINE (kills any leftover process)."""
        check_transition(inst, "clean")
        self.kill(inst)
        inst.status = State.DEFINE
        inst.error_code, inst.error_msg = 0, ""

    def crash(self, inst: Instance) -> None:
        """Fault injection: SIGKILL the process (if any) and set ERROR."""
        self._fail(inst, CRASH_CODE, "crashed by fault injection")

    def exited(self, inst: Instance, returncode: int, expected: bool) -> None:
        """The instance's process ended; unasked for while it ran, that is an ERROR."""
        inst.proc_key = None
        inst.pid = None
        inst.exit_code = returncode
        if expected or inst.status != State.RUN:
            return
        if returncode < 0:
            msg = f"process killed by signal {-returncode}"
        else:
            msg = f"process exited with code {returncode}"
        self._fail(inst, returncode, msg)
        inst.exit_code = returncode

    def kill(self, inst: Instance, *, graceful: bool = False) -> None:
        """Signal the instance's process group (if any) and forget it."""
        if inst.proc_key is not None:
            if graceful:
                self.supervisor.stop(inst.proc_key, self.stop_grace)
            else:
                self.supervisor.kill(inst.proc_key)
        inst.proc_key = None
        inst.pid = None

    def close(self, grace: float | None = None) -> None:
        """Kill every process started here; remove the workdir if it is our own."""
        self.supervisor.shutdown(self.stop_grace if grace is None else grace)
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _fail(self, inst: Instance, code: int, msg: str) -> None:
        inst.status = State.ERROR
        inst.error_code = code
        inst.error_msg = msg
        self.kill(inst)

    def _spawn(self, inst: Instance, node: NodeSpec) -> None:
        inst.cwd = self.workdir / inst.uuid
        inst.log_path = inst.cwd / "fdu.log"
        inst.cwd.mkdir(parents=True, exist_ok=True)
        command = inst.descriptor.get("command") or {}
        binary = command.get("binary") if isinstance(command, Mapping) else None
        args = (command.get("args") or []) if isinstance(command, Mapping) else []
        if not binary:
            self._fail(inst, SPAWN_FAILED_CODE, "BARE FDU has no command.binary")
            return
        key = f"{inst.uuid}#{next(self._generation)}"
        try:
            inst.pid = self.supervisor.spawn(
                key, [str(binary), *[str(a) for a in args]], _process_env(inst, node),
                inst.cwd, inst.log_path
            )
        except SpawnError as exc:
            self._fail(inst, SPAWN_FAILED_CODE, f"cannot start {binary}: {exc}")
            return
        inst.proc_key = key
        inst.status = State.RUN


def _process_env(inst: Instance, node: NodeSpec) -> dict[str, str]:
    """fogsim's own environment, the start env, and where the process runs (fog05's)."""
    env = dict(os.environ)
    env.update(inst.env)
    env.update({
        "FOS_NODE_ID": node.uuid,
        "FOS_NODE_NAME": node.name,
        "FOS_NODE_IP": node.ip,
        "FOS_INSTANCE_ID": inst.uuid,
        "FOS_FDU_ID": inst.fdu_id,
    })
    return env
