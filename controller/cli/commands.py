"""The CLI verbs: each takes parsed arguments, prints its result and returns an exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from controller.api import kinds
from controller.api.documents import dump_yaml, load_path_located
from controller.api.kinds import DEFAULT_NAMESPACE
from controller.api.validation import validate
from controller.arch.fdu_model import fog05_model_problems
from controller.cli import printers
from controller.resources import Resources, StoredObject, object_key
from controller.store import Store, connect
from controller.store.keys import parse_key, root_prefix


class CommandError(Exception):
    """A command cannot do what was asked; the message is one line for the user."""


@contextmanager
def _resources(args: argparse.Namespace) -> Iterator[Resources]:
    store: Store = connect(
        [e.strip() for e in args.endpoints.split(",") if e.strip()],
        cacert=args.cacert, cert=args.cert, key=args.key,
        user=args.user, password=args.password, timeout=args.timeout,
    )
    try:
        yield Resources(store, args.prefix)
    finally:
        store.close()


def _load_all(filenames: list[str], default_namespace: str | None = None
              ) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for filename in filenames:
        for located in load_path_located(filename):
            doc = located.document
            if default_namespace and isinstance(doc.get("metadata"), dict):
                doc["metadata"].setdefault("namespace", default_namespace)
            docs.append((located.origin, doc))
    if not docs:
        raise CommandError(f"no documents found in {', '.join(filenames)}")
    return docs


def _fog05_model(doc: dict[str, Any]) -> list[Any]:
    """fog05's own FDU model over a valid Architecture's descriptors (nothing to say about
    other kinds); without the fog05 extra, a note on stderr instead."""
    if doc.get("kind") != kinds.ARCHITECTURE.kind:
        return []
    try:
        return fog05_model_problems(doc)
    except ImportError as exc:
        print(f"note: fog05's FDU model not checked, the fog05 extra is missing ({exc})",
              file=sys.stderr)
        return []


def _check(docs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One line per invalid document; empty when all are valid."""
    lines = []
    for source, doc in docs:
        problems = validate(doc) or _fog05_model(doc)
        if problems:
            raw_meta = doc.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            what = f"{doc.get('kind', '?')} {meta.get('namespace', DEFAULT_NAMESPACE)}/" \
                   f"{meta.get('name', '?')}"
            lines.append(f"{source}: {what}: " + "; ".join(str(p) for p in problems))
    return lines


def validate_cmd(args: argparse.Namespace) -> int:
    docs = _load_all(args.filename)
    errors = _check(docs)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if errors:
        return 1
    for _, doc in docs:
        kind, ns, name = object_key(doc)
        print(f"{kind.singular}.{kinds.API_GROUP}/{name} valid (namespace {ns})")
    return 0


def apply(args: argparse.Namespace) -> int:
    docs = _load_all(args.filename, args.namespace)
    errors = _check(docs)
    if errors:
        for line in errors:
            print(f"error: {line}", file=sys.stderr)
        print(f"error: {len(errors)} invalid document(s); nothing was applied", file=sys.stderr)
        return 1
    with _resources(args) as res:
        for _, doc in docs:
            kind, _ns, name = object_key(doc)
            result = res.apply(doc)
            print(f"{kind.singular}.{kinds.API_GROUP}/{name} {result}")
    return 0


def get(args: argparse.Namespace) -> int:
    kind = kinds.resolve(args.kind)
    namespace = None if args.all_namespaces else args.namespace
    with _resources(args) as res:
        if args.name:
            if namespace is None:
                raise CommandError("a name cannot be combined with --all-namespaces")
            obj = res.get(kind, namespace, args.name)
            if obj is None:
                raise CommandError(f'{kind.singular} "{args.name}" not found in namespace '
                                   f'"{namespace}"')
            objs = [obj]
        else:
            objs = res.list(kind, namespace)
    if args.watch:
        return _watch(args, kind, namespace, objs)
    if args.output == "json":
        print(json.dumps(_render_api(objs, single=bool(args.name)), indent=2, default=str))
    elif args.output == "yaml":
        print(dump_yaml(_render_api(objs, single=bool(args.name))), end="")
    else:
        if not objs:
            where = "any namespace" if namespace is None else f"namespace {namespace}"
            print(f"No {kind.plural} found in {where}.", file=sys.stderr)
            return 0
        print(printers.table(kind, objs, wide=args.output == "wide",
                             all_namespaces=namespace is None))
    return 0


def _watch(args: argparse.Namespace, kind: kinds.Kind, namespace: str | None,
           objs: list[StoredObject]) -> int:
    """kubectl's ``-w``: print the table, then a row whenever a spec or status changes."""
    wide, all_ns = args.output == "wide", namespace is None
    first = printers.rows(kind, objs, wide=wide, all_namespaces=all_ns)
    col_widths = printers.widths(first, minimum=10)
    for row in first:
        print(printers.format_row(row, col_widths), flush=True)
    last: dict[tuple[str, str], str] = {}
    with _resources(args) as res:
        watch = res.store.watch(root_prefix(args.prefix), res.store.revision() + 1)
        try:
            for event in watch:
                parsed = parse_key(args.prefix, event.key)
                if parsed is None:
                    continue
                _status, plural, ns, name = parsed
                if plural != kind.plural or (namespace and ns != namespace) or (
                        args.name and name != args.name):
                    continue
                obj = res.get(kind, ns, name)
                if obj is None:
                    print(f"{name} deleted", flush=True)
                    continue
                row = printers.rows(kind, [obj], wide=wide, all_namespaces=all_ns)[1]
                shown = "\0".join(c for c, h in zip(row, first[0], strict=True) if h != "AGE")
                if last.get((ns, name)) != shown:  # else only fields not shown changed
                    last[(ns, name)] = shown
                    print(printers.format_row(row, col_widths), flush=True)
        finally:
            watch.close()
    return 0


def _render_api(objs: list[StoredObject], *, single: bool) -> Mapping[str, Any]:
    if single:
        return objs[0].to_api()
    return {"apiVersion": "v1", "kind": "List", "items": [o.to_api() for o in objs]}


def describe(args: argparse.Namespace) -> int:
    kind = kinds.resolve(args.kind)
    with _resources(args) as res:
        obj = res.get(kind, args.namespace, args.name)
    if obj is None:
        raise CommandError(f'{kind.singular} "{args.name}" not found in namespace '
                           f'"{args.namespace}"')
    print(printers.describe(obj), end="")
    return 0


def delete(args: argparse.Namespace) -> int:
    kind = kinds.resolve(args.kind)
    with _resources(args) as res:
        if not res.delete(kind, args.namespace, args.name):
            raise CommandError(f'{kind.singular} "{args.name}" not found in namespace '
                               f'"{args.namespace}"')
    print(f"{kind.singular}.{kinds.API_GROUP}/{args.name} deleted")
    return 0


def _set_active_strategy(args: argparse.Namespace, changes: Mapping[str, Any], verb: str) -> int:
    with _resources(args) as res:
        res.update_spec(kinds.ACTIVE_STRATEGY, args.namespace, args.name, changes)
    print(f"{kinds.ACTIVE_STRATEGY.singular}.{kinds.API_GROUP}/{args.name} {verb}")
    return 0


def pause(args: argparse.Namespace) -> int:
    return _set_active_strategy(args, {"paused": True}, "paused")


def resume(args: argparse.Namespace) -> int:
    return _set_active_strategy(args, {"paused": False}, "resumed")


def switch(args: argparse.Namespace) -> int:
    if args.unpin:
        return _set_active_strategy(args, {"pin": None}, "unpinned")
    with _resources(args) as res:
        active = res.get(kinds.ACTIVE_STRATEGY, args.namespace, args.name, with_status=False)
        if active is None:
            raise CommandError(f'activestrategy "{args.name}" not found in namespace '
                               f'"{args.namespace}"')
        strategy_name = str((active.document.get("spec") or {}).get("strategy", ""))
        strategy = res.get(kinds.STRATEGY, args.namespace, strategy_name, with_status=False)
        if strategy is not None:
            spec = strategy.document.get("spec") or {}
            candidates = [str((spec.get("main") or {}).get("architecture"))] + [
                str(r.get("architecture")) for r in spec.get("replacements") or []]
            if args.to not in candidates:
                raise CommandError(f"architecture {args.to!r} is not part of strategy "
                                   f"{strategy_name!r} (candidates: {', '.join(candidates)})")
        res.update_spec(kinds.ACTIVE_STRATEGY, args.namespace, args.name, {"pin": args.to})
    print(f"{kinds.ACTIVE_STRATEGY.singular}.{kinds.API_GROUP}/{args.name} switching to {args.to}")
    return 0


def controller(args: argparse.Namespace) -> int:
    from controller.runtime.main import run_controller  # heavy imports only when needed

    return run_controller(args)
