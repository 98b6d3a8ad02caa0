"""``fogstrat``: apply, inspect and steer fogstrat documents; run the controller.

Every error ends the command with one line on stderr and a non-zero exit status, never a
traceback: users script this tool, and a wall of Python is not an answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from controller.api.documents import DocumentSyntaxError
from controller.api.kinds import UnknownKind
from controller.api.validation import InvalidDocument
from controller.cli import commands
from controller.store import StoreError
from controller.store.keys import DEFAULT_PREFIX

EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An error the user caused or can fix; printed as one line."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _add_connection_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("etcd connection (flags override FOGSTRAT_* environment variables)")
    g.add_argument("--endpoints", default=_env("FOGSTRAT_ETCD_ENDPOINTS", "127.0.0.1:2379"),
                   help="comma-separated host:port list [FOGSTRAT_ETCD_ENDPOINTS, %(default)s]")
    g.add_argument("--prefix", default=_env("FOGSTRAT_PREFIX", DEFAULT_PREFIX),
                   help="key prefix [FOGSTRAT_PREFIX, %(default)s]")
    g.add_argument("--cacert", default=_env("FOGSTRAT_CACERT"), help="CA bundle [FOGSTRAT_CACERT]")
    g.add_argument("--cert", default=_env("FOGSTRAT_CERT"), help="client cert [FOGSTRAT_CERT]")
    g.add_argument("--key", default=_env("FOGSTRAT_KEY"), help="client key [FOGSTRAT_KEY]")
    g.add_argument("--user", default=_env("FOGSTRAT_USER"), help="etcd user [FOGSTRAT_USER]")
    g.add_argument("--password", default=_env("FOGSTRAT_PASSWORD"),
                   help="etcd password [FOGSTRAT_PASSWORD]")
    g.add_argument("--timeout", type=float, default=float(_env("FOGSTRAT_TIMEOUT", "5") or 5),
                   help="seconds per etcd request [FOGSTRAT_TIMEOUT, %(default)s]")


def _ns(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default=_env("FOGSTRAT_NAMESPACE", "default"),
                   help="namespace [FOGSTRAT_NAMESPACE, %(default)s]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fogstrat",
        description="Keep a service alive on a fog05 fog: strategies of architectures with "
        "automatic failover and failback, driven by documents in etcd.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, help_: str, func: Callable[[argparse.Namespace], int], *,
            etcd: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if etcd:
            _add_connection_flags(p)
        return p

    p = cmd("apply", "create or update documents from files (validates all first)", commands.apply)
    p.add_argument("-f", "--filename", required=True, action="append",
                   help="file, directory or - for stdin (repeatable)")
    _ns(p)

    p = cmd("get", "list documents, or show one", commands.get)
    p.add_argument("kind", help="kind: activestrategies (as), strategies (st), architectures "
                   "(arch), architecturedata (ad), environments (env)")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", choices=["table", "wide", "yaml", "json"], default="table")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, print a row whenever an object changes (Ctrl-C stops)")
    _ns(p)

    p = cmd("describe", "show spec, status, conditions and history", commands.describe)
    p.add_argument("kind")
    p.add_argument("name")
    _ns(p)

    p = cmd("delete", "delete a document (the controller tears down what it runs)",
            commands.delete)
    p.add_argument("kind")
    p.add_argument("name")
    _ns(p)

    p = cmd("validate", "validate documents offline (no etcd needed)", commands.validate_cmd,
            etcd=False)
    p.add_argument("-f", "--filename", required=True, action="append")

    for verb, help_ in (("pause", "stop acting on an ActiveStrategy (keep observing)"),
                        ("resume", "act on a paused ActiveStrategy again")):
        p = cmd(verb, help_, commands.pause if verb == "pause" else commands.resume)
        p.add_argument("name", help="ActiveStrategy name")
        _ns(p)

    p = cmd("switch", "switch an ActiveStrategy to one of its architectures (sets spec.pin)",
            commands.switch)
    p.add_argument("name", help="ActiveStrategy name")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--to", metavar="ARCH", help="architecture to pin")
    g.add_argument("--unpin", action="store_true", help="remove the pin: automatic rules resume")
    _ns(p)

    p = cmd("events", "list Events (of one object: NAME), as kubectl get events",
            commands.events_cmd)
    p.add_argument("name", nargs="?", help="the object the events are about")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, print each new or updated event")
    _ns(p)

    p = cmd("controller", "run the reconciling controller", commands.controller)
    p.add_argument("--metrics-addr", default=_env("FOGSTRAT_METRICS_ADDR", "0.0.0.0:9469"),
                   help="host:port serving /metrics, /healthz, /readyz [%(default)s]")
    p.add_argument("--resync", type=float, default=float(_env("FOGSTRAT_RESYNC", "300") or 300),
                   help="seconds between full resyncs [%(default)s]")
    p.add_argument("--workers", type=int, default=int(_env("FOGSTRAT_WORKERS", "4") or 4))
    p.add_argument("--leader-elect", default=_env("FOGSTRAT_LEADER_ELECT", "true"),
                   type=_bool, metavar="BOOL", help="elect a leader among replicas [%(default)s]")
    p.add_argument("--lease-ttl", type=int, default=int(_env("FOGSTRAT_LEASE_TTL", "10") or 10),
                   help="leader lease TTL in seconds [%(default)s]")
    p.add_argument("--log-format", choices=["text", "json"],
                   default=_env("FOGSTRAT_LOG_FORMAT", "text"))
    p.add_argument("--log-level", default=_env("FOGSTRAT_LOG_LEVEL", "info"))
    p.add_argument("--instance-id", default=_env("FOGSTRAT_INSTANCE_ID"),
                   help="identity in leader election [hostname-pid]")
    p.add_argument("--event-ttl", type=int,
                   default=int(_env("FOGSTRAT_EVENT_TTL", "3600") or 3600),
                   help="seconds an Event is kept after it was last written [%(default)s]")
    return parser


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except KeyboardInterrupt:
        return 130
    except (StoreError, UnknownKind, InvalidDocument, DocumentSyntaxError, CliError,
            commands.CommandError, LookupError, OSError, ValueError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
