"""etcd v3 backend over ``pyetcd`` (PyPI etcd-sdk-python).

Why it is built this way:

* ``MultiEndpointEtcd3Client`` with ``time_retry=1`` and ``failover=True``, never
  ``pyetcd.client()``: the latter blacklists its only endpoint for 300 s after one error.
* gRPC keepalive on every channel so a watch notices a frozen server; a large receive limit so
  listing thousands of documents works; short reconnect backoff so a restarted etcd is used
  again within a second.
* pyetcd's own watcher cannot resume and its stream thread outlives ``close()``; `EtcdWatch`
  drives the Watch RPC itself, resumes from the last revision + 1 and cancels cleanly.
* Every failure is mapped to the typed errors of `controller.store.base`. A write that times
  out raises `UnknownOutcome` (it may have been applied); reads are retried once per other
  endpoint, writes never (compare-and-swap makes a caller's retry safe).
"""

from __future__ import annotations

import builtins
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
import pyetcd
from pyetcd import etcdrpc
from pyetcd import exceptions as etcd_exc
from pyetcd import transactions as txn
from pyetcd.client import EtcdTokenCallCredentials

from controller.store.base import (
    Conflict,
    Fence,
    Leadership,
    NotLeader,
    PermissionDenied,
    Record,
    Store,
    StoreError,
    StoreUnavailable,
    UnknownOutcome,
    WatchEvent,
    Write,
)
from controller.store.etcd_watch import EtcdWatch
from controller.store.keys import permission_scope

_log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PORT = 2379
MAX_RECEIVE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
    # Keep pinging an idle watch stream (the default stops after 2 pings without data).
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    # gRPC's default reconnect backoff grows to 120 s: a restarted etcd would sit unused.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


def parse_endpoints(endpoints: str | Sequence[str]) -> list[tuple[str, int, bool]]:
    """``"a:2379,https://b:2379"`` (or a list) → ``[(host, port, tls), ...]``."""
    items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    out: list[tuple[str, int, bool]] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        tls = False
        if "://" in item:
            scheme, item = item.split("://", 1)
            if scheme not in ("http", "https"):
                raise ValueError(f"invalid etcd endpoint {raw!r}: scheme must be http or https")
            tls = scheme == "https"
        item = item.rstrip("/")
        host, port = item, DEFAULT_PORT
        if item.startswith("["):  # [ipv6]:port
            end = item.find("]")
            host, rest = item[1:end], item[end + 1:]
            if rest.startswith(":"):
                port = _port(raw, rest[1:])
        elif item.count(":") == 1:
            host, _, p = item.partition(":")
            port = _port(raw, p)
        if not host:
            raise ValueError(f"invalid etcd endpoint {raw!r}")
        out.append((host, port, tls))
    if not out:
        raise ValueError("no etcd endpoint given")
    return out


def _port(raw: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"invalid etcd endpoint {raw!r}: bad port")
    return int(text)


def _rpc_error(exc: BaseException) -> grpc.RpcError | None:
    """The gRPC error behind ``exc`` (pyetcd re-raises it as its own type, chained)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, grpc.RpcError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _details(exc: BaseException) -> str:
    rpc = _rpc_error(exc)
    if rpc is not None and hasattr(rpc, "details"):
        return " ".join(str(rpc.details() or "").split())
    return " ".join(str(exc).split())


def _code(exc: BaseException) -> Any:
    rpc = _rpc_error(exc)
    return rpc.code() if rpc is not None and hasattr(rpc, "code") else None


def _record(kv: Any) -> Record:
    return Record(
        key=bytes(kv.key).decode("utf-8", "surrogateescape"),
        value=bytes(kv.value),
        mod_revision=int(kv.mod_revision),
        create_revision=int(kv.create_revision),
        version=int(kv.version),
    )


def _b(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _check_prefix(prefix: str) -> None:
    if not prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must end with '/' (or it matches sibling kinds)")


class EtcdStore(Store):
    """`Store` over one etcd cluster (one or several member endpoints)."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        watch_backoff: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        parsed = parse_endpoints(endpoints)
        self.endpoints = tuple(f"{h}:{p}" if ":" not in h else f"[{h}]:{p}"
                               for h, p, _ in parsed)
        self.timeout = timeout
        self._watch_backoff = watch_backoff
        if (user is None) != (password is None):
            raise ValueError("user and password must be given together")
        if (cert is None) != (key is None):
            raise ValueError("cert and key must be given together")
        self._user, self._password = user, password
        self._secure = cacert is not None or cert is not None or any(t for *_, t in parsed)
        creds = None
        if self._secure:
            try:
                creds = grpc.ssl_channel_credentials(
                    _read(cacert), _read(key), _read(cert))
            except OSError as exc:
                raise StoreError(f"cannot read TLS file: {exc}") from exc
        eps = [pyetcd.Endpoint(h, p, secure=self._secure, creds=creds, time_retry=1,
                               opts=list(CHANNEL_OPTIONS)) for h, p, _ in parsed]
        # Authenticate ourselves (below) so a failure maps to a typed error.
        self._client: Any = pyetcd.MultiEndpointEtcd3Client(
            eps, timeout=timeout, failover=True)
        self._watches: weakref.WeakSet[EtcdWatch] = weakref.WeakSet()
        self._leaderships: weakref.WeakSet[EtcdLeadership] = weakref.WeakSet()
        self._closed = False
        if user is not None:
            self._rpc(self._authenticate, retry_auth=False)

    # ------------------------------------------------------------------ plumbing

    def _authenticate(self) -> None:
        """Get a token. etcd's simple tokens expire when idle, so this reruns on demand."""
        c = self._client
        resp = c.authstub.Authenticate(
            etcdrpc.AuthenticateRequest(name=self._user, password=self._password), self.timeout)
        c.metadata = (("token", resp.token),)
        # Call credentials are refused on plaintext channels; the metadata carries the token.
        c.call_credentials = (grpc.metadata_call_credentials(
            EtcdTokenCallCredentials(resp.token)) if self._secure else None)

    def _unavailable(self, reason: str, write: bool) -> StoreUnavailable:
        cls = UnknownOutcome if write else StoreUnavailable
        return cls(self.endpoints, reason)

    def _map(self, exc: BaseException, write: bool, key: str = "") -> StoreError:
        if isinstance(exc, etcd_exc.NoServerAvailableError):
            return StoreUnavailable(self.endpoints, "every endpoint failed within the last second")
        code = _code(exc)
        if (isinstance(exc, etcd_exc.ConnectionTimeoutError)
                or code == grpc.StatusCode.DEADLINE_EXCEEDED):
            reason = f"no answer within {self.timeout:g}s"
            if write:
                reason += "; the write may have been applied"
            return self._unavailable(reason, write)
        if isinstance(exc, etcd_exc.ConnectionFailedError) or code == grpc.StatusCode.UNAVAILABLE:
            return StoreUnavailable(self.endpoints, "connection failed")
        if isinstance(exc, etcd_exc.InternalServerError):
            return self._unavailable(f"internal error: {_details(exc)}", write)
        if code == grpc.StatusCode.INVALID_ARGUMENT and "user name is empty" in _details(exc):
            return StoreError("etcd requires authentication: give a user and password")
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                    grpc.StatusCode.INVALID_ARGUMENT) and "auth" in _details(exc).lower():
            return StoreError(f"etcd refused the credentials: {_details(exc)}")
        if code == grpc.StatusCode.PERMISSION_DENIED:
            if key:
                scope = key if key.endswith("/") else permission_scope(key)
                return PermissionDenied("write" if write else "read", scope, key)
            return StoreError(f"etcd permission denied: {_details(exc)}")
        name = code.name if code is not None else type(exc).__name__
        return StoreError(f"etcd error {name}: {_details(exc)}")

    def _rpc(self, fn: Callable[[], T], *, write: bool = False, retry_auth: bool = True,
             key: str = "") -> T:
        """Run one client call with typed errors; reads fail over to the other endpoints.

        ``key`` (or prefix) is what the call touches, named in a permission error.
        """
        if self._closed:
            raise StoreError("store is closed")
        attempts = 1 if write else len(self.endpoints)
        reauthed = False
        i = 0
        while True:
            try:
                return fn()
            except (etcd_exc.Etcd3Exception, grpc.RpcError, ValueError) as exc:
                if isinstance(exc, ValueError) and _rpc_error(exc) is None:
                    raise
                code = _code(exc)
                if (retry_auth and self._user is not None and not reauthed
                        and code == grpc.StatusCode.UNAUTHENTICATED):
                    reauthed = True
                    self._rpc(self._authenticate, retry_auth=False)
                    continue
                err = self._map(exc, write, key)
                i += 1
                if (type(err) is StoreUnavailable and i < attempts
                        and not isinstance(exc, etcd_exc.NoServerAvailableError)):
                    continue
                raise err from exc

    # ------------------------------------------------------------------ KV

    def get(self, key: str) -> Record | None:
        resp = self._rpc(lambda: self._client.get_response(_b(key)), key=key)
        return _record(resp.kvs[0]) if resp.kvs else None

    def list(self, prefix: str) -> tuple[list[Record], int]:
        _check_prefix(prefix)
        resp = self._rpc(lambda: self._client.get_prefix_response(
            _b(prefix), sort_order="ascend", sort_target="key"), key=prefix)
        return [_record(kv) for kv in resp.kvs], int(resp.header.revision)

    def revision(self) -> int:
        resp = self._rpc(lambda: self._client.get_response(b"\0", count_only=True))
        return int(resp.header.revision)

    def _compares(self, key: bytes, expect: int | None, fence: Fence | None) -> Sequence[Any]:
        compares: builtins.list[Any] = []
        if expect is not None:
            compares.append(txn.Mod(key) == expect)  # a missing key has mod_revision 0
        if fence is not None:
            compares.append(txn.Create(_b(fence.key)) == fence.create_revision)
        return compares

    def _refused(self, key: str, expect: int | None, fence: Fence | None,
                 responses: Sequence[Any]) -> StoreError:
        """Which compare failed: a lost fence wins over a stale revision."""
        current = responses[0][0][1] if responses[0] else None
        if fence is not None:
            leader = responses[1][0] if responses[1] else None
            if leader is None or leader[1].create_revision != fence.create_revision:
                holder = bytes(leader[0]).decode("utf-8", "replace") if leader else None
                return NotLeader(fence, holder)
        return Conflict(key, expect if expect is not None else -1,
                        int(current.mod_revision) if current is not None else None)

    def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None,
            fence: Fence | None = None) -> int:
        k = _b(key)
        if expect_mod_revision is None and fence is None:
            resp = self._rpc(lambda: self._client.put(k, bytes(value)), write=True, key=key)
            return int(resp.header.revision)
        failure = [txn.Get(k)] + ([txn.Get(_b(fence.key))] if fence else [])
        ok, responses = self._rpc(lambda: self._client.transaction(
            compare=self._compares(k, expect_mod_revision, fence),
            success=[txn.Put(k, bytes(value))],
            failure=failure), write=True, key=key)
        if not ok:
            raise self._refused(key, expect_mod_revision, fence, responses)
        # the put's revision is the key's new mod revision: reading the value back to learn
        # it only sent the value over the wire a second time
        return int(responses[0].response_put.header.revision)

    def grant_lease(self, ttl: int) -> int:
        return int(self._rpc(lambda: self._client.lease(int(ttl)), write=True).id)

    def put_leased(self, key: str, value: bytes, lease: int) -> int:
        k = _b(key)
        resp = self._rpc(lambda: self._client.put(k, bytes(value), lease=lease), write=True)
        return int(resp.header.revision)

    def delete(self, key: str, *, expect_mod_revision: int | None = None,
               fence: Fence | None = None) -> bool:
        k = _b(key)
        if expect_mod_revision is None and fence is None:
            return bool(self._rpc(lambda: self._client.delete(k), write=True, key=key))
        failure = [txn.Get(k)] + ([txn.Get(_b(fence.key))] if fence else [])
        ok, responses = self._rpc(lambda: self._client.transaction(
            compare=self._compares(k, expect_mod_revision, fence),
            success=[txn.Delete(k)], failure=failure), write=True, key=key)
        if not ok:
            raise self._refused(key, expect_mod_revision, fence, responses)
        return int(responses[0].response_delete_range.deleted) > 0

    def put_all(self, writes: Sequence[Write]) -> int:
        if not writes:
            return self.revision()
        keys = [_b(w.key) for w in writes]
        ok, responses = self._rpc(lambda: self._client.transaction(
            compare=[txn.Mod(k) == w.expect_mod_revision for k, w in zip(keys, writes,
                                                                          strict=True)],
            success=[txn.Put(k, bytes(w.value)) for k, w in zip(keys, writes, strict=True)],
            failure=[txn.Get(k) for k in keys]), write=True)
        if ok:
            return int(responses[0].response_put.header.revision)
        for write, found in zip(writes, responses, strict=True):
            actual = int(found[0][1].mod_revision) if found else None
            if (actual or 0) != write.expect_mod_revision:
                raise Conflict(write.key, write.expect_mod_revision, actual)
        raise Conflict(writes[0].key, writes[0].expect_mod_revision)

    # ------------------------------------------------------------------ watch

    def watch(self, prefix: str, start_revision: int,
              deliver: Callable[[WatchEvent], None] | None = None) -> EtcdWatch:
        _check_prefix(prefix)
        if self._closed:
            raise StoreError("store is closed")
        w = EtcdWatch(self, prefix, start_revision, *self._watch_backoff, deliver=deliver)
        self._watches.add(w)
        return w

    # ------------------------------------------------------------------ leadership

    def campaign(self, key: str, identity: str, ttl: int) -> EtcdLeadership | None:
        k = _b(key)
        started = time.monotonic()
        lease = self._rpc(lambda: self._client.lease(int(ttl)), write=True)
        try:
            ok, responses = self._rpc(lambda: self._client.transaction(
                compare=[txn.Create(k) == 0],
                success=[txn.Put(k, identity.encode(), lease=lease.id), txn.Get(k)],
                failure=[]), write=True, key=key)
        except StoreError:
            self._revoke_quietly(int(lease.id))  # also removes the key if the put landed
            raise
        if not ok:
            self._revoke_quietly(int(lease.id))
            return None
        meta = responses[1][0][1]
        lead = EtcdLeadership(self, key, identity, float(lease.ttl), int(meta.create_revision),
                              started, int(lease.id))
        self._leaderships.add(lead)
        return lead

    def _revoke_quietly(self, lease_id: int) -> None:
        try:
            self._rpc(lambda: self._client.revoke_lease(lease_id), write=True)
        except StoreError as exc:
            _log.debug("revoke of lease %x failed (it will expire): %s", lease_id, exc)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._closed:
            return
        for w in list(self._watches):
            w.close()
        for lead in list(self._leaderships):
            lead.close()
        self._closed = True
        self._client.close()


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


class EtcdLeadership(Leadership):
    """The leader key on an etcd lease; renewal also checks the key is still ours."""

    def __init__(self, store: EtcdStore, key: str, identity: str, ttl: float,
                 create_revision: int, granted_at: float, lease_id: int) -> None:
        super().__init__(key, identity, ttl, create_revision, granted_at)
        self._store = store
        self.lease_id = lease_id

    def _renew(self) -> float | None:
        c = self._store._client
        resps = self._store._rpc(lambda: list(c.refresh_lease(self.lease_id)), write=True)
        ttl = int(resps[0].TTL) if resps else 0
        if ttl <= 0:
            return None  # lease expired or revoked
        rec = self._store.get(self.key)
        if rec is None or rec.create_revision != self.fence.create_revision:
            return None  # key deleted (etcdctl del) or re-created by someone else
        return float(ttl)

    def _release(self) -> None:
        self._store._revoke_quietly(self.lease_id)
