"""A Strategy's candidate config checked against its Architectures' declared parameters."""

from __future__ import annotations

from typing import Any

from controller.api.models import ArchitectureRef, ArchitectureSpec, Parameter, StrategySpec
from controller.arch.params import strategy_config_problems

ARCH = ArchitectureSpec(parameters={
    "rounds": Parameter("rounds", "integer", default=10),
    "name": Parameter("name", "string"),
})


def strategy(main: dict[str, Any], backup: dict[str, Any] | None = None) -> StrategySpec:
    return StrategySpec(main=ArchitectureRef("fl", main),
                        replacements=(ArchitectureRef("gl", backup or {}),))


def test_declared_parameters_of_the_right_type_pass() -> None:
    assert strategy_config_problems(strategy({"rounds": 3, "name": "x"}), {"fl": ARCH}) == []


def test_an_undeclared_parameter_is_named_with_what_is_declared() -> None:
    [p] = strategy_config_problems(strategy({"roundz": 3}), {"fl": ARCH})
    assert p.reason == "UnknownParameter"
    assert p.message == ("spec.main.config: Architecture fl declares no parameter roundz "
                         "(declared: name, rounds)")


def test_a_value_of_the_wrong_type_is_refused() -> None:
    [p] = strategy_config_problems(strategy({}, {"rounds": "3"}), {"gl": ARCH})
    assert p.reason == "InvalidParameter"
    assert p.message == ("spec.replacements[0].config.rounds: must be integer (Architecture "
                         "gl), got str '3'")
    # bool is no integer, although Python says so
    [p] = strategy_config_problems(strategy({"rounds": True}), {"fl": ARCH})
    assert p.reason == "InvalidParameter"


def test_unknown_architectures_and_plugins_without_parameters_are_not_judged() -> None:
    assert strategy_config_problems(strategy({"anything": 1}), {}) == []
    plugin = ArchitectureSpec(plugin="custom")
    assert strategy_config_problems(strategy({"anything": 1}), {"fl": plugin}) == []
