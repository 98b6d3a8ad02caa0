"""A YAML loader that yields only JSON values and cannot be made to blow up.

JSON-compatible: timestamps stay strings, scalar keys are kept as written (``on:`` is the
key "on", not True), duplicate keys and ``!!binary`` are errors.

Bounded: PyYAML builds an alias as a shared reference, so a 942-byte "billion laughs"
loads in microseconds, and then every walk over it (validation, copies, JSON encoding)
visits a billion values. The composer here charges each node to a budget as it is built,
an alias at the full size of the subtree it names, and refuses the document once the
budget or the nesting depth (aliases included) is exceeded: a walk of what it returns
is bounded by ``max_nodes``. Composing is recursive, so the depth is checked before
descending (and flow nesting already while scanning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from controller.api.limits import LIMITS, Limits

__all__ = ["BoundedLoader", "DocumentBudgetError"]


class DocumentBudgetError(ComposerError):
    """A document exceeds a limit while being composed; ``limit`` names it."""

    def __init__(self, limit: str, message: str, mark: yaml.Mark | None) -> None:
        self.limit = limit
        super().__init__(None, None, f"{message} (limit {limit})", mark)


@dataclass(frozen=True)
class _Extent:
    nodes: int
    """Nodes of the subtree, aliases expanded."""
    height: int
    """Levels of the subtree, aliases expanded (a scalar is 1)."""


class _BoundedComposer(Composer):
    """PyYAML's composer, charging every node to the document's budget."""

    limits: Limits = LIMITS
    if TYPE_CHECKING:  # provided by the parser a loader combines this with
        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...

    _extents: dict[int, _Extent]
    _nodes: int
    _depth: int
    _deepest: int

    def compose_document(self) -> Any:
        self._extents = {}
        self._nodes = 0
        self._depth = 0
        self._deepest = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            mark = self._next_mark()
            node = super().compose_node(parent, index)
            extent = self._extents.get(id(node))
            if extent is None:  # the alias names a node that contains it
                raise DocumentBudgetError("no recursive aliases",
                                          "an alias refers to a node that contains it", mark)
            self._charge(extent.nodes, self._depth + extent.height, mark)
            return node
        mark = self._next_mark()
        self._depth += 1
        self._check_depth(self._depth, mark)
        start, outer = self._nodes, self._deepest
        self._deepest = self._depth
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._charge(1, self._deepest, mark)
        self._extents[id(node)] = _Extent(self._nodes - start, self._deepest - self._depth)
        self._deepest = max(outer, self._deepest)
        return node

    def _next_mark(self) -> yaml.Mark | None:
        event = self.peek_event()
        return event.start_mark if event is not None else None

    def _charge(self, nodes: int, depth: int, mark: yaml.Mark | None) -> None:
        self._check_depth(depth, mark)
        self._deepest = max(self._deepest, depth)
        self._nodes += nodes
        if self._nodes > self.limits.max_nodes:
            raise DocumentBudgetError(
                "max_nodes", f"document has more than {self.limits.max_nodes} values "
                "(YAML aliases count once per use)", mark)

    def _check_depth(self, depth: int, mark: yaml.Mark | None) -> None:
        if depth > self.limits.max_depth:
            raise DocumentBudgetError(
                "max_depth", f"document nests deeper than {self.limits.max_depth} levels", mark)


class _PythonLoader(Reader, Scanner, Parser, _BoundedComposer, SafeConstructor, Resolver):
    """Pure-Python parsing, where PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # The scanner looks ahead through every open flow collection for each token, so
        # deep flow nesting costs quadratic time before the composer sees any of it.
        super().fetch_flow_collection_start(token_class)
        if self.flow_level > self.limits.max_depth:
            self._check_depth(self.flow_level, self.get_mark())


BoundedLoader: type[Any] = _PythonLoader
"""The loader to use: libyaml's parser (C, much faster than PyYAML's Python one, and it
refuses nesting beyond its own limit while scanning) under the bounded composer when
PyYAML has it."""

if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _LibyamlLoader(CParser, _BoundedComposer, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

        # CParser composes in C, without the budget: ours must compose its events.
        check_node = _BoundedComposer.check_node
        get_node = _BoundedComposer.get_node
        get_single_node = _BoundedComposer.get_single_node
        compose_document = _BoundedComposer.compose_document
        compose_node = _BoundedComposer.compose_node

    BoundedLoader = _LibyamlLoader


# Timestamps would become datetime objects, which JSON cannot represent: keep them strings.
_RESOLVERS = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _PythonLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str) and isinstance(key_node, yaml.ScalarNode):
            # YAML 1.1 would make `on:` True and `80:` an int; JSON keys are strings, and
            # the text as written is what the user meant.
            key = key_node.value
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be strings", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key[:80]!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_unsupported(loader: _PythonLoader, node: yaml.Node) -> Any:
    """Explicit tags whose values JSON cannot hold (bytes, dates, sets, ordered pairs)."""
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag.replace('tag:yaml.org,2002:', '!!')} values are not supported "
        "(a document holds only JSON values)", node.start_mark
    )


_UNSUPPORTED_TAGS = ("binary", "timestamp", "set", "omap", "pairs")


_LOADERS: tuple[type[Any], ...] = (_PythonLoader, BoundedLoader)
for _loader in _LOADERS:
    _loader.yaml_implicit_resolvers = _RESOLVERS
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    for _tag in _UNSUPPORTED_TAGS:
        _loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_unsupported)
