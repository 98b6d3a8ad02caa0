"""FogClient over fogsim's HTTP API (``hack/fogsim/API.md``).

Retry policy (docs/design.md §7): only calls that are safe to repeat are retried, with a
capped, jittered backoff, inside one deadline per call:

* GETs, onboard (idempotent per descriptor ``id``), offload and undefine (a retry that
  finds the object gone means an earlier attempt removed it);
* configure/start/stop/clean: after a failed attempt the instance is re-read first; if it
  is already in the target state the call succeeded, if it is still in an allowed source
  state the request is sent again, anything else is an :class:`IllegalTransition`;
* define is never retried blindly, since every define creates a new random instance. The
  FDU's instances are listed before the first attempt; after a failure they are listed
  again and exactly one new instance on the node is adopted as ours. This assumes one
  writer per FDU and node (the controller); with none new, define is sent again.

Only :class:`FogUnavailable` (connection refused/reset, 502/503/504) is retryable. A read
timeout uses up the deadline by construction (the per-attempt timeout is what is left of
it) and surfaces as :class:`FogTimeout`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from controller.api.limits import one_line
from controller.fog.client import (
    FeedCursor,
    FogChange,
    FogChangeKind,
    FogError,
    FogFeed,
    FogTimeout,
    FogUnavailable,
    IllegalTransition,
    InstanceInfo,
    InstanceState,
    InvalidDescriptor,
    NodeInfo,
    NodeStatus,
    NotFound,
)
from controller.fog.feed_records import change_from_entry, feed_body
from controller.fog.fogsim_networks import FogsimNetworks
from controller.fog.node_labels import NodeLabels
from controller.fog.records import (
    instance_from_record,
    node_info_from_record,
    node_status_from_record,
)
from controller.fog.retry import Deadline, retry_call

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 2.0

# op -> (states it may start from, state it ends in)
_TRANSITIONS: dict[str, tuple[frozenset[InstanceState], InstanceState]] = {
    "configure": (frozenset({InstanceState.DEFINE}), InstanceState.CONFIGURE),
    "start": (frozenset({InstanceState.CONFIGURE}), InstanceState.RUN),
    "stop": (frozenset({InstanceState.RUN}), InstanceState.CONFIGURE),
    "clean": (frozenset({InstanceState.CONFIGURE, InstanceState.ERROR}), InstanceState.DEFINE),
}

REVISION_HEADER = "X-Fogsim-Revision"
EPOCH_HEADER = "X-Fogsim-Epoch"
MAX_FEED_WAIT = 300.0
"""The longest long poll fogsim accepts."""

LOG_TAIL_BYTES = 65536
"""The most of an instance log read at once."""


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, FogUnavailable)


class FogsimClient(FogsimNetworks):
    """Talks to one ``fogsim serve`` over a pooled HTTP session."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pool_size: int = 16,
        max_attempts: int = 6,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
        node_labels: NodeLabels | None = None,
    ) -> None:
        self.node_labels: NodeLabels = dict(node_labels or {})
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"
        # Proxy, netrc and CA-bundle lookups cost more than the request itself on loopback,
        # and they run on every call: a fog URL is used as given.
        self._session.trust_env = False
        if self.base_url.startswith("http://"):
            self._session.verify = False
        self._listing: tuple[str, dict[str, InstanceInfo]] | None = None
        """The last full instance listing and its ETag (see ``all_instances``)."""

    # --- plumbing ----------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline(self.timeout if timeout is None else timeout)

    def _retry(self, fn: Callable[[], T], deadline: Deadline, what: str) -> T:
        return retry_call(
            fn,
            deadline=deadline,
            what=what,
            retryable=_retryable,
            max_attempts=self.max_attempts,
            base=self.backoff_base,
            cap=self.backoff_cap,
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
            return self._session.request(
                method,
                self.base_url + path,
                json=body,
                params=params,
                headers=headers,
                timeout=(min(_CONNECT_TIMEOUT, left), left),
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

    @staticmethod
    def _decode(resp: requests.Response, what: str, text: bool) -> Any:
        if resp.status_code == 200:
            if text:
                return resp.text
            try:
                return resp.json()
            except ValueError:
                raise FogError(f"{what}: fogsim sent a non-JSON answer") from None
        try:
            payload = resp.json()
        except ValueError:
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

    # --- nodes -------------------------------------------------------------------------

    def list_nodes(self, *, timeout: float | None = None) -> list[str]:
        return [str(n) for n in self._get("/nodes/list", "list nodes", timeout)]

    def node_info(self, node_id: str, *, timeout: float | None = None) -> NodeInfo:
        rec = self._get(f"/nodes/{node_id}/info", f"node info {node_id}", timeout)
        return node_info_from_record(rec, self.node_labels)

    def node_status(self, node_id: str, *, timeout: float | None = None) -> NodeStatus:
        rec = self._get(f"/nodes/{node_id}/status", f"node status {node_id}", timeout)
        return node_status_from_record(rec)

    # --- catalog -----------------------------------------------------------------------

    def onboard(self, descriptor: Mapping[str, Any], *, timeout: float | None = None) -> str:
        fid = descriptor.get("id")
        if not isinstance(fid, str) or not fid:
            raise InvalidDescriptor("onboard FDU: descriptor has no 'id'")
        what = f"onboard FDU {fid}"
        deadline = self._deadline(timeout)
        body = dict(descriptor)
        rec = self._retry(
            lambda: self._request("PUT", f"/fdu/{fid}/info", what, deadline, body=body),
            deadline,
            what,
        )
        return str(rec["uuid"])

    def offload(self, fdu_id: str, *, timeout: float | None = None) -> None:
        self._idempotent_delete(f"/fdu/{fdu_id}/info", f"offload FDU {fdu_id}", timeout)

    def fdu_info(self, fdu_id: str, *, timeout: float | None = None) -> Mapping[str, Any]:
        rec = self._get(f"/fdu/{fdu_id}/info", f"FDU info {fdu_id}", timeout)
        return dict(rec)

    def list_fdus(self, *, timeout: float | None = None) -> list[str]:
        return [str(f) for f in self._get("/fdu/list", "list FDUs", timeout)]

    # --- instances ---------------------------------------------------------------------

    def _instances_once(self, fdu_id: str, what: str, deadline: Deadline) -> dict[str, list[str]]:
        rec = self._request("GET", f"/fdu/{fdu_id}/instances/list", what, deadline)
        return {str(n): [str(i) for i in iids] for n, iids in rec.items()}

    def instances(self, fdu_id: str, *, timeout: float | None = None) -> dict[str, list[str]]:
        what = f"list instances of FDU {fdu_id}"
        deadline = self._deadline(timeout)
        return self._retry(lambda: self._instances_once(fdu_id, what, deadline), deadline, what)

    def all_instances(self, *, timeout: float | None = None) -> dict[str, InstanceInfo]:
        """Every instance, re-parsed only when fogsim says something changed (its
        ``ETag``): a steady fog of ten thousand instances is one small request."""
        what = "list all instances"
        deadline = self._deadline(timeout)
        last = self._listing
        headers = {"If-None-Match": last[0]} if last is not None else None

        def once() -> tuple[str, dict[str, InstanceInfo]] | None:
            resp = self._send("GET", "/fdu/instances/list", what, deadline, headers=headers)
            if resp.status_code == 304 and last is not None:
                return None
            records = self._decode(resp, what, text=False)
            infos = (instance_from_record(rec) for rec in records)
            return resp.headers.get("ETag", ""), {i.instance_id: i for i in infos}

        fresh = self._retry(once, deadline, what)
        if fresh is None:
            assert last is not None
            return dict(last[1])
        if fresh[0]:
            self._listing = fresh
        return dict(fresh[1])

    def watch_instances(self, since: FeedCursor | None, *, wait: float = 30.0,
                        timeout: float | None = None) -> FogFeed:
        """fogsim's feed as a long poll; a ``410`` (expired, another epoch) re-lists."""
        if since is None:
            return self._relist(timeout)
        what = "watch instances"
        wait = min(max(0.0, wait), MAX_FEED_WAIT)
        deadline = self._deadline((self.timeout if timeout is None else timeout) + wait)
        params = {"since": str(since.revision), "epoch": since.epoch, "watch": "true",
                  "timeout": f"{wait:g}"}

        def once() -> Any:
            resp = self._send("GET", "/fdu/instances/list", what, deadline, params=params)
            return None if resp.status_code == 410 else self._decode(resp, what, False)

        body = self._retry(once, deadline, what)
        if body is None:
            return self._relist(timeout)
        epoch, revision, entries = feed_body(body)
        changes = tuple(change_from_entry(entry, revision) for entry in entries)
        return FogFeed(FeedCursor(epoch, revision), changes)

    def _relist(self, timeout: float | None) -> FogFeed:
        what = "list all instances"
        deadline = self._deadline(timeout)

        def once() -> tuple[str, int, list[InstanceInfo]]:
            resp = self._send("GET", "/fdu/instances/list", what, deadline)
            records = self._decode(resp, what, text=False)
            try:
                revision = int(resp.headers.get(REVISION_HEADER, ""))
            except ValueError:
                raise FogError(f"{what}: fogsim sent no revision (too old a fogsim?)") from None
            epoch = resp.headers.get(EPOCH_HEADER, "")
            return epoch, revision, [instance_from_record(rec) for rec in records]

        epoch, revision, infos = self._retry(once, deadline, what)
        changes = [FogChange(FogChangeKind.INSTANCE, i.instance_id, revision, instance=i)
                   for i in infos]
        changes += [FogChange(FogChangeKind.NODE, nid, revision)
                    for nid in self.list_nodes(timeout=timeout)]
        return FogFeed(FeedCursor(epoch, revision), tuple(changes), relisted=True)

    def define(self, fdu_id: str, node_id: str, *, timeout: float | None = None,
               existing: Collection[str] | None = None) -> InstanceInfo:
        what = f"define FDU {fdu_id} on node {node_id}"
        deadline = self._deadline(timeout)

        def all_iids() -> set[str]:
            listing = self._instances_once(fdu_id, what, deadline)
            return {i for iids in listing.values() for i in iids}

        # What was there before, to tell our instance apart if the answer is lost.
        before = set(existing) if existing is not None else self._retry(all_iids, deadline,
                                                                         what)
        failed = False

        def attempt() -> InstanceInfo:
            nonlocal failed
            if failed:
                new = sorted(all_iids() - before)
                if len(new) == 1:
                    rec = self._request("GET", f"/fdu/instances/{new[0]}/info", what, deadline)
                    return instance_from_record(rec)
                if len(new) > 1:
                    raise FogError(f"{what}: outcome unknown, new instances {', '.join(new)}")
            try:
                rec = self._request("POST", f"/nodes/{node_id}/fdu/{fdu_id}/define", what, deadline)
            except FogUnavailable:
                failed = True
                raise
            return instance_from_record(rec)

        return self._retry(attempt, deadline, what)

    def _transition(
        self, op: str, instance_id: str, timeout: float | None, body: Any = None
    ) -> InstanceInfo:
        sources, target = _TRANSITIONS[op]
        what = f"{op} instance {instance_id}"
        deadline = self._deadline(timeout)
        failed = False

        def attempt() -> InstanceInfo:
            nonlocal failed
            if failed:
                rec = self._request("GET", f"/fdu/instances/{instance_id}/info", what, deadline)
                info = instance_from_record(rec)
                if info.state is target or (op == "start" and info.state is InstanceState.ERROR):
                    return info
                if info.state not in sources:
                    raise IllegalTransition(
                        f"{what}: instance is in state {info.state.value}",
                        current=info.state.value,
                        requested=op,
                    )
            try:
                rec = self._request(
                    "POST", f"/fdu/instances/{instance_id}/{op}", what, deadline, body=body
                )
            except FogUnavailable:
                failed = True
                raise
            return instance_from_record(rec)

        return self._retry(attempt, deadline, what)

    def configure(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition("configure", instance_id, timeout)

    def start(
        self,
        instance_id: str,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> InstanceInfo:
        body = {"env": {str(k): str(v) for k, v in (env or {}).items()}}
        return self._transition("start", instance_id, timeout, body)

    def stop(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition("stop", instance_id, timeout)

    def clean(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        return self._transition("clean", instance_id, timeout)

    def undefine(self, instance_id: str, *, timeout: float | None = None) -> None:
        self._idempotent_delete(
            f"/fdu/instances/{instance_id}/info", f"undefine instance {instance_id}", timeout
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

    def instance_info(self, instance_id: str, *, timeout: float | None = None) -> InstanceInfo:
        rec = self._get(
            f"/fdu/instances/{instance_id}/info", f"instance info {instance_id}", timeout
        )
        return instance_from_record(rec)

    def instance_log(self, instance_id: str, *, timeout: float | None = None) -> str:
        """The end of the instance's output (its last ``LOG_TAIL_BYTES``): what a message
        quotes, never a whole log however long it grew."""
        out = self._get(
            f"/fdu/instances/{instance_id}/log?tail={LOG_TAIL_BYTES}",
            f"instance log {instance_id}", timeout, text=True
        )
        return str(out)

    def close(self) -> None:
        self._session.close()
