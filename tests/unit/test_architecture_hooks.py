"""The capabilities every architecture has on the base class, and the typed action seam.

A plugin written against the seed's interface implements ``do_deploy`` alone: a deploy
the controller knows has nothing to adopt must still reach it, and its placement check
answers "fits" (the controller cannot judge a plugin's placement).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.api.models import ArchitectureDataSpec, ArchitectureSpec, EnvironmentSpec
from controller.arch import Architecture, ArchitectureKey, LifecycleState
from controller.arch.observe import ArchitectureSnapshot
from controller.arch.probes import Health, HealthReport
from controller.fog.client import NodeInfo
from controller.fog.fogsim_driver import FogsimClient
from controller.reconcile.contract import (
    Adopt,
    DeleteStatus,
    Deploy,
    Probe,
    Serve,
    Undeploy,
    Unserve,
    acted_on,
)


class SeedPlugin(Architecture):
    """A plugin with the seed's hooks only: it records which ran."""

    def __init__(self) -> None:
        super().__init__(ArchitectureKey("ns", "as", "plug"), ArchitectureSpec(plugin="seed"))
        self.ran: list[str] = []

    def do_deploy(self, data: ArchitectureDataSpec | None) -> None:
        self.ran.append("deploy")

    def do_serve(self, data: ArchitectureDataSpec | None) -> None:
        self.ran.append("serve")

    def do_undeploy(self) -> None:
        self.ran.append("undeploy")

    def do_check_status(self) -> HealthReport:
        return HealthReport(Health.HEALTHY, (), "fine")

    def do_get_mapping(self, phase: str) -> dict[str, list[str]]:
        return {}

    def do_observe(self) -> ArchitectureSnapshot:
        return ArchitectureSnapshot((), ())


class FreshOnly(SeedPlugin):
    """One that skips looking for instances to adopt when told nothing is there."""

    def do_deploy_onto_nothing(self, data: ArchitectureDataSpec | None) -> None:
        self.ran.append("deploy onto nothing")


@pytest.fixture
def fog() -> Iterator[FogsimClient]:
    client = FogsimClient("http://127.0.0.1:9")  # never called by these plugins
    yield client
    client.close()


def associated(arch: SeedPlugin, fog: FogsimClient) -> SeedPlugin:
    arch.configure({})
    arch.associate(fog, EnvironmentSpec(driver="fogsim", locator="http://127.0.0.1:9"))
    return arch


@pytest.mark.parametrize("nothing_there", [False, True])
def test_a_seed_plugin_deploys_whatever_the_controller_knows(fog: FogsimClient,
                                                             nothing_there: bool) -> None:
    arch = associated(SeedPlugin(), fog)
    arch.deploy(None, nothing_there=nothing_there)
    assert arch.ran == ["deploy"]
    assert arch.state is LifecycleState.DEPLOYED


def test_nothing_there_reaches_the_hook_that_needs_not_look(fog: FogsimClient) -> None:
    arch = associated(FreshOnly(), fog)
    arch.deploy(None, nothing_there=True)
    arch.undeploy()
    arch.deploy(None)  # told nothing this time: the ordinary deploy, which adopts
    assert arch.ran == ["deploy onto nothing", "undeploy", "deploy"]
    assert arch.state is LifecycleState.DEPLOYED


def test_a_plugin_fits_anywhere() -> None:
    node = NodeInfo(uuid="n1", name="n1", cpu_arch="x86_64", cores=2, ram_mb=2048,
                    disk_gb=10.0, ip="10.0.0.1")
    check = SeedPlugin().placement_check([node], {})
    assert check.ok and check.reasons == ()


@pytest.mark.parametrize("action", [Deploy("a"), Serve("a"), Unserve("a"), Undeploy("a"),
                                    Probe("a"), Adopt("a")])
def test_every_architecture_action_names_its_architecture(
        action: Deploy | Serve | Unserve | Undeploy | Probe | Adopt) -> None:
    assert acted_on(action) == "a"


def test_deleting_the_status_acts_on_no_architecture() -> None:
    assert acted_on(DeleteStatus()) is None
