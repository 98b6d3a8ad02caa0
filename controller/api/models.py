"""Typed, immutable models of valid documents.

Only documents that passed schema and semantic validation (``controller.api.validation``)
become models, so code that holds a model never re-checks shapes. Durations are seconds
(``float``); raw fog05 FDU descriptor templates stay plain mappings because their format
belongs to fog05, not to us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.api.kinds import DEFAULT_NAMESPACE

EntityPhase = Literal["deploy", "serve"]
FailbackMode = Literal["Automatic", "Manual"]
ProbeKind = Literal["state", "http", "tcp", "qos"]


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    namespace: str = DEFAULT_NAMESPACE
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


# --- Environment -----------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentSpec:
    """Where to deploy: a fog driver (``fogsim`` or ``fog05``) and how to reach it."""

    driver: Literal["fogsim", "fog05"]
    locator: str
    sysid: str = "0"
    tenantid: str = "0"
    info: Mapping[str, Any] = field(default_factory=dict)
    directives: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 10.0
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Labels by node name or uuid, given centrally (``spec.nodeLabels``)."""
    agent_timeout: float = 2.0
    """fog05: seconds a node's agent has to answer before the node counts as gone."""


# --- Architecture ----------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    type: Literal["string", "integer", "number", "boolean"]
    default: Any = None
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Requirements:
    cpu_arch: str | None = None
    min_cores: int = 0
    ram_mb: int = 0
    disk_gb: float = 0.0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    anti_affinity: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    name: str
    fdu: Mapping[str, Any]
    phase: EntityPhase = "deploy"
    replicas: int = 1
    requirements: Requirements = field(default_factory=Requirements)
    env: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpCheck:
    port: int
    path: str = "/"
    expected_status: int = 200
    scheme: Literal["http", "https"] = "http"


@dataclass(frozen=True)
class TcpCheck:
    port: int


@dataclass(frozen=True)
class PrometheusQuery:
    url: str
    query: str


@dataclass(frozen=True)
class QosCheck:
    """A quality value compared with ``min``/``max``: an HTTP JSON field or a PromQL query."""

    http: HttpCheck | None = None
    field: str | None = None
    prometheus: PrometheusQuery | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """One health check. ``entity`` is None only for Prometheus QoS probes."""

    name: str
    kind: ProbeKind
    entity: str | None = None
    state: str = "RUN"
    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    qos: QosCheck | None = None


@dataclass(frozen=True)
class HealthSpec:
    interval: float = 10.0
    timeout: float = 2.0
    failure_threshold: int = 3
    success_threshold: int = 1
    probes: tuple[ProbeSpec, ...] = ()
    startup_interval: float | None = None
    """Time between probe cycles of a transition's target until it first passes one
    (``health.startupInterval``); None: ``reconcile.probing.startup_interval``'s
    default."""


@dataclass(frozen=True)
class IpConfiguration:
    """A network's addresses, as fog05's virtual network descriptor writes them."""

    subnet: str
    ip_version: Literal["IPV4", "IPV6"] = "IPV4"
    gateway: str | None = None
    dhcp_enable: bool = False
    dhcp_range: str | None = None
    """``FIRST,LAST``."""
    dns: str | None = None
    """Comma-separated addresses."""


@dataclass(frozen=True)
class Network:
    """A fog05 virtual network the architecture creates (``spec.networks[]``)."""

    name: str
    uuid: str | None = None
    """The namespace the network's derived uuid is made in."""
    net_type: str = "ELAN"
    is_mgmt: bool = False
    vlan_id: int | None = None
    ip_configuration: IpConfiguration | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where consumers reach the service while the architecture serves: ``port`` on the
    address of ``entity``'s first replica (``spec.endpoint``)."""

    entity: str
    port: int
    scheme: str = "http"
    path: str = ""


@dataclass(frozen=True)
class ArchitectureSpec:
    """Either declarative ``entities`` or a ``plugin`` name (entry point), never both."""

    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    entities: tuple[Entity, ...] = ()
    plugin: str | None = None
    health: HealthSpec = field(default_factory=HealthSpec)
    description: str = ""
    networks: tuple[Network, ...] = ()
    endpoint: Endpoint | None = None


# --- ArchitectureData ------------------------------------------------------------------


@dataclass(frozen=True)
class ArchitectureDataSpec:
    architecture: str
    data_id: str
    deploy_path: str | None = None
    serve_path: str | None = None


# --- Strategy --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchitectureRef:
    architecture: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FailbackPolicy:
    mode: FailbackMode = "Automatic"
    stabilization_window: float = 60.0
    make_before_break: bool = True


@dataclass(frozen=True)
class StrategyPolicy:
    failback: FailbackPolicy = field(default_factory=FailbackPolicy)
    max_failovers_per_hour: int = 4
    failure_threshold: int | None = None
    """Overrides the active architecture's ``health.failureThreshold`` when set."""
    deploy_timeout: float = 300.0
    fail_fast: bool = True
    """A definite failure (an instance in ERROR, gone, or on a node that is gone) fails
    over at once; False: it waits for ``failureThreshold`` failed cycles like any other."""


@dataclass(frozen=True)
class StrategySpec:
    main: ArchitectureRef
    replacements: tuple[ArchitectureRef, ...] = ()
    policy: StrategyPolicy = field(default_factory=StrategyPolicy)

    @property
    def candidates(self) -> tuple[ArchitectureRef, ...]:
        """Main first, then replacements in order of preference."""
        return (self.main, *self.replacements)


# --- ActiveStrategy --------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveStrategySpec:
    strategy: str
    environment: str
    association_args: Mapping[str, Any] = field(default_factory=dict)
    """Every architecture's association args (the seed's ``associate(.., args)``)."""
    association_args_by_architecture: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict)
    """One architecture's own, over the shared ones."""
    data_id: str | None = None
    serve: bool = True
    paused: bool = False
    pin: str | None = None

    def association_args_for(self, architecture: str) -> dict[str, Any]:
        """The association args ``architecture`` is associated with."""
        return {**self.association_args,
                **self.association_args_by_architecture.get(architecture, {})}


Spec = EnvironmentSpec | ArchitectureSpec | ArchitectureDataSpec | StrategySpec | ActiveStrategySpec


@dataclass(frozen=True)
class Document:
    """A valid document: kind, metadata and typed spec, plus the raw mapping it came from."""

    kind: str
    metadata: ObjectMeta
    spec: Spec
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace
