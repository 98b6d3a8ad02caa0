"""The CLI verbs: each takes parsed arguments, prints its result and returns an exit status."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from controller.api import kinds
from controller.api.documents import dump_yaml, load_path_located
from controller.api.kinds import DEFAULT_NAMESPACE
from controller.api.limits import excerpt, limits, summarize
from controller.api.models import ArchitectureSpec, Document, StrategySpec
from controller.api.parse import parse_document
from controller.api.validation import InvalidDocument, is_dns1123_label, validate
from controller.arch.fdu_model import fog05_model_problems
from controller.arch.params import strategy_config_problems
from controller.cli import endpoints, envsubst, events, printers
from controller.resources import Resources, StoredObject, encode, object_key
from controller.runtime.informer import ObjectKey
from controller.runtime.references import known_as, refers_to
from controller.store import Store, StoreError, connect
from controller.store.keys import parse_key, root_prefix
from controller.store.secrets import etcd_password


class CommandError(Exception):
    """A command cannot do what was asked; the message is one line for the user."""


@contextmanager
def _resources(args: argparse.Namespace) -> Iterator[Resources]:
    store: Store = connect(
        [e.strip() for e in args.endpoints.split(",") if e.strip()],
        cacert=args.cacert, cert=args.cert, key=args.key,
        user=args.user, password=etcd_password(args), timeout=args.timeout,
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
            lines.append(f"{source}: {_what(doc, meta)}: " + summarize([str(p) for p in problems]))
    return lines


def _what(doc: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` of a document that may be invalid, shortened."""
    kind, namespace, name = (doc.get("kind", "?"), meta.get("namespace", DEFAULT_NAMESPACE),
                             meta.get("name", "?"))
    return "{} {}/{}".format(*(v if isinstance(v, str) and len(v) <= 63 else excerpt(v, 40)
                               for v in (kind, namespace, name)))


def _check_writable(docs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One line per document of a valid set that cannot be written as it is: given twice,
    or larger once encoded than a controller reads (``max_document_bytes``)."""
    lines: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}
    limit = limits().max_document_bytes
    for source, doc in docs:
        kind, namespace, name = object_key(doc)
        what = f"{kind.kind} {namespace}/{name}"
        first = seen.setdefault((kind.kind, namespace, name), source)
        if first != source:
            lines.append(f"{source}: {what}: also given at {first}")
        size = len(encode(doc))
        if size > limit:
            lines.append(f"{source}: {what}: {size} bytes once written, more than {limit} "
                         "(limit max_document_bytes)")
    return lines


ArchitectureLookup = Callable[[str, str], ArchitectureSpec | None]


def _config_check(docs: list[tuple[str, dict[str, Any]]],
                  lookup: ArchitectureLookup | None = None) -> list[str]:
    """Strategies whose candidates' config their Architectures refuse: Architectures from
    the same files first, then (``lookup``) from etcd."""
    archs: dict[tuple[str, str], ArchitectureSpec] = {}
    strategies: list[tuple[str, Document]] = []
    for source, raw in docs:
        try:
            doc = parse_document(raw)
        except InvalidDocument:
            continue  # told by _check
        if isinstance(doc.spec, ArchitectureSpec):
            archs[(doc.namespace, doc.name)] = doc.spec
        elif isinstance(doc.spec, StrategySpec):
            strategies.append((source, doc))
    lines = []
    for source, doc in strategies:
        assert isinstance(doc.spec, StrategySpec)
        known: dict[str, ArchitectureSpec] = {}
        for ref in doc.spec.candidates:
            spec = archs.get((doc.namespace, ref.architecture))
            if spec is None and lookup is not None:
                spec = lookup(doc.namespace, ref.architecture)
            if spec is not None:
                known[ref.architecture] = spec
        for p in strategy_config_problems(doc.spec, known):
            lines.append(f"{source}: Strategy {doc.namespace}/{doc.name}: {p.message} "
                         f"({p.reason})")
    return lines


def _stored_architecture(res: Resources) -> ArchitectureLookup:
    def lookup(namespace: str, name: str) -> ArchitectureSpec | None:
        obj = res.get(kinds.ARCHITECTURE, namespace, name, with_status=False)
        if obj is None or obj.decode_error:
            return None
        try:
            spec = parse_document(obj.document).spec
        except InvalidDocument:
            return None
        return spec if isinstance(spec, ArchitectureSpec) else None
    return lookup


def validate_cmd(args: argparse.Namespace) -> int:
    docs = envsubst.prepare(_load_all(args.filename), args.env_subst, os.environ)
    errors = _check(docs) or _config_check(docs)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if errors:
        return 1
    for _, doc in docs:
        kind, ns, name = object_key(doc)
        print(f"{kind.singular}.{kinds.API_GROUP}/{name} valid (namespace {ns})")
    return 0


def _refuse(errors: list[str]) -> int:
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    print(f"error: {len(errors)} invalid document(s); nothing was applied", file=sys.stderr)
    return 1


def apply(args: argparse.Namespace) -> int:
    """All or nothing: every document is validated, then all are written in one etcd
    transaction (see ``Resources.apply_all``)."""
    docs = envsubst.prepare(_load_all(args.filename, args.namespace), args.env_subst, os.environ)
    errors = _check(docs) or _check_writable(docs)
    if errors:
        return _refuse(errors)
    with _resources(args) as res:
        errors = _config_check(docs, _stored_architecture(res))
        if errors:
            return _refuse(errors)
        try:
            results = res.apply_all([doc for _, doc in docs])
        except StoreError as exc:
            raise CommandError(f"{exc}; nothing was applied") from None
    for (_, doc), result in zip(docs, results, strict=True):
        kind, _ns, name = object_key(doc)
        print(f"{kind.singular}.{kinds.API_GROUP}/{name} {result}")
    return 0


def get(args: argparse.Namespace) -> int:
    if args.kind in endpoints.NAMES:
        return _get_endpoints(args)
    kind = kinds.by_typed_name(args.kind)
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
        reachable = (printers.reachability(res.list(kinds.ACTIVE_STRATEGY, namespace))
                     if kind is kinds.ENVIRONMENT and args.output == "wide" else None)
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
                             all_namespaces=namespace is None, reachable=reachable))
    return 0


def _get_endpoints(args: argparse.Namespace) -> int:
    """Where each ActiveStrategy's service is (``<prefix>/endpoints/``)."""
    namespace = None if args.all_namespaces else args.namespace
    if args.watch:
        raise CommandError("get endpoints cannot --watch: watch the key itself (etcdctl "
                           "watch --prefix <prefix>/endpoints/)")
    with _resources(args) as res:
        found = endpoints.stored(res.store, args.prefix, namespace)
    if args.name:
        found = [p for p in found if p.name == args.name]
        if not found:
            raise CommandError(f'no endpoint published for activestrategy "{args.name}" in '
                               f'namespace "{namespace}"')
    if args.output in ("json", "yaml"):
        items = [{"namespace": p.namespace, "name": p.name, **p.value} for p in found]
        listed: Any = items[0] if args.name else {"items": items}
        print(json.dumps(listed, indent=2) if args.output == "json" else dump_yaml(listed),
              end="\n" if args.output == "json" else "")
    elif not found:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No endpoints found in {where}.", file=sys.stderr)
    else:
        print(endpoints.table(found))
    return 0


def _watch(args: argparse.Namespace, kind: kinds.Kind, namespace: str | None,
           objs: list[StoredObject]) -> int:
    """kubectl's ``-w``: print the table, then a row whenever a spec or status changes."""
    wide, all_ns = args.output == "wide", namespace is None
    first = printers.rows(kind, objs, wide=wide, all_namespaces=all_ns)
    col_widths = printers.watch_widths(
        printers.columns(kind, wide=wide, all_namespaces=all_ns), first)
    for row in first:
        print(printers.format_row(row, col_widths, clip=True), flush=True)
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
                    print(printers.format_row(row, col_widths, clip=True), flush=True)
        finally:
            watch.close()
    return 0


def _render_api(objs: list[StoredObject], *, single: bool) -> Mapping[str, Any]:
    if single:
        return objs[0].to_api()
    return {"apiVersion": "v1", "kind": "List", "items": [o.to_api() for o in objs]}


def describe(args: argparse.Namespace) -> int:
    kind = kinds.by_typed_name(args.kind)
    with _resources(args) as res:
        obj = res.get(kind, args.namespace, args.name)
        if obj is None:
            raise CommandError(f'{kind.singular} "{args.name}" not found in namespace '
                               f'"{args.namespace}"')
        found, _ = events.stored(res.store, args.prefix, args.namespace, args.name)
    print(printers.describe(obj), end="")
    found = [e for e in found if (e.get("involvedObject") or {}).get("kind") == kind.kind]
    print("Events:" + ("\n" + "\n".join(events.table(found, indent=2)) if found
                       else "               <none>"))
    return 0


def events_cmd(args: argparse.Namespace) -> int:
    """``kubectl get events``: the Events of a namespace, or of one object (NAME)."""
    namespace = None if args.all_namespaces else args.namespace
    with _resources(args) as res:
        found, revision = events.stored(res.store, args.prefix, namespace, args.name)
        rows = [events.HEADER, *(events.row(e) for e in found)]
        cols = printers.widths(rows, minimum=8)
        if found or args.watch:
            for r in rows:
                print(printers.format_row(r, cols), flush=True)
        else:
            where = "any namespace" if namespace is None else f"namespace {namespace}"
            print(f"No events found in {where}.", file=sys.stderr)
        if args.watch:
            events.watch(res.store, args.prefix, namespace, args.name, revision, cols)
    return 0


_REFERRERS = (kinds.STRATEGY, kinds.ARCHITECTURE_DATA, kinds.ACTIVE_STRATEGY)
"""The kinds whose documents name others (see ``controller.runtime.references``)."""


def _referrers(res: Resources, target: StoredObject) -> list[str]:
    """``kind/name`` of every document in the target's namespace that names it."""
    key = ObjectKey(target.kind, target.namespace, target.name)
    names = known_as(key, target.document)
    out = []
    for kind in _REFERRERS:
        for obj in res.list(kind, target.namespace, with_status=False):
            if not obj.terminating and refers_to(kind, obj.namespace, obj.document) & names:
                out.append(f"{kind.singular}/{obj.name}")
    return out


def delete(args: argparse.Namespace) -> int:
    kind = kinds.by_typed_name(args.kind)
    what = f'{kind.singular} "{args.name}"'
    with _resources(args) as res:
        target = res.get(kind, args.namespace, args.name, with_status=False)
        if target is None:
            raise CommandError(f'{what} not found in namespace "{args.namespace}"')
        referrers = [] if args.force else _referrers(res, target)
        if referrers:
            shown = ", ".join(referrers[:10]) + (
                f" and {len(referrers) - 10} more" if len(referrers) > 10 else "")
            raise CommandError(f"{what} is referred to by {shown}; delete or change those "
                               "first, or use --force (what runs keeps running on the last "
                               "valid documents)")
        if not res.delete(kind, args.namespace, args.name):
            raise CommandError(f'{what} not found in namespace "{args.namespace}"')
    print(f"{kind.singular}.{kinds.API_GROUP}/{args.name} deleted")
    return 0


def _set_active_strategy(args: argparse.Namespace, changes: Mapping[str, Any], verb: str) -> int:
    with _resources(args) as res:
        res.update_spec(kinds.ACTIVE_STRATEGY, args.namespace, args.name, changes)
    print(f"{kinds.ACTIVE_STRATEGY.singular}.{kinds.API_GROUP}/{args.name} {verb}")
    return 0


def pause(args: argparse.Namespace) -> int:
    return _set_active_strategy(args, {"paused": True}, "paused; the controller keeps "
                                "observing and reporting but acts on nothing until resume")


def resume(args: argparse.Namespace) -> int:
    return _set_active_strategy(args, {"paused": False}, "resumed; the controller acts on "
                                "what it observes again")


def switch(args: argparse.Namespace) -> int:
    if args.unpin:
        return _unpin(args)
    with _resources(args) as res:
        active = res.get(kinds.ACTIVE_STRATEGY, args.namespace, args.name, with_status=False)
        if active is None:
            raise CommandError(f'activestrategy "{args.name}" not found in namespace '
                               f'"{args.namespace}"')
        strategy_name = str(printers.spec_of(active).get("strategy", ""))
        strategy = (res.get(kinds.STRATEGY, args.namespace, strategy_name, with_status=False)
                    if is_dns1123_label(strategy_name) else None)
        if strategy is not None:
            spec = printers.spec_of(strategy)
            candidates = [str(printers.mapping(spec.get("main")).get("architecture"))] + [
                str(r.get("architecture")) for r in printers.mappings(spec.get("replacements"))]
            if args.to not in candidates:
                raise CommandError(f"architecture {args.to!r} is not part of strategy "
                                   f"{strategy_name!r} (candidates: {', '.join(candidates)})")
        res.update_spec(kinds.ACTIVE_STRATEGY, args.namespace, args.name, {"pin": args.to})
    print(f"{kinds.ACTIVE_STRATEGY.singular}.{kinds.API_GROUP}/{args.name} switching to "
          f"{args.to}; it stays there, whatever its health, until "
          f"fogstrat switch {args.name} --unpin")
    return 0


def _unpin(args: argparse.Namespace) -> int:
    """Remove the pin and say what the controller does next, which the failback policy
    of the strategy decides."""
    with _resources(args) as res:
        res.update_spec(kinds.ACTIVE_STRATEGY, args.namespace, args.name, {"pin": None})
        active = res.get(kinds.ACTIVE_STRATEGY, args.namespace, args.name)
        strategy = None if active is None else res.get(
            kinds.STRATEGY, args.namespace,
            str((active.document.get("spec") or {}).get("strategy", "")), with_status=False)
    status = (active.status if active is not None else None) or {}
    spec: StrategySpec | None = None
    if strategy is not None and not strategy.decode_error and not validate(strategy.document):
        parsed = parse_document(dict(strategy.document)).spec
        spec = parsed if isinstance(parsed, StrategySpec) else None
    print(f"{kinds.ACTIVE_STRATEGY.singular}.{kinds.API_GROUP}/{args.name} unpinned; "
          f"{printers.after_unpin(spec, status)}")
    return 0


def controller(args: argparse.Namespace) -> int:
    from controller.runtime.main import run_controller  # heavy imports only when needed

    return run_controller(args)
