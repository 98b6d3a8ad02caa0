"""Raw documents to typed models (``controller.api.models``).

:func:`parse_document` validates first, so the builders below may index freely: every
shape they rely on is guaranteed by the CRD schema (with defaults applied) and by the
semantic checks in ``controller.api.validation``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from controller.api.kinds import (
    ACTIVE_STRATEGY,
    ARCHITECTURE,
    ARCHITECTURE_DATA,
    DEFAULT_NAMESPACE,
    ENVIRONMENT,
    STRATEGY,
)
from controller.api.models import (
    ActiveStrategySpec,
    ArchitectureDataSpec,
    ArchitectureRef,
    ArchitectureSpec,
    Document,
    Endpoint,
    Entity,
    EnvironmentSpec,
    FailbackPolicy,
    HealthSpec,
    HttpCheck,
    IpConfiguration,
    Network,
    ObjectMeta,
    Parameter,
    ProbeKind,
    ProbeSpec,
    PrometheusQuery,
    QosCheck,
    Requirements,
    Spec,
    StrategyPolicy,
    StrategySpec,
    TcpCheck,
)
from controller.api.validation import (
    InvalidDocument,
    checked_body,
    parse_duration,
    probe_names,
)

__all__ = ["InvalidDocument", "parse_document", "parse_spec"]

Raw = Mapping[str, Any]


def parse_document(raw: Mapping[str, Any]) -> Document:
    """Validate ``raw`` and build its typed :class:`Document`; raises InvalidDocument.

    ``Document.raw`` is ``raw`` itself (what the user wrote, without defaults), so it
    can be shown or stored back unchanged. The header and metadata are checked every
    time; the body's check and typed spec are shared by every document with an equal
    body (``validation.checked_body``): typed specs are immutable.
    """
    body = checked_body(raw)
    meta = raw["metadata"]
    metadata = ObjectMeta(
        name=meta["name"],
        namespace=meta.get("namespace", DEFAULT_NAMESPACE),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
    )
    spec = body.built
    if spec is None:
        spec = body.built = parse_spec(raw["kind"], body.document["spec"])
    return Document(kind=raw["kind"], metadata=metadata, spec=spec, raw=raw)


def parse_spec(kind: str, spec: Mapping[str, Any]) -> Spec:
    """Build the typed spec of ``kind`` from a spec that is valid with defaults applied."""
    return _BUILDERS[kind](spec)


# --- builders ----------------------------------------------------------------------------------


def _environment(spec: Raw) -> EnvironmentSpec:
    return EnvironmentSpec(
        driver=spec["driver"],
        locator=spec["locator"],
        sysid=spec["sysid"],
        tenantid=spec["tenantid"],
        info=copy.deepcopy(dict(spec.get("info") or {})),
        directives=copy.deepcopy(dict(spec.get("directives") or {})),
        timeout=parse_duration(spec["timeout"]),
        node_labels={str(node): {str(k): str(v) for k, v in labels.items()}
                     for node, labels in (spec.get("nodeLabels") or {}).items()},
        agent_timeout=parse_duration(spec["agentTimeout"]),
    )


def _architecture(spec: Raw) -> ArchitectureSpec:
    parameters = {
        name: Parameter(
            name=name,
            type=p["type"],
            default=copy.deepcopy(p.get("default")),
            required=p["required"],
            description=p.get("description", ""),
        )
        for name, p in (spec.get("parameters") or {}).items()
    }
    return ArchitectureSpec(
        parameters=parameters,
        entities=tuple(_entity(e) for e in spec.get("entities") or ()),
        plugin=spec.get("plugin"),
        health=_health(spec["health"]),
        description=spec.get("description", ""),
        networks=tuple(_network(n) for n in spec.get("networks") or ()),
        endpoint=_endpoint(spec.get("endpoint")),
    )


def _network(raw: Raw) -> Network:
    conf = raw.get("ip_configuration")
    ipconf = None
    if conf is not None:
        ipconf = IpConfiguration(
            subnet=conf["subnet"],
            ip_version=conf.get("ip_version", "IPV4"),
            gateway=conf.get("gateway"),
            dhcp_enable=bool(conf.get("dhcp_enable", False)),
            dhcp_range=conf.get("dhcp_range"),
            dns=conf.get("dns"),
        )
    return Network(
        name=raw["name"],
        uuid=raw.get("uuid"),
        net_type=raw.get("net_type", "ELAN"),
        is_mgmt=bool(raw.get("is_mgmt", False)),
        vlan_id=raw.get("vlan_id"),
        ip_configuration=ipconf,
    )


def _endpoint(raw: Raw | None) -> Endpoint | None:
    if raw is None:
        return None
    return Endpoint(entity=raw["entity"], port=raw["port"], scheme=raw.get("scheme", "http"),
                    path=raw.get("path", ""))


def _entity(raw: Raw) -> Entity:
    req = raw.get("requirements") or {}
    fdu = copy.deepcopy(dict(raw["fdu"]))
    fdu.setdefault("name", raw["name"])
    return Entity(
        name=raw["name"],
        fdu=fdu,
        phase=raw["phase"],
        replicas=raw["replicas"],
        requirements=Requirements(
            cpu_arch=req.get("cpuArch"),
            min_cores=req.get("minCores", 0),
            ram_mb=req.get("ramMB", 0),
            disk_gb=float(req.get("diskGB", 0.0)),
            node_selector=dict(req.get("nodeSelector") or {}),
            anti_affinity=tuple(req.get("antiAffinity") or ()),
        ),
        env=dict(raw.get("env") or {}),
        depends_on=tuple(raw.get("dependsOn") or ()),
    )


def _health(raw: Raw) -> HealthSpec:
    probes = raw.get("probes") or []
    return HealthSpec(
        interval=parse_duration(raw["interval"]),
        timeout=parse_duration(raw["timeout"]),
        failure_threshold=raw["failureThreshold"],
        success_threshold=raw["successThreshold"],
        probes=tuple(_probe(p, name) for p, name in zip(probes, probe_names(probes), strict=True)),
        startup_interval=(parse_duration(raw["startupInterval"]) if "startupInterval" in raw
                          else None),
    )


def _probe(raw: Raw, name: str) -> ProbeSpec:
    kinds: tuple[ProbeKind, ...] = ("state", "http", "tcp", "qos")
    kind = next(k for k in kinds if k in raw)
    return ProbeSpec(
        name=name,
        kind=kind,
        entity=raw.get("entity"),
        state=raw.get("state", "RUN"),
        http=_http(raw["http"]) if "http" in raw else None,
        tcp=TcpCheck(port=raw["tcp"]["port"]) if "tcp" in raw else None,
        qos=_qos(raw["qos"]) if "qos" in raw else None,
    )


def _http(raw: Raw) -> HttpCheck:
    return HttpCheck(
        port=raw["port"],
        path=raw["path"],
        expected_status=raw["expectedStatus"],
        scheme=raw["scheme"],
    )


def _qos(raw: Raw) -> QosCheck:
    prometheus = raw.get("prometheus")
    return QosCheck(
        http=_http(raw["http"]) if "http" in raw else None,
        field=raw.get("field"),
        prometheus=(
            PrometheusQuery(url=prometheus["url"], query=prometheus["query"])
            if prometheus is not None
            else None
        ),
        min=_float_or_none(raw.get("min")),
        max=_float_or_none(raw.get("max")),
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _architecture_data(spec: Raw) -> ArchitectureDataSpec:
    return ArchitectureDataSpec(
        architecture=spec["architecture"],
        data_id=spec["dataId"],
        deploy_path=spec.get("deployPath"),
        serve_path=spec.get("servePath"),
    )


def _ref(raw: Raw) -> ArchitectureRef:
    return ArchitectureRef(
        architecture=raw["architecture"], config=copy.deepcopy(dict(raw["config"]))
    )


def _strategy(spec: Raw) -> StrategySpec:
    policy = spec["policy"]
    failback = policy["failback"]
    return StrategySpec(
        main=_ref(spec["main"]),
        replacements=tuple(_ref(r) for r in spec["replacements"]),
        policy=StrategyPolicy(
            failback=FailbackPolicy(
                mode=failback["mode"],
                stabilization_window=parse_duration(failback["stabilizationWindow"]),
                make_before_break=failback["makeBeforeBreak"],
            ),
            max_failovers_per_hour=policy["maxFailoversPerHour"],
            failure_threshold=policy.get("failureThreshold"),
            deploy_timeout=parse_duration(policy["deployTimeout"]),
            fail_fast=policy["failFast"],
        ),
    )


def _active_strategy(spec: Raw) -> ActiveStrategySpec:
    return ActiveStrategySpec(
        strategy=spec["strategy"],
        environment=spec["environment"],
        association_args=copy.deepcopy(dict(spec["associationArgs"])),
        association_args_by_architecture=copy.deepcopy(
            dict(spec.get("associationArgsByArchitecture") or {})),
        data_id=spec.get("dataId"),
        serve=spec["serve"],
        paused=spec["paused"],
        pin=spec.get("pin"),
    )


_BUILDERS: Mapping[str, Callable[[Raw], Spec]] = {
    ENVIRONMENT.kind: _environment,
    ARCHITECTURE.kind: _architecture,
    ARCHITECTURE_DATA.kind: _architecture_data,
    STRATEGY.kind: _strategy,
    ACTIVE_STRATEGY.kind: _active_strategy,
}
