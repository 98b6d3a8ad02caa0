"""The HTTP half of :class:`~controller.fog.fogsim_driver.FogsimClient`: one pooled
session to one ``fogsim serve``, each exchange's outcome a value or a typed
:class:`~controller.fog.client.FogError`, and the retry of calls that are safe to repeat.

Only :class:`FogUnavailable` (connection refused/reset, 502/503/504) is retryable. A read
timeout uses up the deadline by construction (the per-attempt timeout is what is left of
it) and surfaces as :class:`FogTimeout`.

An answer is read whole within the call's deadline and at most :data:`MAX_ANSWER_BYTES`:
a fog that sends without end, slowly or fast, costs a bounded wait and a bounded buffer,
then a :class:`FogError`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from controller.api.limits import one_line
from controller.fog.client import (
    FogError,
    FogTimeout,
    FogUnavailable,
    IllegalTransition,
    InvalidDescriptor,
    NotFound,
)
from controller.fog.retry import Deadline, retry_call

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 2.0
MAX_ANSWER_BYTES = 64 * 2**20
"""The largest answer taken from fogsim: a listing of 10,000 instances, or a change feed's
answer of its whole log (65,536 records), is a few MB."""
_READ_BYTES = 256 * 1024


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, FogUnavailable)


@dataclass(frozen=True)
class HttpSettings:
    """How calls to fogsim are bounded and retried: ``timeout`` is each call's deadline
    (unless the call names one), ``max_attempts`` and the backoff bound its retries."""

    timeout: float = DEFAULT_TIMEOUT
    pool_size: int = 16
    max_attempts: int = 6
    backoff_base: float = 0.05
    backoff_cap: float = 1.0


class FogsimHttp:
    """Requests to fogsim within a deadline, retried while fogsim is unavailable."""

    def __init__(self, base_url: str, settings: HttpSettings | None = None) -> None:
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.settings.pool_size,
                              max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"
        # A compressed answer could inflate past any bound the reader keeps: none is asked
        # for, and one sent anyway is not decoded (it fails as non-JSON).
        self._session.headers["Accept-Encoding"] = "identity"
        # Proxy, netrc and CA-bundle lookups cost more than the request itself on loopback,
        # and they run on every call: a fog URL is used as given.
        self._session.trust_env = False
        if self.base_url.startswith("http://"):
            self._session.verify = False

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline(self.settings.timeout if timeout is None else timeout)

    def _retry(self, fn: Callable[[], T], deadline: Deadline, what: str) -> T:
        return retry_call(
            fn,
            deadline=deadline,
            what=what,
            retryable=_retryable,
            max_attempts=self.settings.max_attempts,
            base=self.settings.backoff_base,
            cap=self.settings.backoff_cap,
        )

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        deadline: Deadline,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        text: bool = False,
    ) -> Any:
        """One HTTP attempt; every outcome is a value or a typed :class:`FogError`."""
        resp = self._send(method, path, what, deadline, body=body, params=params)
        return self._decode(resp, what, text)

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        deadline: Deadline,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One HTTP exchange, any status; transport failures become typed FogErrors."""
        left = deadline.check(what)
        try:
            resp = self._session.request(
                method,
                self.base_url + path,
                json=body,
                params=params,
                headers=headers,
                timeout=(min(_CONNECT_TIMEOUT, left), left),
                stream=True,
            )
        except requests.exceptions.ConnectTimeout as exc:
            if deadline.expired():
                raise FogTimeout(f"{what}: fogsim at {self.base_url} did not answer") from None
            raise FogUnavailable(f"{what}: fogsim at {self.base_url} unreachable") from exc
        except requests.exceptions.Timeout:
            raise FogTimeout(
                f"{what}: fogsim at {self.base_url} gave no answer within {deadline.timeout:g}s"
            ) from None
        except requests.exceptions.ConnectionError:
            raise FogUnavailable(f"{what}: fogsim at {self.base_url} unreachable") from None
        except requests.exceptions.RequestException as exc:
            raise FogError(f"{what}: {one_line(str(exc))}") from None
        try:
            resp._content = self._read_body(resp, what, deadline)
        except BaseException:
            resp.close()  # partly read: the connection must not serve another call
            raise
        return resp

    def _read_body(self, resp: requests.Response, what: str, deadline: Deadline) -> bytes:
        """The answer's body, read whole before the deadline (each read waits at most what
        is left of it) and at most :data:`MAX_ANSWER_BYTES` long."""
        declared = resp.headers.get("Content-Length", "")
        if len(declared) > 12 or (declared.isdigit() and int(declared) > MAX_ANSWER_BYTES):
            raise self._too_large(what)
        raw = resp.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline.remaining()
            try:
                if left <= 0:
                    raise TimeoutError
                if isinstance(sock, socket.socket):
                    sock.settimeout(left)
                chunk = raw.read1(_READ_BYTES, decode_content=False)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
                raise FogTimeout(f"{what}: fogsim at {self.base_url} did not finish its "
                                 f"answer within {deadline.timeout:g}s") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise FogUnavailable(f"{what}: fogsim at {self.base_url} broke off its "
                                     f"answer ({one_line(type(exc).__name__)})") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise self._too_large(what)
            chunks.append(chunk)

    def _too_large(self, what: str) -> FogError:
        return FogError(f"{what}: fogsim at {self.base_url} sent an answer larger than "
                        f"{MAX_ANSWER_BYTES // 2**20} MiB")

    @staticmethod
    def _decode(resp: requests.Response, what: str, text: bool) -> Any:
        if resp.status_code == 200:
            if text:
                return resp.text
            try:
                return resp.json()
            except ValueError:
                raise FogError(f"{what}: fogsim sent a non-JSON answer") from None
            except RecursionError:
                raise FogError(f"{what}: fogsim sent an answer nested too deeply") from None
        try:
            payload = resp.json()
        except (ValueError, RecursionError):
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        reason = one_line(str(payload.get("error") or resp.reason or "error"))
        msg = f"{what}: {reason}"
        code = resp.status_code
        if code == 404:
            raise NotFound(msg)
        if code == 409:
            current = payload.get("current")
            requested = payload.get("requested")
            raise IllegalTransition(
                msg,
                current=str(current) if current is not None else None,
                requested=str(requested) if requested is not None else None,
            )
        if code == 400:
            raise InvalidDescriptor(msg)
        if code in (502, 503, 504):
            raise FogUnavailable(msg)
        raise FogError(f"{msg} (HTTP {code})")

    def _get(self, path: str, what: str, timeout: float | None, *, text: bool = False) -> Any:
        deadline = self._deadline(timeout)
        return self._retry(
            lambda: self._request("GET", path, what, deadline, text=text), deadline, what
        )

    def _idempotent_delete(self, path: str, what: str, timeout: float | None) -> None:
        """DELETE, retried; a 404 after a failed attempt means that attempt succeeded."""
        deadline = self._deadline(timeout)
        failed = False

        def attempt() -> None:
            nonlocal failed
            try:
                self._request("DELETE", path, what, deadline)
            except FogUnavailable:
                failed = True
                raise
            except NotFound:
                if not failed:
                    raise

        self._retry(attempt, deadline, what)

    def close(self) -> None:
        self._session.close()
