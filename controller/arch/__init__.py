"""The architecture engine: lifecycle, placement, ordering, deploy/undeploy, probes.

The reconciler's entry points: :func:`build_architecture` (from an ArchitectureKey and a
spec), the lifecycle methods of :class:`Architecture`, :func:`can_place` /
:func:`read_nodes` for main-ready, ``Architecture.observe()`` and
:class:`ArchitectureRecord` (``to_dict``/``from_dict``) for etcd status.
"""

from controller.arch.base import Architecture, EngineOptions
from controller.arch.declarative import DeclarativeArchitecture
from controller.arch.errors import (
    ArchitectureError,
    BindingError,
    ConfigError,
    CycleError,
    LifecycleError,
    PlacementError,
    PluginError,
    SpecError,
)
from controller.arch.factory import build_architecture
from controller.arch.fogops import read_nodes
from controller.arch.health import set_probe_workers
from controller.arch.ids import ArchitectureKey, fdu_id, fdu_uuid
from controller.arch.lifecycle import LifecycleState, Operation
from controller.arch.observe import ArchitectureSnapshot, ObservedReplica
from controller.arch.placement import Placement, PlacementCheck, can_place, plan_placement
from controller.arch.plugins import load_plugin
from controller.arch.probes import Health, HealthReport, Outcome, ProbeResult
from controller.arch.record import ArchitectureRecord, ReplicaRecord

__all__ = [
    "Architecture",
    "ArchitectureError",
    "ArchitectureKey",
    "ArchitectureRecord",
    "ArchitectureSnapshot",
    "BindingError",
    "ConfigError",
    "CycleError",
    "DeclarativeArchitecture",
    "EngineOptions",
    "Health",
    "HealthReport",
    "LifecycleError",
    "LifecycleState",
    "ObservedReplica",
    "Operation",
    "Outcome",
    "Placement",
    "PlacementCheck",
    "PlacementError",
    "PluginError",
    "ProbeResult",
    "ReplicaRecord",
    "SpecError",
    "build_architecture",
    "can_place",
    "fdu_id",
    "fdu_uuid",
    "load_plugin",
    "plan_placement",
    "read_nodes",
    "set_probe_workers",
]
