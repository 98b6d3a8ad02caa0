"""The seed's story, measured as its user sees it: bench row (b) and the service's downtime.

One stack with real processes (etcd, fogsim running ``deploy/examples/workloads``, a
``fogstrat controller``) serves the example prediction service; an independent client
(``tests.support.endpoint_client``) knows only the published endpoint key, follows it by
an etcd watch and asks for a prediction every 50 ms. Each trial, from federated learning
serving:

1. the replacement, gossip learning, is deployed directly through a fog client of its
   own with the controller's engine (a second copy under another owner, so nothing the
   controller runs is touched), probed at the controller's start-up cadence
   (``health.startupInterval``) until its readiness probes pass, then removed: the
   limit of row (b);
2. the aggregator's node goes down: until the client's first answer from gossip learning
   (row (b), and the failover downtime);
3. the node comes back: the longest outage of the make-before-break failback;
4. the aggregator's process is killed (fogsim's crash): until the client's next answer;
5. the failback after it.

The documents are the example's but for a 5 s failback window and a flap guard that
allows every trial's failovers, so a trial takes about 40 s instead of two minutes.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.api.models import ArchitectureDataSpec, ArchitectureSpec, EnvironmentSpec
from controller.api.parse import parse_document
from controller.arch import ArchitectureKey, EngineOptions, Health, build_architecture
from controller.fog.factory import make_fog_client
from controller.reconcile.probing import startup_interval
from controller.runtime.handles import absolute_data
from controller.store import Store, connect
from hack.bench import world
from tests.support.endpoint_client import Answer, EndpointClient
from tests.support.prediction import (
    MAIN,
    NAME,
    REPLACEMENT,
    REPO,
    example_documents,
    running,
    service_key,
    story_scenario,
)
from tests.support.scenario import Scenario

WINDOW = "5s"
"""The failback stabilization window here (the example's 30 s only makes trials longer:
nothing is measured while it runs)."""
TIMEOUT = 120.0
"""Per wait for the controller or the client (a stuck trial fails the row, not the
bench's budget)."""


@dataclass
class StoryResult:
    failover_s: list[float] = field(default_factory=list)
    """Node down -> the client's first answer from the replacement."""
    direct_s: list[float] = field(default_factory=list)
    """The replacement deployed and ready, directly through a fog client."""
    crash_s: list[float] = field(default_factory=list)
    """Aggregator process killed -> the client's next answer."""
    crash_to: list[str] = field(default_factory=list)
    """What answered after each crash."""
    failback_s: list[float] = field(default_factory=list)
    """Longest outage the client saw during a failback."""
    failback_failed: list[int] = field(default_factory=list)
    """Requests that got no answer during each failback."""
    switch_s: list[float] = field(default_factory=list)
    """The client's gap in answers across the endpoint's move to the main in a failback:
    from its last answer before it saw the move to its first after."""
    answered: int = 0
    requests: int = 0
    seconds: float = 0.0
    """How long the whole measurement took (the bench's budget)."""

    def figures(self) -> dict[str, Any]:
        return {"failover_s": self.failover_s, "direct_s": self.direct_s,
                "crash_s": self.crash_s, "crash_to": self.crash_to,
                "failback_s": self.failback_s, "failback_failed": self.failback_failed,
                "switch_s": self.switch_s}

    def ratio(self) -> float:
        return statistics.median(self.failover_s) / statistics.median(self.direct_s)

    def rows(self) -> list[str]:
        n, ratio = len(self.failover_s), self.ratio()
        verdict = "ok" if ratio <= 1.2 else "**over**"

        def ms(values: list[float]) -> str:
            if not values:
                return "—"
            each = ", ".join(f"{v * 1000:.0f}" for v in values)
            return f"{statistics.median(values) * 1000:.0f} ms (each: {each})"

        crashed = ", ".join(sorted(set(self.crash_to)))
        return [
            f"| (b) node down → replacement serving, as its endpoint-following user sees "
            f"it (median of {n}) | {ms(self.failover_s)} | replacement deployed and ready "
            f"directly {ms(self.direct_s)} | {ratio:.2f} | ≤ 1.2 | {verdict} |",
            f"| story: downtime, aggregator's process crashed → answered by {crashed} "
            f"(median of {len(self.crash_s)}) | {ms(self.crash_s)} | — | — | — | context |",
            f"| story: downtime, make-before-break failback (longest outage, median of "
            f"{len(self.failback_s)}) | {ms(self.failback_s)}; requests failed: "
            f"{sum(self.failback_failed)} | — | — | — | context |",
            f"| story: make-before-break failback, the client's gap across the endpoint's "
            f"move (median of {len(self.switch_s)}) | {ms(self.switch_s)} | — | — | — "
            f"| context |",
        ]


def measure_story(endpoint: str, prefix: str, trials: int, log_file: Path) -> StoryResult:
    """``trials`` rounds of the story (see the module doc) on the etcd at ``endpoint``."""
    result = StoryResult()
    started = time.monotonic()
    store = connect(endpoint)
    try:
        with story_scenario(endpoint, prefix) as s:
            docs = example_documents(s.sim.url, window=WINDOW)
            for d in docs:
                if d["kind"] == "Strategy":
                    d["spec"]["policy"]["maxFailoversPerHour"] = 4 * trials + 4
            s.given.documents(*docs)
            s.controller(cwd=str(REPO), log_path=log_file).start()
            story = Story(s, store, DirectDeploy(s.sim.url, docs), result)
            story.wait_serving(MAIN)
            with EndpointClient(endpoint, service_key(s)) as client:
                since = client.mark()
                _wait(lambda: client.answered_since(since, MAIN), "the client's first answer")
                for _ in range(trials):
                    story.trial(client)
                result.answered = sum(a.ok for a in client.answers)
                result.requests = len(client.answers)
    finally:
        store.close()
    result.seconds = time.monotonic() - started
    return result


@dataclass
class Story:
    """One running story: its stack, a store to read its status cheaply (a CLI process
    per poll would load the 2 cores being measured), the direct deploy, the figures."""

    s: Scenario
    store: Store
    direct: DirectDeploy
    result: StoryResult

    def trial(self, client: EndpointClient) -> None:
        s, result = self.s, self.result
        result.direct_s.append(self.direct.deploy_and_ready())
        node = self.aggregator_node()
        at = time.monotonic()  # fogsim's own HTTP call: the CLI's start-up is not downtime
        _post(s.sim.url, f"/sim/nodes/{node}/down")
        got = _answer(client, at, REPLACEMENT)
        result.failover_s.append(got.done - at)
        self.wait_serving(REPLACEMENT)
        _post(s.sim.url, f"/sim/nodes/{node}/up")
        result.failback_s.append(self.failback(client))
        aggregator = _aggregator(s)
        _post(s.sim.url, f"/sim/instances/{aggregator}/crash")
        at = time.monotonic()  # after the kill: a request sent just before may be answered
        got = _answer(client, at, None)
        result.crash_s.append(got.done - at)
        result.crash_to.append(got.endpoint.architecture or "?")
        self.wait_serving(REPLACEMENT, MAIN)
        if self.serving(REPLACEMENT):
            result.failback_s.append(self.failback(client))

    def failback(self, client: EndpointClient) -> float:
        """Wait for the failback to federated learning (after the window) and for the
        client's answer from it; the longest outage the client saw meanwhile."""
        start = time.monotonic()
        self.wait_serving(MAIN)
        got = _answer(client, start, MAIN)
        end = got.done + 0.5
        time.sleep(max(0.0, end - time.monotonic()))
        answers = list(client.answers)
        self.result.failback_failed.append(
            sum(not a.ok for a in answers if start <= a.sent <= end))
        moved = next(p.at for p in list(client.published)
                     if p.at >= start and p.architecture == MAIN)
        before = [a.done for a in answers if a.ok and start <= a.done <= moved]
        after = [a.done for a in answers if a.ok and a.done > moved]
        if before and after:
            self.result.switch_s.append(min(after) - max(before))
        return client.downtime(start, end)

    def status(self) -> dict[str, Any]:
        return world.read_status(self.store, self.s.prefix, NAME) or {}

    def serving(self, *architectures: str) -> bool:
        st = self.status()
        return st.get("phase") == "Serving" and st.get("activeArchitecture") in architectures

    def wait_serving(self, *architectures: str) -> None:
        _wait(lambda: self.serving(*architectures), f"{' or '.join(architectures)} to serve")

    def aggregator_node(self) -> str:
        """The name of the node federated learning's aggregator runs on."""
        node = str(self.status()["architectures"][MAIN]["placement"]["aggregator"][0])
        names = {str(n["uuid"]): str(n["name"]) for n in self.s.state()["nodes"]}
        return names.get(node, node)


def _answer(client: EndpointClient, since: float, architecture: str | None) -> Answer:
    got = _wait(lambda: client.first_answer(since, architecture),
                f"an answer from {architecture or 'the service'}", interval=0.01)
    assert isinstance(got, Answer)
    return got


def _aggregator(s: Scenario) -> str:
    """The instance id of federated learning's running aggregator."""
    found = running(s.state(), MAIN, "aggregator")
    if not found:
        raise RuntimeError("no running aggregator to crash")
    return str(found[0]["uuid"])


def _post(fog_url: str, path: str) -> Any:
    req = urllib.request.Request(fog_url + path, method="POST", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(pred: Callable[[], Any], what: str, interval: float = 0.1) -> Any:
    end = time.monotonic() + TIMEOUT
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise TimeoutError(f"story: timed out after {TIMEOUT:.0f}s waiting for {what}")
        time.sleep(interval)


class DirectDeploy:
    """The replacement's own deploy-and-ready time: gossip learning built by the
    controller's engine (``controller.arch``) on a fog client of its own, deployed,
    probed until healthy and removed, as one failover would but with nobody deciding."""

    def __init__(self, fog_url: str, docs: list[dict[str, Any]]) -> None:
        specs = {(d["kind"], d["metadata"]["name"]): parse_document(d).spec for d in docs}
        self.spec = specs[("Architecture", REPLACEMENT)]
        self.environment = next(v for (k, _), v in specs.items() if k == "Environment")
        data = specs[("ArchitectureData", f"{REPLACEMENT}-hydraulic-system")]
        strategy = next(d for d in docs if d["kind"] == "Strategy")
        self.config = strategy["spec"]["replacements"][0].get("config") or {}
        assert isinstance(self.spec, ArchitectureSpec)
        assert isinstance(self.environment, EnvironmentSpec)
        assert isinstance(data, ArchitectureDataSpec)
        self.data = absolute_data(data, REPO)
        self.fog_url = fog_url
        self.trial = 0

    def deploy_and_ready(self) -> float:
        """Seconds from the deploy call to the first healthy probe cycle."""
        self.trial += 1
        assert isinstance(self.spec, ArchitectureSpec)
        assert isinstance(self.environment, EnvironmentSpec)
        key = ArchitectureKey("default", f"direct-{self.trial}", REPLACEMENT)
        fog = make_fog_client("fogsim", self.fog_url, timeout=10.0)
        arch = build_architecture(key, self.spec, options=EngineOptions(deploy_timeout=TIMEOUT))
        try:
            arch.configure(self.config)
            arch.associate(fog, self.environment, {})
            started = time.monotonic()
            arch.deploy(self.data, nothing_there=True)
            # probed at the cadence the controller probes a target still starting up, so
            # both wait alike for the cycle after the replacement becomes ready
            _wait(lambda: arch.check_status().health is Health.HEALTHY,
                  "the direct gossip learning to be healthy",
                  interval=startup_interval(self.spec.health))
            return time.monotonic() - started
        finally:
            if arch.lifecycle.is_deployed:
                arch.undeploy()
            fog.close()
