"""A real Prometheus server for tests: loopback, free port, temp config and TSDB.

    with PrometheusServer(["127.0.0.1:9469"]) as prom:
        prom.wait_for(lambda: prom.query("up") != [])
        prom.query('fogstrat_leader')            # the result list of an instant query
        prom.api("/api/v1/alerts")               # any API call, as decoded JSON

Scrape and rule-evaluation intervals are 1s; ``deploy/prometheus/rules.yaml`` is loaded
(``rule_files`` can name others). The process is always stopped: on ``stop()``, on
context exit and at interpreter exit. The binary comes from $PROMETHEUS_BIN, PATH or
/usr/bin/prometheus.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from tests.support.process import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"

T = TypeVar("T")


def prometheus_binary() -> str | None:
    explicit = os.environ.get("PROMETHEUS_BIN")
    if explicit:
        return explicit
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def promtool_binary() -> str | None:
    return os.environ.get("PROMTOOL_BIN") or shutil.which("promtool") or (
        "/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None)


class PrometheusError(RuntimeError):
    """A query or API call that did not answer 200 / status success."""

    def __init__(self, message: str, status: int | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class PrometheusServer(ServerProcess):
    """One Prometheus scraping ``targets`` (``host:port``) under job ``job``."""

    name = "prometheus"

    def __init__(self, targets: Iterable[str], *, job: str = "fogstrat",
                 rule_files: Sequence[str | os.PathLike[str]] = (RULES,),
                 interval: str = "1s", start_timeout: float = 30.0,
                 binary: str | None = None) -> None:
        self.targets = list(targets)
        self.job = job
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.interval = interval
        self.start_timeout = start_timeout
        self.binary = binary or prometheus_binary() or "prometheus"
        self.port = free_port()
        self._tmp = Path(tempfile.mkdtemp(prefix="fogstrat-prometheus-"))
        self.config_path = self._tmp / "prometheus.yml"
        super().__init__(self._tmp / "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        # JSON is YAML: no dependency on a YAML writer, and no quoting surprises.
        config = {
            "global": {"scrape_interval": self.interval,
                       "scrape_timeout": self.interval,
                       "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{
                "job_name": self.job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": self.targets}],
            }],
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def start(self) -> Self:
        """Start Prometheus and wait until ``/-/ready`` answers 200."""
        if self.running:
            return self
        self._write_config()
        cmd = [self.binary, f"--config.file={self.config_path}",
               f"--storage.tsdb.path={self._tmp / 'data'}",
               f"--web.listen-address=127.0.0.1:{self.port}",
               "--web.enable-lifecycle", "--log.level=warn"]
        self._spawn(cmd)
        self._wait_until(self._ready, self.start_timeout, f"at {self.url}", interval=0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ API

    def api(self, path: str, params: dict[str, str] | None = None,
            timeout: float = 10.0) -> dict[str, Any]:
        """GET ``path`` (``/api/v1/...``); the decoded body of a 200 with status success.

        Raises :class:`PrometheusError` (with ``status`` and the decoded ``body``)
        otherwise, so a query that fails to parse or execute names its error.
        """
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            body: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise PrometheusError(f"{path}: HTTP {status}, not JSON: {raw[:200]!r}",
                                  status) from None
        if status != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"{path} {params or ''}: HTTP {status}, {body.get('errorType')}: "
                f"{body.get('error')}", status, body)
        return body

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the ``result`` list (vector/matrix), or ``[scalar]``."""
        params = {"query": expr}
        if time_ is not None:
            params["time"] = f"{time_:.3f}"
        data = self.api("/api/v1/query", params)["data"]
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, expr: str, start: float, end: float,
                    step: float = 1.0) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                  "step": f"{step:g}"}
        return list(self.api("/api/v1/query_range", params)["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/alerts")["data"]["alerts"])

    def targets_up(self) -> bool:
        """True when every configured target has been scraped successfully."""
        active = self.api("/api/v1/targets")["data"]["activeTargets"]
        return bool(active) and all(t.get("health") == "up" for t in active)

    def wait_for(self, check: Callable[[], T], timeout: float = 30.0,
                 interval: float = 0.25, what: str = "condition") -> T:
        """Poll ``check`` until it returns something truthy; its last value."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while True:
            try:
                value = check()
                if value:
                    return value
            except PrometheusError as exc:
                last_exc = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus: {what} not reached in {timeout}s"
                                     + (f" (last error: {last_exc})" if last_exc else ""))
            time.sleep(interval)



def sample_value(sample: dict[str, Any]) -> float:
    """The float value of one instant-vector sample (or scalar)."""
    return float(sample["value"][1])
