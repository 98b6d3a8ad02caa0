"""Probe I/O: HTTP, TCP, QoS over HTTP JSON or Prometheus, fog05 instance state.

Each function returns ``(outcome, message, value)`` and never raises. The rules that
make outcomes comparable across kinds: connection refused or reset = *failure* (the
endpoint is dead); no answer in time = *unknown* (we could not tell); an answer larger
than :data:`httpget.MAX_ANSWER_BYTES`, or still arriving at the deadline = *failure*
(the service did answer, and not as a healthy one does). A Prometheus query that
cannot be run is always *unknown*: the metrics backend is not the service.
"""

from __future__ import annotations

import errno
import json
import socket
from typing import Any
from urllib.parse import urlencode

from controller.api.models import HttpCheck, PrometheusQuery, QosCheck
from controller.arch import httpget
from controller.arch.probes import (
    Outcome,
    Unmeasurable,
    Verdict,
    compare,
    evaluate_state,
    evaluate_status,
    extract_field,
    prometheus_value,
)
from controller.fog.client import FogClient, FogError, InstanceInfo, NotFound

_REFUSED = (errno.ECONNREFUSED, errno.ECONNRESET)


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refused(exc: BaseException) -> bool:
    cur: BaseException | None = exc
    seen = 0
    while cur is not None and seen < 10:
        if isinstance(cur, ConnectionRefusedError | ConnectionResetError):
            return True
        if isinstance(cur, OSError) and cur.errno in _REFUSED:
            return True
        text = str(cur)
        if "Connection refused" in text or "Connection reset" in text:
            return True
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt
        seen += 1
    return False


def url_for(host: str, check: HttpCheck) -> str:
    path = check.path if check.path.startswith("/") else "/" + check.path
    return f"{check.scheme}://{host}:{check.port}{path}"


def _http_get(url: str, timeout: float, accept: str = "*/*") -> httpget.Answer | Verdict:
    """The answer, or the verdict on an exchange that gave none (see :mod:`httpget`)."""
    try:
        return httpget.get(url, timeout, accept=accept)
    except httpget.Refused as exc:
        return Outcome.FAILURE, f"GET {url}: {exc}", None
    except httpget.BadAnswer as exc:
        return Outcome.FAILURE, f"GET {url}: {_short(exc)}", None
    except httpget.Unanswered as exc:
        return Outcome.UNKNOWN, f"GET {url}: {_short(exc)}", None


def http_check(host: str, check: HttpCheck, timeout: float) -> Verdict:
    got = _http_get(url_for(host, check), timeout)
    if isinstance(got, tuple):
        return got
    outcome, msg = evaluate_status(got.status, check.expected_status)
    return outcome, msg, float(got.status)


def tcp_check(host: str, port: int, timeout: float) -> Verdict:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Outcome.SUCCESS, f"tcp {host}:{port} open", None
    except TimeoutError:
        return Outcome.UNKNOWN, f"tcp {host}:{port}: timed out after {timeout:g}s", None
    except OSError as exc:
        if _refused(exc):
            return Outcome.FAILURE, f"tcp {host}:{port}: connection refused", None
        return Outcome.UNKNOWN, f"tcp {host}:{port}: {_short(exc)}", None


def _json(body: bytes) -> Any:
    """The parsed answer; ValueError when it is not JSON (or nests past the parser)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("answer nests too deeply") from None


def qos_http_check(host: str, qos: QosCheck, timeout: float) -> Verdict:
    assert qos.http is not None and qos.field is not None
    url = url_for(host, qos.http)
    got = _http_get(url, timeout, "application/json")
    if isinstance(got, tuple):
        return got
    if got.status != qos.http.expected_status:
        return Outcome.FAILURE, f"GET {url}: HTTP {got.status}", None
    try:
        value = extract_field(_json(got.body), qos.field)
    except ValueError:
        return Outcome.UNKNOWN, f"GET {url}: answer is not JSON", None
    except Unmeasurable as exc:
        return Outcome.UNKNOWN, f"{qos.field}: {exc}", None
    outcome, msg = compare(value, qos.min, qos.max)
    return outcome, f"{qos.field} {msg}", value


def qos_prometheus_check(query: PrometheusQuery, qos: QosCheck, timeout: float) -> Verdict:
    url = query.url.rstrip("/") + "/api/v1/query?" + urlencode({"query": query.query})
    try:
        answer = _json(httpget.get(url, timeout, accept="application/json").body)
    except httpget.ProbeError as exc:
        return Outcome.UNKNOWN, f"prometheus: {_short(exc)}", None
    except ValueError as exc:
        return Outcome.UNKNOWN, f"prometheus: answer is not JSON ({_short(exc)})", None
    try:
        value = prometheus_value(answer)
    except Unmeasurable as exc:
        return Outcome.UNKNOWN, f"prometheus: {exc}", None
    outcome, msg = compare(value, qos.min, qos.max)
    return outcome, msg, value


def state_check(fog: FogClient, instance_id: str | None, expected: str, timeout: float,
                where: str = "") -> Verdict:
    """The instance's state; a failed one says why in the fog's words (``where``: e.g.
    ``aggregator on cloud-1``, to start that sentence)."""
    if instance_id is None:
        return Outcome.FAILURE, "no instance", None
    try:
        info = fog.recent_instance_info(instance_id, timeout=timeout)
    except NotFound:
        return Outcome.FAILURE, f"instance {instance_id} is gone", None
    except FogError as exc:
        return Outcome.UNKNOWN, f"instance {instance_id}: {_short(exc)}", None
    outcome, msg = evaluate_state(info.state.value, expected)
    if outcome is Outcome.FAILURE and (info.error_msg or info.error_code):
        msg = fog_reason(fog, info, timeout, where or f"instance {instance_id}")
    return outcome, msg, None


LOG_LINE_LIMIT = 300
"""Characters of the instance log's last line kept in a message."""


def fog_reason(fog: FogClient, info: InstanceInfo, timeout: float, where: str) -> str:
    """``<where> <the fog's error>: <the last line the instance wrote>``; read only when
    an instance failed, so a healthy cycle costs nothing more."""
    error = info.error_msg or f"failed with error code {info.error_code}"
    if error.startswith("process "):
        error = error[len("process "):]
    try:
        log = fog.instance_log(info.instance_id, timeout=timeout)
    except FogError:
        log = ""
    lines = [line.strip() for line in log[-4096:].splitlines() if line.strip()]
    last = lines[-1][:LOG_LINE_LIMIT] if lines else ""
    return f"{where} {error}" + (f": {last}" if last else "")
