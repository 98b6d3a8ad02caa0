"""Given/When/Then fixture for controller scenarios (after Argo Rollouts' ``test/fixtures``).

One :class:`Scenario` owns a private fogsim, the ``fogstrat`` CLI bound to an etcd prefix,
and any number of ``fogstrat controller`` processes; everything it started is stopped in
:meth:`Scenario.close`, which also checks that no process fogsim started is left behind::

    with Scenario(etcd.endpoint, prefix) as s:
        s.given.web_strategy().controller()
        s.then.phase_is("Serving").active_is("web-main")
        s.when.node_down("cloud-1")
        s.then.phase_is("Serving", active="web-backup").counts(failover=1)

Assertions go through ``fogstrat get -o json`` (the status users see) and the fog's own
state (fogsim ``/sim/state``, and ``/proc`` for the processes it runs). Every wait polls
with a deadline.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml

from tests.support.cli import Cli
from tests.support.controller import ControllerProcess
from tests.support.fogsim import EXAMPLE_NODES, FogsimServer, free_port

# The documents a scenario applies, re-exported: tests import them with the Scenario.
from tests.support.scenario_docs import API as API
from tests.support.scenario_docs import WEBSVC as WEBSVC
from tests.support.scenario_docs import active_strategy as active_strategy
from tests.support.scenario_docs import doc as doc
from tests.support.scenario_docs import environment as environment
from tests.support.scenario_docs import strategy as strategy
from tests.support.scenario_docs import web_architecture as web_architecture

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def wait_for(pred: Callable[[], T | None], timeout: float, what: str,
             describe: Callable[[], str] | None = None, interval: float = 0.1) -> T:
    """Poll ``pred`` until it returns something truthy; fail with ``describe()`` at the
    deadline."""
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            detail = describe() if describe else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(interval)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def processes_under(directory: Path) -> list[int]:
    """Pids whose working directory lies under ``directory`` (fogsim runs each BARE
    instance in its own directory under its workdir, so this finds orphans too)."""
    out = []
    root = str(directory.resolve())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + "/")) and pid_alive(int(entry)):
            out.append(int(entry))
    return out


# --- the scenario -------------------------------------------------------------------------


class Scenario:
    """A private fogsim + CLI + controllers for one test; see the module docstring."""

    def __init__(self, endpoint: str, prefix: str, *, nodes_file: Path = EXAMPLE_NODES,
                 name: str = "web", lease_ttl: int = 3, etcd: Any = None) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.name = name
        self.lease_ttl = lease_ttl
        self.etcd = etcd
        self.port = free_port()
        self.sim = FogsimServer(nodes_file, stop_grace=0.5)
        self.cli = Cli(endpoint, prefix)
        self.controllers: list[ControllerProcess] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="fogstrat-scenario-"))
        self.qos_file = self.tmp / "accuracy"
        self.seen_pids: set[int] = set()
        self.given = Given(self)
        self.when = When(self)
        self.then = Then(self)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        self.sim.start()
        return self

    def close(self) -> None:
        """Stop every controller and the fog; fail if a fogsim child process survives."""
        for ctl in self.controllers:
            ctl.kill()
        workdir = self.sim.workdir
        try:
            if self.sim.running:
                self.state()  # record the pids it runs now
        except OSError:
            pass
        self.sim.stop()
        left: list[int] = []
        try:
            wait_for(lambda: not self._leftovers(workdir) or None, 10, "fogsim children to exit")
        except AssertionError:
            left = self._leftovers(workdir)
        self.sim.close()
        assert not left, f"fogsim child processes left after teardown: {left}"

    def _leftovers(self, workdir: Path) -> list[int]:
        pids = {p for p in self.seen_pids if pid_alive(p)}
        if workdir.exists():
            pids |= set(processes_under(workdir))
        return sorted(pids)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- observation ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        st = self.sim.state()
        for inst in st.get("instances", []):
            pid = (inst.get("hypervisor_info") or {}).get("pid")
            if pid:
                self.seen_pids.add(int(pid))
        return st

    def instances(self) -> list[dict[str, Any]]:
        return list(self.state()["instances"])

    def running(self) -> list[dict[str, Any]]:
        return [i for i in self.instances() if i["status"] == "RUN"]

    def node_names(self) -> dict[str, str]:
        return {n["uuid"]: n["name"] for n in self.state()["nodes"]}

    def status(self, name: str | None = None) -> dict[str, Any]:
        """``fogstrat get activestrategy NAME -o json``'s ``status`` (``{}`` if none)."""
        res = self.cli.run("get", "activestrategy", name or self.name, "-o", "json")
        if res.rc != 0:
            return {}
        return dict(res.json().get("status") or {})

    def raw_status(self, name: str | None = None) -> dict[str, Any]:
        """The status key read straight from etcd with etcdctl (fast enough to catch a
        transition's stages; assertions use :meth:`status`, what users see)."""
        assert self.etcd is not None, "Scenario(etcd=...) needed for raw_status"
        key = f"{self.prefix}/status/activestrategies/default/{name or self.name}"
        try:
            out = self.etcd.etcdctl("get", key, "--print-value-only", check=False,
                                    timeout=5).stdout.strip()
        except Exception:  # etcd down or slow: no status seen
            return {}
        return dict(json.loads(out)) if out else {}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        res = self.cli.run("get", kind, name, "-o", "json")
        assert res.rc == 0, res.err
        return dict(res.json())

    def describe(self) -> str:
        """What a failing wait prints: status, fog instances, controller logs."""
        parts = [f"status: {json.dumps(self.status(), indent=1, default=str)[:4000]}"]
        try:
            names = self.node_names()
            parts.append("fog: " + json.dumps(
                [(names.get(i["node"], i["node"]), i["status"], i["uuid"][:8])
                 for i in self.instances()]))
        except OSError as exc:
            parts.append(f"fog: {exc}")
        for ctl in self.controllers:
            parts.append(f"--- controller {ctl.instance_id} log:\n{ctl.log_tail(30)}")
        return "\n".join(parts)

    def controller(self, **kwargs: Any) -> ControllerProcess:
        kwargs.setdefault("lease_ttl", self.lease_ttl)
        kwargs.setdefault("resync", 10.0)
        ctl = ControllerProcess(self.endpoint, self.prefix, **kwargs)
        self.controllers.append(ctl)
        return ctl

    def http(self, ctl: ControllerProcess, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(ctl.url + path, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def apply(self, *docs: dict[str, Any]) -> None:
        self.cli.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(docs, sort_keys=False))

    def web_env(self, inst: dict[str, Any]) -> dict[str, Any]:
        url = f"http://{inst['node_ip']}:{self.port}/env"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return dict(json.loads(resp.read()))


class Given:
    def __init__(self, s: Scenario) -> None:
        self.s = s

    def documents(self, *docs: dict[str, Any]) -> Given:
        self.s.apply(*docs)
        return self

    def web_strategy(self, *, qos: bool = False, window: str = "3s",
                     backup_selector: dict[str, str] | None = None,
                     main_config: dict[str, Any] | None = None,
                     active: bool = True, **active_extra: Any) -> Given:
        """The smoke scenario: ``web-main`` on tier=cloud, ``web-backup`` on tier=fog,
        Strategy ``web`` (failback after ``window``), ActiveStrategy ``web``."""
        s = self.s
        qos_min = 0.5 if qos else None
        config = dict(main_config or {})
        if qos:
            config.setdefault("qosFile", str(s.qos_file))
        docs = [
            environment("lab", s.sim.url),
            web_architecture("web-main", s.port, selector={"tier": "cloud"}, qos_min=qos_min),
            web_architecture("web-backup", s.port, selector=backup_selector or {"tier": "fog"},
                             qos_min=qos_min),
            strategy("web", "web-main", ["web-backup"], main_config=config, window=window),
        ]
        if active:
            docs.append(active_strategy(s.name, "web", "lab", **active_extra))
        return self.documents(*docs)

    def controller(self, **kwargs: Any) -> Given:
        self.s.controller(**kwargs).start()
        return self

    def serving(self, arch: str = "web-main", timeout: float = 30) -> Given:
        self.s.then.phase_is("Serving", active=arch, timeout=timeout)
        return self


class When:
    def __init__(self, s: Scenario) -> None:
        self.s = s

    def node_down(self, node: str) -> When:
        self.s.sim.cli("node", "down", node)
        return self

    def node_up(self, node: str) -> When:
        self.s.sim.cli("node", "up", node)
        return self

    def qos(self, value: float) -> When:
        self.s.qos_file.write_text(f"{value}\n")
        return self

    def fogstrat(self, *args: str) -> When:
        self.s.cli.ok(*args)
        return self

    def documents(self, *docs: dict[str, Any]) -> When:
        self.s.apply(*docs)
        return self

    def moment(self, predicate: Callable[[dict[str, Any]], bool], what: str,
               timeout: float = 30) -> dict[str, Any]:
        """Poll the raw status in etcd (every ~20 ms) until ``predicate``; return it."""
        return wait_for(lambda: (lambda st: st if st and predicate(st) else None)(
            self.s.raw_status()), timeout, what, self.s.describe, interval=0.01)

    def controller_killed(self, index: int = 0) -> When:
        """SIGKILL a controller (a crash: no resign, its lease runs out)."""
        self.s.controllers[index].kill()
        return self

    def controller_restarted(self, index: int = 0) -> When:
        self.s.controllers[index].start()
        return self

    def phase_reached(self, predicate: Callable[[dict[str, Any]], bool], what: str,
                      timeout: float = 30, interval: float = 0.05) -> dict[str, Any]:
        """Poll the status until ``predicate(status)``; return that status."""
        return wait_for(lambda: (lambda st: st if st and predicate(st) else None)(
            self.s.status()), timeout, what, self.s.describe, interval=interval)


class Then:
    def __init__(self, s: Scenario) -> None:
        self.s = s

    def status_matches(self, predicate: Callable[[dict[str, Any]], bool], what: str,
                       timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: (lambda st: st if st and predicate(st) else None)(
            self.s.status()), timeout, what, self.s.describe)

    def phase_is(self, phase: str, *, active: str | None = None, timeout: float = 30) -> Then:
        def ok(st: dict[str, Any]) -> bool:
            return bool(st.get("phase") == phase and (
                active is None or st.get("activeArchitecture") == active))
        self.status_matches(ok, f"phase {phase}" + (f" on {active}" if active else ""),
                            timeout)
        return self

    def stays(self, predicate: Callable[[dict[str, Any]], bool], what: str,
               seconds: float) -> Then:
        """``predicate(status)`` holds at every poll for ``seconds`` (a negative check: that
        something does NOT happen needs a bounded watch)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            st = self.s.status()
            assert predicate(st), f"{what} stopped holding\n{self.s.describe()}"
            time.sleep(0.2)
        return self

    def counts(self, *, failover: int | None = None, failback: int | None = None) -> Then:
        st = self.s.status()
        if failover is not None:
            assert st.get("failoverCount", 0) == failover, self.s.describe()
        if failback is not None:
            assert st.get("failbackCount", 0) == failback, self.s.describe()
        return self

    def history_has(self, **fields: str) -> dict[str, Any]:
        """A history entry whose fields equal ``fields`` (e.g. ``to="web-backup"``)."""
        for entry in self.s.status().get("history") or []:
            if all(str(entry.get(k)) == v for k, v in fields.items()):
                return dict(entry)
        raise AssertionError(f"no history entry with {fields}\n{self.s.describe()}")

    def condition(self, ctype: str, status: str | None = None,
                  st: dict[str, Any] | None = None) -> dict[str, Any]:
        for cond in (st or self.s.status()).get("conditions") or []:
            if cond.get("type") == ctype and (status is None or cond.get("status") == status):
                return dict(cond)
        raise AssertionError(f"no condition {ctype}={status}\n{self.s.describe()}")

    def fog_runs_only(self, arch_nodes: Iterable[str], timeout: float = 20) -> list[dict[str, Any]]:
        """Exactly one running ``web`` instance per listed node, nothing else in the fog
        (no other instance in any state), and each instance's process alive."""
        want = sorted(arch_nodes)

        def check() -> list[dict[str, Any]] | None:
            insts = self.s.instances()
            names = self.s.node_names()
            if sorted(names.get(i["node"], "?") for i in insts) != want:
                return None
            if any(i["status"] != "RUN" for i in insts):
                return None
            if not all(pid_alive((i.get("hypervisor_info") or {}).get("pid")) for i in insts):
                return None
            return insts

        return wait_for(check, timeout, f"the fog to run exactly on {want}", self.s.describe)

    def fog_empty(self, timeout: float = 20) -> Then:
        """No instance, no FDU in the catalog, no process under fogsim's workdir."""
        def check() -> bool:
            st = self.s.state()
            return not st["instances"] and not st["fdus"] and not processes_under(
                self.s.sim.workdir)
        wait_for(check, timeout, "an empty fog", self.s.describe)
        return self

    def one_serving(self, arch: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Serving on ``arch`` and the fog runs exactly that architecture's instances (the
        ones status records), nothing more: no orphan from another architecture."""
        self.phase_is("Serving", active=arch, timeout=timeout)
        node = {"web-main": "cloud-1"}.get(arch)
        st = self.s.status()
        recorded = st.get("architectures", {}).get(arch, {})
        insts = wait_for(lambda: (lambda xs: xs if len(xs) == 1 and all(
            i["status"] == "RUN" for i in xs) else None)(self.s.instances()), timeout,
            "exactly one instance in the fog", self.s.describe)
        if node is not None:
            assert self.s.node_names()[insts[0]["node"]] == node, self.s.describe()
        assert insts[0]["uuid"] in json.dumps(recorded.get("instances")), (
            f"fog instance {insts[0]['uuid']} not the one status records: {recorded}")
        pid = insts[0]["hypervisor_info"]["pid"]
        assert pid_alive(pid)
        # No orphan anywhere: the catalog holds only this architecture's FDUs, and the only
        # process fogsim runs is this instance's.
        fdus = [f.get("id", "") for f in self.s.state()["fdus"]]
        assert all(f".{arch}." in f for f in fdus), f"foreign FDUs left: {fdus}"
        wait_for(lambda: processes_under(self.s.sim.workdir) == [pid], 10,
                 f"only pid {pid} running under fogsim", lambda: str(
                     processes_under(self.s.sim.workdir)))
        return insts
