"""What one ActiveStrategy decides from: its documents, resolved from the cache.

The current documents are used when they all resolve; otherwise, if the strategy has
remembered inputs (``remembered.LastValid``, kept in its status), it runs on those and
says why (``StrategyInputs.using_last_valid``); otherwise resolution fails with
:class:`Unresolved` and the strategy is held. A deleted strategy is torn down with the
same rule, and, for a status written before inputs were remembered, with whatever of its
documents can still be found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.api import kinds
from controller.api.models import (
    ActiveStrategySpec,
    ArchitectureDataSpec,
    ArchitectureRef,
    ArchitectureSpec,
    Document,
    EnvironmentSpec,
    HealthSpec,
    StrategySpec,
)
from controller.arch import ArchitectureKey
from controller.runtime.documents import Documents, Parsed
from controller.runtime.handles import Blueprint, absolute_data
from controller.runtime.informer import ObjectKey
from controller.runtime.remembered import LastValid, Remembered


class Unresolved(Exception):
    """A document the ActiveStrategy needs is missing or invalid."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class StrategyInputs:
    """Everything one reconcile decides from, resolved from the document cache."""

    key: ObjectKey
    spec: ActiveStrategySpec
    generation: int
    strategy: StrategySpec
    environment_name: str
    environment: EnvironmentSpec
    blueprints: Mapping[str, Blueprint]
    deletion: bool
    remembered: LastValid | None = None
    """The documents resolved (to be remembered in status), or those remembered."""
    using_last_valid: str = ""
    """Why these are the remembered inputs, not the current documents ("" when current)."""

    @property
    def health(self) -> dict[str, HealthSpec]:
        return {n: bp.spec.health for n, bp in self.blueprints.items()}


def resolve(docs: Documents, key: ObjectKey, parsed: Parsed | None,
            raw: Mapping[str, Any], workdir: Path) -> StrategyInputs:
    """The inputs of ``key`` (``parsed``: its document, None once deleted; ``raw``: its
    stored status); raises Unresolved when there is nothing to run on."""
    if parsed is None:  # deleted: torn down with what it last ran on
        remembered = LastValid.from_json(key.namespace, raw.get("inputs"))
        if remembered is None:
            return _leftovers(docs, key, raw, workdir)
        return _inputs(docs, key, remembered, raw, workdir, deletion=True, why="")
    try:
        last = current(docs, key, parsed)
        why = ""
    except Unresolved as exc:
        remembered = LastValid.from_json(key.namespace, raw.get("inputs"))
        if remembered is None:
            raise
        last, why = remembered, f"{exc}; running on the last valid documents"
    return _inputs(docs, key, last, raw, workdir, deletion=False, why=why)


def _doc(docs: Documents, kind: kinds.Kind, ns: str, name: str, what: str) -> Remembered:
    parsed = docs.find(kind, ns, name)
    if parsed is None:
        raise Unresolved("UnknownReference", f"{what}: {kind.kind} {name!r} not found in "
                                             f"namespace {ns!r}")
    if parsed.document is None:
        raise Unresolved("InvalidReference", f"{what}: {kind.kind} {name!r} is invalid: "
                                             + parsed.message)
    return Remembered(name, parsed.generation, parsed.document)


def current(docs: Documents, key: ObjectKey, parsed: Parsed) -> LastValid:
    """Every document ``key`` needs, as the cache holds them now; raises Unresolved."""
    if parsed.document is None:
        raise Unresolved("InvalidSpec", parsed.message)
    ns = key.namespace
    spec = _active_spec(parsed.document)
    strategy = _doc(docs, kinds.STRATEGY, ns, spec.strategy, "spec.strategy")
    environment = _doc(docs, kinds.ENVIRONMENT, ns, spec.environment, "spec.environment")
    archs: dict[str, Remembered] = {}
    data: dict[str, Remembered] = {}
    for ref in _strategy_spec(strategy.document).candidates:
        name = ref.architecture
        archs[name] = _doc(docs, kinds.ARCHITECTURE, ns, name, "strategy architecture")
        found = _data(docs, ns, name, spec.data_id)
        if found is not None:
            data[name] = found
    return LastValid(Remembered(key.name, parsed.generation, parsed.document), strategy,
                     environment, archs, data)


def _data(docs: Documents, ns: str, architecture: str, data_id: str | None
          ) -> Remembered | None:
    if data_id is None:
        return None
    for parsed in docs.all(kinds.ARCHITECTURE_DATA, ns):
        spec = parsed.document.spec if parsed.document else None
        if (isinstance(spec, ArchitectureDataSpec) and spec.architecture == architecture
                and spec.data_id == data_id and parsed.document is not None):
            return Remembered(parsed.key.name, parsed.generation, parsed.document)
    return None


def _active_spec(doc: Document) -> ActiveStrategySpec:
    assert isinstance(doc.spec, ActiveStrategySpec)
    return doc.spec


def _strategy_spec(doc: Document) -> StrategySpec:
    assert isinstance(doc.spec, StrategySpec)
    return doc.spec


def _inputs(docs: Documents, key: ObjectKey, last: LastValid, raw: Mapping[str, Any],
            workdir: Path, *, deletion: bool, why: str) -> StrategyInputs:
    spec = _active_spec(last.active.document)
    strategy = _strategy_spec(last.strategy.document)
    environment = last.environment.document.spec
    assert isinstance(environment, EnvironmentSpec)
    configs = {ref.architecture: ref.config for ref in strategy.candidates}
    blueprints: dict[str, Blueprint] = {}
    for name in _names(configs, raw):
        arch = last.architectures.get(name) or _found(docs, key.namespace, name)
        data = last.data.get(name)
        blueprints[name] = _blueprint(
            key, name, arch, configs.get(name, {}), environment, spec, strategy,
            data.document.spec if data is not None else None, workdir)
    return StrategyInputs(key, spec, last.active.generation, strategy, spec.environment,
                  environment, blueprints, deletion, last, why)


def _names(configs: Mapping[str, Any], raw: Mapping[str, Any]) -> list[str]:
    """Candidates, then architectures the status records that are no longer candidates
    (still on the fog until a rollout or the teardown removes them)."""
    recorded = raw.get("architectures")
    extra = [str(n) for n in recorded if n not in configs] if isinstance(recorded, Mapping) \
        else []
    return [*configs, *extra]


def _found(docs: Documents, ns: str, name: str) -> Remembered | None:
    parsed = docs.find(kinds.ARCHITECTURE, ns, name)
    if parsed is None or parsed.document is None:
        return None
    return Remembered(name, parsed.generation, parsed.document)


def _blueprint(key: ObjectKey, name: str, arch: Remembered | None, config: Mapping[str, Any],
               environment: EnvironmentSpec, spec: ActiveStrategySpec, strategy: StrategySpec,
               data: Any, workdir: Path) -> Blueprint:
    arch_spec = arch.document.spec if arch is not None else ArchitectureSpec()
    assert isinstance(arch_spec, ArchitectureSpec)
    return Blueprint(
        key=ArchitectureKey(key.namespace, key.name, name), spec=arch_spec,
        spec_generation=arch.generation if arch is not None else 0, config=config,
        environment=environment, association_args=spec.association_args_for(name),
        data=absolute_data(data, workdir), deploy_timeout=strategy.policy.deploy_timeout,
        known=arch is not None)


def _leftovers(docs: Documents, key: ObjectKey, raw: Mapping[str, Any], workdir: Path
               ) -> StrategyInputs:
    """A deleted strategy with no remembered inputs: tear down what its status records
    with whatever of its documents can still be found (it needs its Environment)."""
    ns = key.namespace
    spec = ActiveStrategySpec(strategy=str(raw.get("strategy", "")),
                              environment=str(raw.get("environment", "")))
    recorded = list((raw.get("architectures") or {}).keys())
    try:
        strategy = _strategy_spec(_doc(docs, kinds.STRATEGY, ns, spec.strategy,
                                       "spec.strategy").document)
    except Unresolved:
        if not recorded:
            raise
        strategy = StrategySpec(main=ArchitectureRef(recorded[0]),
                                replacements=tuple(ArchitectureRef(n) for n in recorded[1:]))
    try:
        env = _doc(docs, kinds.ENVIRONMENT, ns, spec.environment, "spec.environment")
    except Unresolved as exc:
        raise Unresolved(exc.reason, f"cannot tear down: {exc}") from None
    environment = env.document.spec
    assert isinstance(environment, EnvironmentSpec)
    configs = {ref.architecture: ref.config for ref in strategy.candidates}
    blueprints = {name: _blueprint(key, name, _found(docs, ns, name), configs.get(name, {}),
                                   environment, spec, strategy,
                                   _data_spec(docs, ns, name, spec.data_id), workdir)
                  for name in _names(configs, raw)}
    generation = raw.get("observedGeneration")
    return StrategyInputs(key, spec, generation if isinstance(generation, int) else 0, strategy,
                  spec.environment, environment, blueprints, True)


def _data_spec(docs: Documents, ns: str, name: str, data_id: str | None) -> Any:
    found = _data(docs, ns, name, data_id)
    return found.document.spec if found is not None else None
