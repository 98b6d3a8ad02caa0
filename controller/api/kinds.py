"""The document kinds fogstrat knows, and the names users may call them by.

One table is the truth for plural key segments (docs/design.md §3), CLI aliases (kubectl-style
singular/plural/short names) and the CRD file of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass

API_GROUP = "fogstrat.io"
API_VERSION = "fogstrat.io/v1alpha1"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Kind:
    """A document kind: its name, the etcd key segment and the names the CLI accepts."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]

    @property
    def crd_file(self) -> str:
        """File name of this kind's CustomResourceDefinition under ``crds/``."""
        return f"{self.plural}.{API_GROUP}.yaml"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.kind.lower(), self.plural, self.singular, *self.short_names)


ENVIRONMENT = Kind("Environment", "environments", "environment", ("env",))
ARCHITECTURE = Kind("Architecture", "architectures", "architecture", ("arch",))
ARCHITECTURE_DATA = Kind("ArchitectureData", "architecturedata", "architecturedata", ("ad",))
STRATEGY = Kind("Strategy", "strategies", "strategy", ("st",))
ACTIVE_STRATEGY = Kind("ActiveStrategy", "activestrategies", "activestrategy", ("as",))

KINDS: tuple[Kind, ...] = (ENVIRONMENT, ARCHITECTURE, ARCHITECTURE_DATA, STRATEGY, ACTIVE_STRATEGY)
_BY_KIND = {k.kind: k for k in KINDS}
_BY_PLURAL = {k.plural: k for k in KINDS}
_BY_NAME = {name: k for k in KINDS for name in k.names}


class UnknownKind(ValueError):
    """A kind name that matches no document kind."""


def by_kind(kind: str) -> Kind:
    """Look a kind up by its exact ``kind`` field (``ActiveStrategy``)."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise UnknownKind(f"unknown kind {kind!r}; known kinds: {', '.join(_BY_KIND)}") from None


def by_plural(plural: str) -> Kind:
    """Look a kind up by its etcd key segment (``activestrategies``)."""
    try:
        return _BY_PLURAL[plural]
    except KeyError:
        raise UnknownKind(f"unknown resource {plural!r}") from None


def by_typed_name(name: str) -> Kind:
    """Resolve what a user typed (``as``, ``activestrategy``, ``ActiveStrategies``...)."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        known = ", ".join(f"{k.plural} ({'/'.join(k.short_names)})" for k in KINDS)
        raise UnknownKind(f"unknown resource type {name!r}; known: {known}") from None
