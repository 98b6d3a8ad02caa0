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

What is retryable, and how a request becomes a value or a typed error, is
:mod:`controller.fog.fogsim_http`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from controller.fog.client import (
    FeedCursor,
    FogChange,
    FogChangeKind,
    FogError,
    FogFeed,
    FogUnavailable,
    IllegalTransition,
    InstanceInfo,
    InstanceState,
    InvalidDescriptor,
    NodeInfo,
    NodeStatus,
)
from controller.fog.feed_records import change_from_entry, feed_body
from controller.fog.fogsim_http import FogsimHttp, HttpSettings
from controller.fog.fogsim_networks import FogsimNetworks
from controller.fog.node_labels import NodeLabels
from controller.fog.records import (
    instance_from_record,
    node_info_from_record,
    node_status_from_record,
)
from controller.fog.retry import Deadline

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


class FogsimClient(FogsimHttp, FogsimNetworks):
    """Talks to one ``fogsim serve`` over a pooled HTTP session."""

    def __init__(self, base_url: str, settings: HttpSettings | None = None, *,
                 node_labels: NodeLabels | None = None) -> None:
        super().__init__(base_url, settings)
        self.node_labels: NodeLabels = dict(node_labels or {})
        self._listing: tuple[str, dict[str, InstanceInfo]] | None = None
        """The last full instance listing and its ETag (see ``all_instances``)."""

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
        deadline = self._deadline((self.settings.timeout if timeout is None else timeout) + wait)
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
