"""``${NAME}`` references in documents: found, expanded only when asked, never stored raw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.api.documents import load_path_located
from controller.cli.envsubst import (
    EnvReference,
    EnvSubstError,
    env_references,
    expand,
    prepare,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
ENV_DOC: dict[str, Any] = {
    "kind": "Environment", "metadata": {"name": "lab"},
    "spec": {"locator": "${FOGSIM_URL}", "info": {"tags": ["a-${SITE}", 3, None]}}}


def test_references_name_their_paths() -> None:
    assert env_references(ENV_DOC) == [EnvReference("spec.locator", "FOGSIM_URL"),
                                       EnvReference("spec.info.tags[0]", "SITE")]
    assert env_references({"x": "{{ params.port }} $HOME ${1BAD} ${}"}) == []


def test_expand_replaces_every_reference_and_keeps_other_values() -> None:
    out = expand(ENV_DOC, {"FOGSIM_URL": "http://127.0.0.1:17070", "SITE": "plant-a"})
    assert out["spec"] == {"locator": "http://127.0.0.1:17070",
                           "info": {"tags": ["a-plant-a", 3, None]}}
    assert ENV_DOC["spec"]["locator"] == "${FOGSIM_URL}"  # the input is left alone


def test_without_env_subst_a_reference_is_refused_with_the_way_out() -> None:
    docs = [("f.yaml", ENV_DOC)]
    with pytest.raises(EnvSubstError) as err:
        prepare(docs, False, {"FOGSIM_URL": "http://x", "SITE": "s"})
    msg = str(err.value)
    assert msg.startswith("f.yaml: Environment lab: spec.locator refers to ${FOGSIM_URL}")
    assert "(and 1 more)" in msg and "--env-subst" in msg and "\n" not in msg
    plain = [("g.yaml", {"kind": "Strategy", "spec": {"a": "{{ x }}"}})]
    assert prepare(plain, False, {}) == plain


def test_an_unset_variable_is_named() -> None:
    with pytest.raises(EnvSubstError, match=r"spec.info.tags\[0\] refers to \$\{SITE\}, but "
                                            r"SITE is not set"):
        prepare([("f.yaml", ENV_DOC)], True, {"FOGSIM_URL": "http://x"})


def test_the_example_environment_follows_fogsim_url() -> None:
    docs = [(d.origin, d.document) for d in load_path_located(EXAMPLES)]
    expanded = prepare(docs, True, {"FOGSIM_URL": "http://127.0.0.1:17070"})
    envs = [d for _, d in expanded if d["kind"] == "Environment"]
    assert [e["spec"]["locator"] for e in envs] == ["http://127.0.0.1:17070"]
