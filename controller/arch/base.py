"""The public ``Architecture`` base class: the seed's interface with an enforced lifecycle.

Subclasses (the declarative engine, Python plugins) implement the ``do_*`` hooks; the
public methods check the lifecycle table first and advance it only when the hook
succeeded, so no subclass can skip or repeat a step and a failed step can be retried
or cleaned up with ``undeploy``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api.models import ArchitectureDataSpec, ArchitectureSpec, EnvironmentSpec
from controller.arch.errors import ArchitectureError, LifecycleError
from controller.arch.ids import ArchitectureKey
from controller.arch.lifecycle import Lifecycle, LifecycleState, Operation
from controller.arch.observe import ArchitectureSnapshot
from controller.arch.params import validate_config
from controller.arch.placement import PlacementCheck
from controller.arch.probes import Health, HealthReport
from controller.arch.record import ArchitectureRecord
from controller.fog.client import FogClient, NodeInfo, NodeStatus


@dataclass(frozen=True)
class EngineOptions:
    """Deadlines and bounds of fog work (docs/design.md §7: every wait has a deadline)."""

    call_timeout: float | None = None
    """Per fog call; None = the Environment's ``timeout``."""
    deploy_timeout: float = 300.0
    """Whole deploy/serve, including waiting for readiness."""
    undeploy_timeout: float = 120.0
    poll_interval: float = 0.25
    probe_timeout: float | None = None
    """Per probe check; None = the architecture's ``health.timeout``."""
    scan_orphans: bool = True
    """undeploy also removes FDUs with this architecture's id prefix not in the spec."""


class Architecture(abc.ABC):
    """One architecture of one ActiveStrategy, from configure to undeploy.

    ``key`` identifies the owner (namespace, ActiveStrategy, architecture) and is what
    the deterministic FDU ids derive from; ``spec`` is the Architecture document's spec.
    """

    def __init__(
        self,
        key: ArchitectureKey,
        spec: ArchitectureSpec,
        *,
        options: EngineOptions | None = None,
    ) -> None:
        self.key = key
        self.spec = spec
        self.options = options or EngineOptions()
        self.lifecycle = Lifecycle()
        self.record = ArchitectureRecord(state=self.lifecycle.state.value)
        self.params: dict[str, Any] = {}
        self.fog: FogClient | None = None
        self.environment: EnvironmentSpec | None = None
        self.association_args: dict[str, Any] = {}
        self.data: ArchitectureDataSpec | None = None

    @property
    def name(self) -> str:
        return self.key.architecture

    @property
    def state(self) -> LifecycleState:
        return self.lifecycle.state

    def _advance(self, op: Operation) -> None:
        self.lifecycle.advance(op)
        self.record.state = self.lifecycle.state.value

    def call_timeout(self) -> float:
        if self.options.call_timeout is not None:
            return self.options.call_timeout
        return self.environment.timeout if self.environment else 10.0

    def require_fog(self) -> FogClient:
        if self.fog is None:
            raise ArchitectureError("not associated with a fog")
        return self.fog

    # --- the lifecycle ----------------------------------------------------------------

    def configure(self, config: Mapping[str, Any]) -> None:
        """Set parameter values: declared ones only, typed, defaults filled, required given."""
        self.lifecycle.require(Operation.CONFIGURE)
        self.params = self.do_configure(config)
        self._advance(Operation.CONFIGURE)

    def associate(
        self,
        fog: FogClient,
        environment: EnvironmentSpec,
        args: Mapping[str, Any] | None = None,
    ) -> None:
        """Tie the architecture to a fog and an Environment, with association args: the
        seed's ``associate(fimapi, environment, args)``. ``args`` are the ActiveStrategy's
        ``associationArgs`` with its ``associationArgsByArchitecture`` entry for this
        architecture over them; templates read them as ``{{ association.KEY }}``."""
        self.lifecycle.require(Operation.ASSOCIATE)
        self.fog = fog
        self.environment = environment
        self.association_args = dict(args or {})
        self.do_associate()
        self._advance(Operation.ASSOCIATE)

    def deploy(self, data: ArchitectureDataSpec | None = None, *,
               nothing_there: bool = False) -> None:
        """Start the deploy-phase entities; adopts what already runs. Idempotent.

        ``nothing_there``: the controller knows the fog holds nothing of this architecture
        (the status it writes before every action records none of it), so there is
        nothing to adopt and the deploy need not read the fog to find out."""
        self.lifecycle.require(Operation.DEPLOY)
        self.data = data
        if nothing_there:
            self.do_deploy_onto_nothing(data)
        else:
            self.do_deploy(data)
        self._advance(Operation.DEPLOY)

    def prepare(self, data: ArchitectureDataSpec | None = None) -> None:
        """Fog work of the next deploy that allocates nothing (registering descriptors),
        done ahead: a break-before-make failover runs it while the failed architecture is
        still being undeployed. Optional; a failure here is the deploy's to report."""
        self.lifecycle.require(Operation.DEPLOY)
        self.do_prepare(data)

    def unprepare(self) -> None:
        """Undo a ``prepare`` no deploy followed (its failover was not recorded)."""
        self.do_unprepare()

    def serve(self, data: ArchitectureDataSpec | None = None) -> None:
        """Start the serve-phase entities (the service's consumers)."""
        self.lifecycle.require(Operation.SERVE)
        if data is not None:
            self.data = data
        self.do_serve(self.data)
        self._advance(Operation.SERVE)

    def unserve(self) -> None:
        """Stop the serve-phase entities, leaving the deployed ones running."""
        self.lifecycle.require(Operation.UNSERVE)
        self.do_unserve()
        self._advance(Operation.UNSERVE)

    def undeploy(self) -> None:
        """Remove everything this architecture created on the fog."""
        self.lifecycle.require(Operation.UNDEPLOY)
        self.do_undeploy()
        self._advance(Operation.UNDEPLOY)

    def check_status(self) -> HealthReport:
        """Run the health probes once; Unknown when nothing is deployed yet."""
        if not self.lifecycle.is_deployed:
            return HealthReport(Health.UNKNOWN, (), f"architecture is {self.state.value}")
        return self.do_check_status()

    def placement_check(self, nodes: Sequence[NodeInfo], statuses: dict[str, NodeStatus]
                        ) -> PlacementCheck:
        """Could all entities be placed on these nodes now? An architecture that declares
        no placement rules fits anywhere, as far as the controller can tell."""
        return PlacementCheck(ok=True)

    def get_mapping(self, phase: str = "deploy") -> dict[str, list[str]]:
        """entity → node uuids its replicas would get (or have), for one phase."""
        return self.do_get_mapping(phase)

    def observe(self) -> ArchitectureSnapshot:
        """What of this architecture exists on the fog now."""
        return self.do_observe()

    def restore(self, state: LifecycleState, record: ArchitectureRecord) -> None:
        """Take up an architecture a previous controller left in ``state`` (after a restart).

        Only for an associated object whose instances were found on the fog: it resumes the
        recorded lifecycle state and instance ids without touching the fog, so probing or
        undeploying an adopted architecture never waits for a redeploy.
        """
        if self.state is not LifecycleState.ASSOCIATED:
            raise LifecycleError(self.state.value, "restore", state.value)
        self.lifecycle = Lifecycle(state)
        self.record = record
        self.record.state = state.value

    # --- hooks ------------------------------------------------------------------------

    def do_configure(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``config`` against the declared parameters; override to add checks."""
        return validate_config(self.spec.parameters, config)

    def do_associate(self) -> None:  # noqa: B027 - optional hook
        """Check the environment suits the architecture; default: nothing to check."""

    def do_prepare(self, data: ArchitectureDataSpec | None) -> None:  # noqa: B027
        """Optional hook: default, nothing ahead of the deploy."""

    def do_unprepare(self) -> None:  # noqa: B027
        """Optional hook, with ``do_prepare``: remove what it registered."""

    @abc.abstractmethod
    def do_deploy(self, data: ArchitectureDataSpec | None) -> None: ...

    def do_deploy_onto_nothing(self, data: ArchitectureDataSpec | None) -> None:
        """``do_deploy`` when nothing of the architecture is on the fog; override to skip
        looking for instances to adopt. Default: the ordinary deploy."""
        self.do_deploy(data)

    @abc.abstractmethod
    def do_serve(self, data: ArchitectureDataSpec | None) -> None: ...

    def do_unserve(self) -> None:
        """Stop what :meth:`do_serve` started. A plugin that cannot stop its serve step
        alone is deployed afresh (the seed's interface has no such step); override this
        to keep the deployed part running."""
        self.do_undeploy()
        self.do_deploy(self.data)

    @abc.abstractmethod
    def do_undeploy(self) -> None: ...

    @abc.abstractmethod
    def do_check_status(self) -> HealthReport: ...

    @abc.abstractmethod
    def do_get_mapping(self, phase: str) -> dict[str, list[str]]: ...

    @abc.abstractmethod
    def do_observe(self) -> ArchitectureSnapshot: ...
