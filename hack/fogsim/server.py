"""aiohttp front end: fog05 0.2 REST route names over :class:`fogsim.engine.Engine`.

Engine calls are short and run directly on the event-loop thread on purpose:
children are forked from that long-lived thread, which is what
``PR_SET_PDEATHSIG`` needs (see :mod:`fogsim.processes`). Nothing here blocks:
stopping a process only sends a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from controller.api.documents import DocumentSyntaxError, decode_json
from controller.api.limits import LIMITS
from fogsim import feed_http
from fogsim.engine import (
    Engine,
    IllegalTransition,
    Incompatible,
    InUse,
    InvalidDescriptor,
    NotFound,
    fdu_uuid_for,
)
from fogsim.networks import NetworkError, NetworkInUse, NetworkNotFound
from fogsim.wire import LOG_END_HEADER

log = logging.getLogger("fogsim.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """Injected API faults (fog05 routes only)."""

    error_rate: float = 0.0
    latency_ms: float = 0.0


ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
FAULTS: web.AppKey[Faults] = web.AppKey("faults", Faults)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=json.dumps)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map engine exceptions to JSON errors; every error body has ``error``."""
    try:
        return await handler(request)
    except (NotFound, NetworkNotFound) as exc:
        return _error(404, str(exc))
    except NetworkInUse as exc:
        return _error(409, str(exc), users=exc.users)
    except NetworkError as exc:
        return _error(400, str(exc))
    except IllegalTransition as exc:
        return _error(409, str(exc), current=exc.current, requested=exc.requested)
    except InUse as exc:
        return _error(409, str(exc), instances=exc.instances)
    except InvalidDescriptor as exc:
        return _error(400, str(exc))
    except Incompatible as exc:
        return _error(422, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception as exc:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(500, f"internal error: {exc}")


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Injected latency/errors, never on ``/sim/`` so tests can always recover."""
    if request.path.startswith("/sim/"):
        return await handler(request)
    faults = request.app[FAULTS]
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000.0)
    if faults.error_rate > 0 and random.random() < faults.error_rate:
        return _error(503, "injected fault")
    return await handler(request)


async def _body(request: web.Request, *, required: bool) -> Any:
    if not request.can_read_body:
        if required:
            raise InvalidDescriptor("request body required")
        return None
    raw = await request.read()
    if not raw.strip():
        if required:
            raise InvalidDescriptor("request body required")
        return None
    try:
        return decode_json(raw, "body")
    except DocumentSyntaxError as exc:
        raise InvalidDescriptor(f"bad JSON body: {exc}") from exc


def _bool(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


# ------------------------------------------------------------------ nodes
async def nodes_list(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].node_list())


async def node_info(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].node_info(request.match_info["node"]))


async def node_status(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].node_status(request.match_info["node"]))


# ---------------------------------------------------------------- catalog
async def fdu_put(request: web.Request) -> web.Response:
    body = await _body(request, required=True)
    engine = request.app[ENGINE]
    ref = request.match_info["fdu"]
    if not isinstance(body, dict):
        raise InvalidDescriptor("invalid FDU descriptor: must be a JSON object")
    # Check the path against the descriptor before storing anything.
    desc_id, raw_uuid = body.get("id"), body.get("uuid")
    allowed: set[Any] = {desc_id, raw_uuid}
    if raw_uuid:
        with contextlib.suppress(ValueError):
            allowed.add(str(uuid.UUID(str(raw_uuid))))
    elif isinstance(desc_id, str):
        allowed.add(fdu_uuid_for(desc_id))
    if ref not in allowed:
        engine.validate_descriptor(body)  # report a bad descriptor as such first
        raise InvalidDescriptor(f"path id {ref} matches neither the descriptor's id nor its uuid")
    desc = engine.onboard(body)
    return _json(desc)


async def fdu_onboard(request: web.Request) -> web.Response:
    body = await _body(request, required=True)
    return _json(request.app[ENGINE].onboard(body))


async def fdu_get(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].fdu_info(request.match_info["fdu"]))


async def fdu_delete(request: web.Request) -> web.Response:
    return _json({"uuid": request.app[ENGINE].offload(request.match_info["fdu"])})


async def fdu_list(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].list_fdus())


async def fdu_instances(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].instances_of(request.match_info["fdu"]))


# -------------------------------------------------------------- instances
async def define(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return _json(engine.define(request.match_info["fdu"], request.match_info["node"]))


async def instance_action(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    iid = request.match_info["iid"]
    action = request.match_info["action"]
    if action == "configure":
        return _json(engine.configure(iid))
    if action == "start":
        body = await _body(request, required=False)
        env = body.get("env") if isinstance(body, dict) else None
        return _json(engine.start(iid, env))
    if action == "stop":
        return _json(engine.stop(iid))
    if action == "clean":
        return _json(engine.clean(iid))
    if action == "undefine":
        return _json(engine.undefine(iid, force=_bool(request.query.get("force"))))
    raise web.HTTPNotFound(reason=f"unknown action {action}")


async def instance_undefine(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return _json(engine.undefine(request.match_info["iid"],
                                 force=_bool(request.query.get("force"))))


async def instance_info(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].instance_info(request.match_info["iid"]))


async def instances_list(request: web.Request) -> web.Response:
    """Every instance record, with an ``ETag``: a client that sends it back in
    ``If-None-Match`` gets ``304`` and no body while nothing changed, as a polling
    controller does most of the time. The revision it is as of comes in a header, for a
    watch (``?since=``, :mod:`fogsim.feed_http`) to go on from."""
    engine = request.app[ENGINE]
    if "since" in request.query:
        return await feed_http.feed(request, engine)
    revision, body = engine.all_instances_json_at()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, feed_http.REVISION_HEADER: str(revision),
               feed_http.EPOCH_HEADER: engine.changes.epoch}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


# --------------------------------------------------------------- networks
async def _descriptor_at(request: web.Request, ref: str, what: str) -> dict[str, Any]:
    """The descriptor a PUT stores at ``ref``: a JSON object whose uuid is ``ref``."""
    body = await _body(request, required=True)
    if not isinstance(body, dict):
        raise NetworkError(f"invalid {what} descriptor: must be a JSON object")
    if str(body.get("uuid")) != ref:
        raise NetworkError(f"path id {ref} is not the descriptor's uuid")
    return body


async def networks_list(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.list_networks())


async def network_put(request: web.Request) -> web.Response:
    body = await _descriptor_at(request, request.match_info["net"], "network")
    return _json(request.app[ENGINE].networks.add_network(body))


async def network_get(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.network(request.match_info["net"]))


async def network_delete(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.remove_network(request.match_info["net"]))


async def ports_list(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.list_cps())


async def port_put(request: web.Request) -> web.Response:
    body = await _descriptor_at(request, request.match_info["cp"], "connection point")
    return _json(request.app[ENGINE].networks.add_cp(body))


async def port_get(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.cp(request.match_info["cp"]))


async def port_delete(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].networks.remove_cp(request.match_info["cp"]))


async def port_action(request: web.Request) -> web.Response:
    networks = request.app[ENGINE].networks
    cp = request.match_info["cp"]
    action = request.match_info["action"]
    if action == "connect":
        body = await _body(request, required=True)
        net = body.get("network") if isinstance(body, dict) else None
        if not isinstance(net, str) or not net:
            raise NetworkError('connect wants a body {"network": "<network uuid>"}')
        return _json(networks.connect(cp, net))
    if action == "disconnect":
        return _json(networks.disconnect(cp))
    raise web.HTTPNotFound(reason=f"unknown action {action}")


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidDescriptor(f"bad {name} {raw!r}") from exc


async def instance_log(request: web.Request) -> web.Response:
    iid = request.match_info["iid"]
    offset = _int_query(request, "offset")
    if offset is not None:
        data, end = request.app[ENGINE].instance_log_from(iid, offset)
        return web.Response(body=data, content_type="text/plain", charset="utf-8",
                            headers={LOG_END_HEADER: str(end)})
    text = request.app[ENGINE].instance_log(iid, _int_query(request, "tail"))
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


# -------------------------------------------------------------------- sim
async def sim_ping(request: web.Request) -> web.Response:
    return _json({"ok": True})


async def sim_node_down(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].node_down(request.match_info["node"]))


async def sim_node_up(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].node_up(request.match_info["node"]))


async def sim_crash(request: web.Request) -> web.Response:
    return _json(request.app[ENGINE].crash(request.match_info["iid"]))


async def sim_faults_get(request: web.Request) -> web.Response:
    return _json(asdict(request.app[FAULTS]))


async def sim_faults_set(request: web.Request) -> web.Response:
    body = await _body(request, required=True)
    if not isinstance(body, dict):
        raise InvalidDescriptor("faults body must be a JSON object")
    faults = request.app[FAULTS]
    rate, latency = faults.error_rate, faults.latency_ms
    if "error_rate" in body:
        rate = body["error_rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidDescriptor("error_rate must be a number in [0, 1]")
    if "latency_ms" in body:
        latency = body["latency_ms"]
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise InvalidDescriptor("latency_ms must be a non-negative number")
    faults.error_rate, faults.latency_ms = float(rate), float(latency)
    return _json(asdict(faults))


async def sim_state(request: web.Request) -> web.Response:
    state = request.app[ENGINE].state()
    state["faults"] = asdict(request.app[FAULTS])
    return _json(state)


async def _not_found(request: web.Request) -> web.Response:
    return _error(404, f"no route {request.method} {request.path}")


def make_app(engine: Engine) -> web.Application:
    """Build the aiohttp application around an engine (closed on app cleanup)."""
    app = web.Application(middlewares=[errors_middleware, faults_middleware],
                          client_max_size=LIMITS.max_document_bytes)
    app[ENGINE] = engine
    app[FAULTS] = Faults()
    r = app.router
    r.add_get("/nodes/list", nodes_list)
    r.add_get("/nodes/{node}/info", node_info)
    r.add_get("/nodes/{node}/status", node_status)
    r.add_post("/nodes/{node}/fdu/{fdu}/define", define)
    r.add_post("/fdu/onboard", fdu_onboard)
    r.add_get("/fdu/list", fdu_list)
    r.add_get("/fdu/instances/list", instances_list)
    r.add_get("/fdu/instances/{iid}/info", instance_info)
    r.add_delete("/fdu/instances/{iid}/info", instance_undefine)
    r.add_get("/fdu/instances/{iid}/log", instance_log)
    r.add_post("/fdu/instances/{iid}/{action}", instance_action)
    r.add_put("/fdu/{fdu}/info", fdu_put)
    r.add_get("/fdu/{fdu}/info", fdu_get)
    r.add_delete("/fdu/{fdu}/info", fdu_delete)
    r.add_get("/fdu/{fdu}/instances/list", fdu_instances)
    r.add_get("/networks/list", networks_list)
    r.add_get("/networks/ports/list", ports_list)
    r.add_put("/networks/ports/{cp}/info", port_put)
    r.add_get("/networks/ports/{cp}/info", port_get)
    r.add_delete("/networks/ports/{cp}/info", port_delete)
    r.add_post("/networks/ports/{cp}/{action}", port_action)
    r.add_put("/networks/{net}/info", network_put)
    r.add_get("/networks/{net}/info", network_get)
    r.add_delete("/networks/{net}/info", network_delete)
    r.add_get("/sim/ping", sim_ping)
    r.add_post("/sim/nodes/{node}/down", sim_node_down)
    r.add_post("/sim/nodes/{node}/up", sim_node_up)
    r.add_post("/sim/instances/{iid}/crash", sim_crash)
    r.add_get("/sim/faults", sim_faults_get)
    r.add_put("/sim/faults", sim_faults_set)
    r.add_post("/sim/faults", sim_faults_set)
    r.add_get("/sim/state", sim_state)
    r.add_route("*", "/{tail:.*}", _not_found)
    feed_http.install(app, engine)

    async def _cleanup(app: web.Application) -> None:
        app[ENGINE].close(grace=min(app[ENGINE].stop_grace, 2.0))

    app.on_cleanup.append(_cleanup)
    return app


def serve(engine: Engine, host: str, port: int) -> None:
    """Run until SIGTERM/SIGINT; every child process is killed on the way out."""
    app = make_app(engine)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None,
                    handle_signals=True, shutdown_timeout=2.0)
    finally:
        engine.close(grace=min(engine.stop_grace, 2.0))
