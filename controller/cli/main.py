# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this mark in the console script's module)
"""``fogstrat``: apply, inspect and steer fogstrat documents; run the controller.

Every error ends the command with one line on stderr and a non-zero exit status, never a
traceback: users script this tool, and a wall of Python is not an answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

import argcomplete
from argcomplete.shell_integration import shellcode

from controller.api.documents import DocumentSyntaxError
from controller.api.kinds import UnknownKind
from controller.api.validation import InvalidDocument
from controller.cli import commands, observe
from controller.fog.client import FogError
from controller.store import StoreError
from controller.store.keys import DEFAULT_PREFIX
from controller.store.secrets import VISIBLE_WARNING, password_on_command_line

EXIT_ERROR = 1
EXIT_USAGE = 2
MAX_ERROR_CHARS = 2000
#: Set to show the traceback of an internal error (a bug) instead of one line.
DEBUG_ENV = "FOGSTRAT_DEBUG"


class CliError(Exception):
    """An error the user caused or can fix; printed as one line."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _add_connection_flags(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """The etcd flags. The top-level parser holds the defaults; each verb takes the same
    flags again with no default of its own (SUPPRESS), so a flag given before the verb is
    not overwritten by the verb's parser and one given after it still counts."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    g = p.add_argument_group("etcd connection (flags override FOGSTRAT_* environment variables;"
                             " before or after the verb)")
    g.add_argument("--endpoints",
                   default=default(_env("FOGSTRAT_ETCD_ENDPOINTS", "127.0.0.1:2379")),
                   help="comma-separated host:port list [FOGSTRAT_ETCD_ENDPOINTS, 127.0.0.1:2379]")
    g.add_argument("--prefix", default=default(_env("FOGSTRAT_PREFIX", DEFAULT_PREFIX)),
                   help=f"key prefix [FOGSTRAT_PREFIX, {DEFAULT_PREFIX}]")
    g.add_argument("--cacert", default=default(_env("FOGSTRAT_CACERT")),
                   help="CA bundle [FOGSTRAT_CACERT]")
    g.add_argument("--cert", default=default(_env("FOGSTRAT_CERT")),
                   help="client cert [FOGSTRAT_CERT]")
    g.add_argument("--key", default=default(_env("FOGSTRAT_KEY")),
                   help="client key [FOGSTRAT_KEY]")
    g.add_argument("--user", default=default(_env("FOGSTRAT_USER")),
                   help="etcd user [FOGSTRAT_USER]")
    g.add_argument("--password-file", default=default(_env("FOGSTRAT_PASSWORD_FILE")),
                   help="file holding the etcd password [FOGSTRAT_PASSWORD_FILE]")
    g.add_argument("--password", default=default(_env("FOGSTRAT_PASSWORD")),
                   help="etcd password; visible in ps, prefer --password-file "
                   "[FOGSTRAT_PASSWORD]")
    g.add_argument("--timeout", type=float,
                   default=default(float(_env("FOGSTRAT_TIMEOUT", "5") or 5)),
                   help="seconds per etcd request [FOGSTRAT_TIMEOUT, 5]")


def _version() -> str:
    try:
        return version("fogstrat")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _ns(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default=_env("FOGSTRAT_NAMESPACE", "default"),
                   help="namespace [FOGSTRAT_NAMESPACE, %(default)s]")


Verb = Callable[..., argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fogstrat",
        description="Keep a service alive on a fog05 fog: strategies of architectures with "
        "automatic failover and failback, driven by documents in etcd.",
        epilog="shell completion: eval \"$(fogstrat completion bash)\" (or zsh)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_connection_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, help_: str, func: Callable[[argparse.Namespace], int], *,
            etcd: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if etcd:
            _add_connection_flags(p, defaults=False)
        return p

    _document_verbs(cmd)
    _steering_verbs(cmd)
    _observing_verbs(cmd)
    _controller_verb(cmd)
    p = cmd("completion", "print the shell code that completes fogstrat's arguments",
            _completion, etcd=False)
    p.add_argument("shell", choices=["bash", "zsh"])
    return parser


def _env_subst_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env-subst", action="store_true",
                   default=(_env("FOGSTRAT_ENV_SUBST") or "").lower() in ("1", "true", "yes", "on"),
                   help="expand ${NAME} in document strings from the environment; an unset "
                   "NAME is an error [FOGSTRAT_ENV_SUBST, false]")


def _document_verbs(cmd: Verb) -> None:
    p = cmd("apply", "create or update documents from files (validates all first)", commands.apply)
    p.add_argument("-f", "--filename", required=True, action="append",
                   help="file, directory or - for stdin (repeatable)")
    _env_subst_flag(p)
    _ns(p)

    p = cmd("get", "list documents, or show one", commands.get)
    p.add_argument("kind", help="kind: activestrategies (as), strategies (st), architectures "
                   "(arch), architecturedata (ad), environments (env); or endpoints (ep): "
                   "where each ActiveStrategy's service is")
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
    p.add_argument("--force", action="store_true",
                   help="delete even if other documents refer to it")
    _ns(p)

    p = cmd("validate", "validate documents offline (no etcd needed)", commands.validate_cmd,
            etcd=False)
    p.add_argument("-f", "--filename", required=True, action="append")
    _env_subst_flag(p)


def _steering_verbs(cmd: Verb) -> None:
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


def _observing_verbs(cmd: Verb) -> None:
    p = cmd("logs", "print the output of an ActiveStrategy's running instances, read from "
            "the fog (fogsim keeps it; fog05 agents may not)", observe.logs)
    p.add_argument("kind", help="activestrategies (as)")
    p.add_argument("name", help="ActiveStrategy name")
    p.add_argument("entity", nargs="?", help="only this entity of the active architecture")
    p.add_argument("--tail", type=int, default=None, metavar="LINES",
                   help="only the last LINES lines of each instance's output")
    _ns(p)

    p = cmd("wait", "wait until an ActiveStrategy's status has the given fields; print "
            "progress, and stop at once with the status's reason when it cannot get there",
            observe.wait)
    p.add_argument("kind", help="activestrategies (as)")
    p.add_argument("name", help="ActiveStrategy name")
    p.add_argument("--for", dest="until", action="append", required=True, metavar="FIELD=VALUE",
                   help="a status field and its value, e.g. phase=Serving (repeatable: all)")
    p.add_argument("--wait-timeout", type=float, default=180.0, metavar="SECONDS",
                   help="give up after this long [%(default)s]")
    _ns(p)

    p = cmd("events", "list Events (of one object: NAME), as kubectl get events",
            commands.events_cmd)
    p.add_argument("name", nargs="?", help="the object the events are about")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, print each new or updated event")
    _ns(p)


def _controller_verb(cmd: Verb) -> None:
    p = cmd("controller", "run the reconciling controller", commands.controller)
    p.add_argument("--metrics-addr", default=_env("FOGSTRAT_METRICS_ADDR", "127.0.0.1:9469"),
                   help="host:port serving /metrics, /healthz, /readyz "
                   "[FOGSTRAT_METRICS_ADDR, %(default)s]")
    p.add_argument("--web-config-file", default=_env("FOGSTRAT_WEB_CONFIG_FILE"),
                   help="TLS and basic auth for that endpoint, in Prometheus' web config "
                   "format [FOGSTRAT_WEB_CONFIG_FILE]")
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


def _completion(args: argparse.Namespace) -> int:
    print(shellcode(["fogstrat"], shell=args.shell), end="")
    return 0


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argcomplete.autocomplete(parser)  # returns unless the shell asks for completions
    args = parser.parse_args(argv)
    if password_on_command_line(sys.argv[1:] if argv is None else argv):
        print(VISIBLE_WARNING, file=sys.stderr)
    try:
        rc: int = args.func(args)
        return rc
    except KeyboardInterrupt:
        return 130
    except (StoreError, UnknownKind, InvalidDocument, DocumentSyntaxError, CliError,
            commands.CommandError, FogError, LookupError, OSError, ValueError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except (Exception, RecursionError, MemoryError) as exc:  # a bug: still one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); set "
              f"{DEBUG_ENV}=1 to see where", file=sys.stderr)
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, cut at MAX_ERROR_CHARS: every value it quotes
    is already an excerpt, and this bounds whatever a library put in."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= MAX_ERROR_CHARS else msg[: MAX_ERROR_CHARS - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
