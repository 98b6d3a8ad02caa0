"""``fogsim`` command line: run the simulator, or drive a running one by hand."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fogsim.changes import DEFAULT_CAPACITY
from fogsim.wire import LOG_END_HEADER

DEFAULT_URL = "http://127.0.0.1:7070"
EXAMPLE_NODES = Path(__file__).with_name("nodes.yaml")
# How often ``instance log --follow`` asks for more once it has read everything.
FOLLOW_INTERVAL = 0.5

DESCRIPTION = """\
fogsim: a fog05 0.2-compatible local fog. Nodes come from a YAML file, each
with its own loopback IP (127.0.10.N); BARE FDUs run as real processes bound to
their node's IP. HTTP API: see hack/fogsim/API.md.
"""

EPILOG = f"""\
run it alone:
  fogsim serve --nodes {EXAMPLE_NODES} --listen 127.0.0.1:7070
  curl -s localhost:7070/nodes/list

drive faults by hand (against --url, default $FOGSIM_URL or {DEFAULT_URL}):
  fogsim node down edge-1          # node and its instances vanish, processes killed
  fogsim node up edge-1            # node is back, empty
  fogsim instance list             # instance, FDU, node, state, pid
  fogsim instance log IID -f       # its stdout+stderr, following as it grows
  fogsim instance crash IID        # kill the process, instance -> ERROR
  fogsim faults --error-rate 0.3 --latency-ms 200   # on fog05 routes only
  fogsim faults --error-rate 0 --latency-ms 0       # back to normal
  fogsim state                     # everything, as JSON
every verb takes --url URL; NODE is a name or a uuid.

run an FDU by hand (BARE = a real process bound to its node's IP):
  curl -s -XPOST localhost:7070/fdu/onboard -H 'Content-Type: application/json' -d \\
    '{{"id":"web","name":"web","hypervisor":"BARE","migration_kind":"COLD",
      "computation_requirements":{{"cpu_arch":"x86_64"}},
      "command":{{"binary":"/usr/bin/python3","args":["-m","http.server","8080"]}}}}'
  curl -s -XPOST localhost:7070/nodes/fog-1/fdu/web/define        # -> {{"uuid": IID, ...}}
  curl -s -XPOST localhost:7070/fdu/instances/IID/configure
  curl -s -XPOST localhost:7070/fdu/instances/IID/start -d '{{"env":{{"A":"1"}}}}'
  curl -s localhost:7070/fdu/instances/IID/log

SIGTERM/SIGINT stops fogsim and every process it started (children also die if
fogsim is SIGKILLed). fogsim keeps no state: a restart is a fresh fog.
"""


def _request(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url.rstrip("/") + path, data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            msg = exc.reason
        raise SystemExit(f"fogsim: {method} {path}: HTTP {exc.code}: {msg}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"fogsim: cannot reach {url}: {exc.reason}") from None


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _cmd_serve(args: argparse.Namespace) -> int:
    from fogsim.engine import Engine
    from fogsim.nodes import NodesFileError, load_nodes, rebase
    from fogsim.server import serve

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"fogsim: --listen wants HOST:PORT, got {args.listen!r}")
    try:
        nodes = load_nodes(args.nodes)
        if args.ip_block:
            nodes = rebase(nodes, args.ip_block)
    except NodesFileError as exc:
        raise SystemExit(f"fogsim: {exc}") from None
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s fogsim %(levelname)s %(message)s")
    if args.feed_capacity < 1:
        raise SystemExit("fogsim: --feed-capacity must be at least 1")
    engine = Engine(nodes, no_processes=args.no_processes, stop_grace=args.stop_grace,
                    workdir=args.workdir, feed_capacity=args.feed_capacity)
    logging.getLogger("fogsim").info(
        "serving %d nodes on http://%s:%s (workdir %s%s)", len(nodes), host, port,
        engine.workdir, ", no processes" if args.no_processes else "",
    )
    try:
        serve(engine, host, int(port))
    except OSError as exc:
        raise SystemExit(f"fogsim: cannot serve on {args.listen}: {exc}") from None
    return 0


def _quote(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def _cmd_node(args: argparse.Namespace) -> int:
    _print(_request(args.url, "POST", f"/sim/nodes/{_quote(args.node)}/{args.action}"))
    return 0


def _cmd_instance(args: argparse.Namespace) -> int:
    _print(_request(args.url, "POST", f"/sim/instances/{_quote(args.iid)}/crash"))
    return 0


@dataclass(frozen=True)
class InstanceRow:
    """One line of ``fogsim instance list``."""

    instance: str
    fdu: str
    node: str
    state: str
    pid: str

    def cells(self) -> list[str]:
        return [self.instance, self.fdu, self.node, self.state, self.pid]


def instance_rows(state: dict[str, Any]) -> list[InstanceRow]:
    """The instances of ``/sim/state``, their FDU and node by name, sorted by node."""
    names = {n["uuid"]: n["name"] for n in state.get("nodes", [])}
    fdus = {f.get("uuid"): f.get("id") or f.get("name") for f in state.get("fdus", [])}
    rows = []
    for rec in state.get("instances", []):
        pid = (rec.get("hypervisor_info") or {}).get("pid")
        fdu = rec.get("fdu_id", "")
        rows.append(InstanceRow(str(rec["uuid"]), str(fdus.get(fdu) or fdu),
                                names.get(rec.get("node"), str(rec.get("node", ""))),
                                str(rec.get("status", "")), "-" if pid is None else str(pid)))
    return sorted(rows, key=lambda r: (r.node, r.fdu, r.instance))


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def _cmd_instance_list(args: argparse.Namespace) -> int:
    rows = instance_rows(_request(args.url, "GET", "/sim/state"))
    if not rows:
        print("no instances", file=sys.stderr)
        return 0
    print(format_table(["INSTANCE", "FDU", "NODE", "STATE", "PID"], [r.cells() for r in rows]))
    return 0


def _read_log(url: str, iid: str, offset: int) -> tuple[bytes, int] | None:
    """The log piece from ``offset`` and the offset after it; None once the instance
    is gone."""
    path = f"/fdu/instances/{_quote(iid)}/log?offset={offset}"
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=30) as resp:
            return resp.read(), int(resp.headers.get(LOG_END_HEADER, offset))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SystemExit(f"fogsim: GET {path}: HTTP {exc.code}: {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"fogsim: cannot reach {url}: {exc.reason}") from None


def _cmd_instance_log(args: argparse.Namespace) -> int:
    offset = 0
    out = sys.stdout.buffer
    try:
        while True:
            piece = _read_log(args.url, args.iid, offset)
            if piece is None:
                if offset == 0:
                    raise SystemExit(f"fogsim: no instance {args.iid}")
                print(f"fogsim: instance {args.iid} is gone", file=sys.stderr)
                return 0
            data, offset = piece
            out.write(data)
            out.flush()
            if not data:
                if not args.follow:
                    return 0
                time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return 130


def _cmd_faults(args: argparse.Namespace) -> int:
    body: dict[str, float] = {}
    if args.error_rate is not None:
        body["error_rate"] = args.error_rate
    if args.latency_ms is not None:
        body["latency_ms"] = args.latency_ms
    if body:
        _print(_request(args.url, "PUT", "/sim/faults", body))
    else:
        _print(_request(args.url, "GET", "/sim/faults"))
    return 0


def _cmd_state(args: argparse.Namespace) -> int:
    _print(_request(args.url, "GET", "/sim/state"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fogsim", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    url_parent = argparse.ArgumentParser(add_help=False)
    url_parent.add_argument(
        "--url", default=os.environ.get("FOGSIM_URL", DEFAULT_URL),
        help=f"running fogsim (default $FOGSIM_URL or {DEFAULT_URL})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_serve(sub)

    p = sub.add_parser("node", help="node fault injection")
    nsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("down", "kill the node: processes die, node and instances vanish"),
                         ("up", "bring the node back, empty")):
        q = nsub.add_parser(action, help=text, parents=[url_parent])
        q.add_argument("node", metavar="NODE", help="node name or uuid")
        q.set_defaults(func=_cmd_node)

    p = sub.add_parser("instance", help="list instances, read their logs, crash them")
    isub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = isub.add_parser("crash", help="kill the instance's process; instance -> ERROR",
                        parents=[url_parent])
    q.add_argument("iid", metavar="IID", help="instance uuid")
    q.set_defaults(func=_cmd_instance)
    q = isub.add_parser("list", help="instance, FDU, node, state and pid of every instance",
                        parents=[url_parent])
    q.set_defaults(func=_cmd_instance_list)
    q = isub.add_parser("log", help="print an instance's output (stdout and stderr)",
                        parents=[url_parent])
    q.add_argument("iid", metavar="IID", help="instance uuid")
    q.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new output until the instance is gone (Ctrl-C stops)")
    q.set_defaults(func=_cmd_instance_log)

    p = sub.add_parser("faults", help="show or set API faults (fog05 routes only)",
                       parents=[url_parent])
    p.add_argument("--error-rate", type=float, default=None,
                   help="probability [0..1] of HTTP 503 {\"error\": \"injected fault\"}")
    p.add_argument("--latency-ms", type=float, default=None, help="added delay per request")
    p.set_defaults(func=_cmd_faults)

    p = sub.add_parser("state", help="print nodes, FDUs, instances and faults as JSON",
                       parents=[url_parent])
    p.set_defaults(func=_cmd_state)
    return parser


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fogsim serve``: its flags are the simulator's configuration."""
    p = sub.add_parser("serve", help="run the simulator until SIGTERM/SIGINT")
    p.add_argument("--nodes", default=str(EXAMPLE_NODES), help="nodes YAML file")
    p.add_argument("--listen", default="127.0.0.1:7070", help="HOST:PORT")
    p.add_argument("--ip-block", default=os.environ.get("FOGSIM_IP_BLOCK") or None,
                   metavar="127.0.N",
                   help="move every node into 127.0.N.0/24, keeping its last octet, so "
                        "two fogsims with one nodes file do not collide [$FOGSIM_IP_BLOCK]")
    p.add_argument("--no-processes", action="store_true",
                   help="simulate BARE instances without starting processes (benchmarks)")
    p.add_argument("--stop-grace", type=float, default=5.0,
                   help="seconds between SIGTERM and SIGKILL on stop (default 5)")
    p.add_argument("--workdir", default=None,
                   help="where instance dirs and logs go (default: a temp dir, removed on exit)")
    p.add_argument("--feed-capacity", type=int, default=DEFAULT_CAPACITY, metavar="N",
                   help="changes the watch can resume across; a reader further behind lists "
                        f"again (default {DEFAULT_CAPACITY})")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_serve)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
