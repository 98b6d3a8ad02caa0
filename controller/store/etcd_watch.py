"""The resumable prefix watch of :class:`~controller.store.etcd.EtcdStore`, over the raw
Watch RPC (pyetcd's own watcher cannot resume and its stream thread outlives ``close()``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet
from pyetcd import etcdrpc
from pyetcd.utils import prefix_range_end

from controller.store.base import Compacted, PermissionDenied, StoreError, Watch, WatchEvent
from controller.store.buffer import ByteBoundedBuffer

if TYPE_CHECKING:
    from controller.store.etcd import EtcdStore

_log = logging.getLogger("controller.store.etcd")
_ENDPOINT_FAILING_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


_CLOSED = object()

# etcd (3.4+) splits a watch response larger than its --max-request-bytes into fragments
# when asked to (WatchCreateRequest.fragment, field 8; WatchResponse.fragment, field 7).
# pyetcd's generated messages predate the field, so it travels as an unknown field.
_FRAGMENT_REQUEST = b"\x40\x01"
_FRAGMENT_FIELD = 7


def _create_request(key: bytes, range_end: bytes, start_revision: int) -> Any:
    create = etcdrpc.WatchCreateRequest(key=key, range_end=range_end,
                                        start_revision=start_revision, progress_notify=True)
    return etcdrpc.WatchCreateRequest.FromString(create.SerializeToString() +
                                                 _FRAGMENT_REQUEST)


def _is_fragment(resp: Any) -> bool:
    """Whether more of this response's events follow in the next one."""
    return any(f.field_number == _FRAGMENT_FIELD and f.data
               for f in UnknownFieldSet(resp))


@dataclass
class _Resume:
    """Where a broken stream resumes: etcd may split one revision's events across
    fragments, so a stream that broke between two of them resumes at that revision and
    skips the events of it already handed on."""

    revision: int = 0
    """The revision of the last event handed on."""
    handed: int = 0
    """How many events of ``revision`` were handed on."""

    def seen(self, revision: int) -> None:
        if revision == self.revision:
            self.handed += 1
        else:
            self.revision, self.handed = revision, 1


class EtcdWatch(Watch):
    """Resumable prefix watch driven on its own thread over the raw Watch RPC.

    The thread keeps ``_next_rev`` = last received revision + 1 and, whenever the stream
    breaks, re-creates the server-side watch from it, trying each endpoint in turn with
    capped exponential backoff. etcd never splits one revision's events across responses,
    so resuming at a revision boundary neither loses nor repeats an event; a response
    larger than etcd's request limit comes in fragments (otherwise a watcher that fell
    behind is sent up to a thousand revisions in one response, however large), and
    a stream broken between two fragments resumes inside the revision it split.
    """

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int,
                 backoff_initial: float = 0.1, backoff_cap: float = 2.0,
                 deliver: Callable[[WatchEvent], None] | None = None) -> None:
        self._store = store
        self._deliver = deliver
        self._key = prefix.encode("utf-8", "surrogateescape")
        self._range_end = prefix_range_end(self._key)
        self._next_rev = max(int(start_revision), 0)
        self._last = self._next_rev - 1
        self._backoff = (backoff_initial, backoff_cap)
        self._queue: ByteBoundedBuffer[Any] = ByteBoundedBuffer()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._connected = False
        self._finished = False
        self._ep_index = 0
        self._created = False
        self._refused = ""  # the last refusal logged, so a retry does not repeat it
        self._resume = _Resume()
        self.max_response_bytes = 0
        """The most bytes of keys and values one response of etcd's stream brought: the
        watch holds a response whole while it hands its events on, and etcd sends at
        most its request limit (``--max-request-bytes``) or one event in one."""
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch:{prefix}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ consumer side

    @property
    def last_revision(self) -> int:
        return self._last

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def closed(self) -> bool:
        return self._finished

    def get(self, timeout: float | None = None) -> WatchEvent | None:
        if self._finished:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # wake any other reader too
            self._finished = True
            return None
        if isinstance(item, Compacted):
            self._finished = True
            self.close()
            raise item
        assert isinstance(item, WatchEvent)
        self._last = item.mod_revision
        return item

    def close(self) -> None:
        self._stop.set()
        self._finished = True
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._queue.put(_CLOSED)

    # ------------------------------------------------------------------ stream side

    def _endpoint(self) -> Any:
        """Next endpoint not marked failed (any, if all are), rotating after failures."""
        eps = list(self._store._client.endpoints.values())
        for i in range(len(eps)):
            ep = eps[(self._ep_index + i) % len(eps)]
            if not ep.is_failed():
                self._ep_index = (self._ep_index + i) % len(eps)
                return ep
        return eps[self._ep_index % len(eps)]

    def _run(self) -> None:
        initial, cap = self._backoff
        delay = initial
        while not self._stop.is_set():
            ep = self._endpoint()
            self._created = False
            try:
                if self._stream(ep):
                    return  # compacted: the consumer must re-list
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    break
                if exc.code() in _ENDPOINT_FAILING_CODES:
                    ep.fail()
                    self._ep_index += 1
                elif exc.code() == grpc.StatusCode.UNAUTHENTICATED and self._store._user:
                    try:  # the idle token expired: get a new one before resuming
                        self._store._rpc(self._store._authenticate, retry_auth=False)
                    except StoreError as auth_exc:
                        _log.warning("etcd watch cannot re-authenticate: %s", auth_exc)
                _log.log(logging.INFO if self._created else logging.DEBUG,
                         "etcd watch on %s at %s broke (%s), resuming from revision %d",
                         self._key.decode(errors="replace"), ep.netloc, exc.code().name,
                         self._next_rev)
            except StoreError as exc:  # refused by etcd: say so once, keep retrying
                first = str(exc) != self._refused
                self._refused = str(exc)
                _log.log(logging.ERROR if first else logging.DEBUG,
                         "etcd watch: %s; retrying with backoff", exc)
            except Exception:  # never let the thread die silently
                _log.exception("etcd watch stream failed, resuming from revision %d",
                               self._next_rev)
            finally:
                self._connected = False
                with self._lock:
                    self._call = None
            if self._created:
                delay = initial  # the stream worked: the first retry is quick again
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, cap)

    def _hand(self, deliver: Callable[[WatchEvent], None], event: WatchEvent) -> None:
        self._last = event.mod_revision
        self._resume.seen(event.mod_revision)
        try:
            deliver(event)
        except Exception:  # a consumer's bug must not end the watch
            _log.exception("etcd watch: handling the event at revision %d failed",
                           event.mod_revision)

    def _stream(self, ep: Any) -> bool:
        """One Watch RPC; True if it ended with compaction."""
        c = self._store._client
        create = _create_request(self._key, self._range_end, self._next_rev)
        resume = self._resume
        skip = _Resume(resume.revision, resume.handed if resume.revision == self._next_rev
                       else 0)
        # A single request then half-close: etcd keeps serving the stream, and no gRPC
        # request-consumer thread is left blocked on our iterator after cancel().
        call = etcdrpc.WatchStub(ep.channel).Watch(
            iter([etcdrpc.WatchRequest(create_request=create)]),
            credentials=c.call_credentials, metadata=c.metadata)
        with self._lock:
            if self._stop.is_set():
                call.cancel()
                return False
            self._call = call
        for resp in call:
            if resp.compact_revision:
                call.cancel()
                compact = int(resp.compact_revision)
                current = int(resp.header.revision)  # etcd 3.4 leaves it 0 here
                if not current:
                    try:
                        current = self._store.revision()
                    except StoreError:
                        current = compact
                self._queue.put(Compacted(compact, current))
                return True
            if resp.created:
                self._connected = self._created = True
                continue
            if resp.canceled:
                if "permission denied" in resp.cancel_reason:
                    prefix = self._key.decode("utf-8", "replace")
                    raise PermissionDenied("read", prefix, prefix)
                raise StoreError(f"etcd cancelled the watch: {resp.cancel_reason}")
            if not resp.events:
                # Progress notification: everything up to header.revision was delivered.
                self._next_rev = max(self._next_rev, int(resp.header.revision) + 1)
                continue
            if not self._events(resp, skip):
                return False
            last = int(resp.events[-1].kv.mod_revision)
            # A fragment may end inside a revision: resume at it, not after it.
            self._next_rev = max(self._next_rev, last if _is_fragment(resp) else last + 1)
        return False

    def _events(self, resp: Any, skip: _Resume) -> bool:
        """Hand on (or queue) the events of one response, leaving out the first
        ``skip.handed`` of ``skip.revision`` (handed on before the stream broke); False
        once the watch is stopped."""
        held = 0
        for ev in resp.events:
            rev = int(ev.kv.mod_revision)
            if rev < self._next_rev or (rev == skip.revision and skip.handed > 0):
                skip.handed -= rev == skip.revision
                held += len(ev.kv.key) + len(ev.kv.value)
                continue  # already delivered before a reconnect
            value = b"" if ev.type == ev.DELETE else bytes(ev.kv.value)
            key = bytes(ev.kv.key)
            held += len(key) + len(value)
            event = WatchEvent(
                type="DELETE" if ev.type == ev.DELETE else "PUT",
                key=key.decode("utf-8", "surrogateescape"),
                value=value, mod_revision=rev, version=int(ev.kv.version))
            if self._deliver is not None:
                self._hand(self._deliver, event)
            else:
                self._queue.put(event, len(value) + len(key), self._stop)
                self._resume.seen(rev)
            if self._stop.is_set():
                return False
        self.max_response_bytes = max(self.max_response_bytes, held)
        return True
