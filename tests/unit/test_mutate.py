"""The chaos corpus generator: deterministic, every kind of damage present, storable."""

from __future__ import annotations

import json

import yaml

from tests.support.mutate import (
    ALIAS_BOMB,
    MUTATIONS,
    PLURALS,
    corpus,
    deep_value,
    load_examples,
)


def test_same_seed_same_corpus_other_seed_other_corpus() -> None:
    assert corpus(60, seed=3) == corpus(60, seed=3)
    assert [d.value for d in corpus(60, seed=3)] != [d.value for d in corpus(60, seed=4)]


def test_every_mutation_and_kind_appears_in_a_small_corpus() -> None:
    docs = corpus(len(MUTATIONS) * len(load_examples()), seed=1)
    assert {d.mutation for d in docs} == set(MUTATIONS)
    assert {d.plural for d in docs} == set(PLURALS.values())
    assert len({(d.plural, d.name) for d in docs}) == len(docs)


def test_every_document_fits_etcds_default_request_limit() -> None:
    assert max(len(d.value) for d in corpus(2000, seed=9)) < 1536 * 1024


def test_controls_are_the_examples_renamed() -> None:
    controls = [d for d in corpus(len(MUTATIONS) * 7, seed=1) if d.mutation == "none"]
    assert controls and not any(d.must_fail for d in controls)
    for d in controls:
        loaded = yaml.safe_load(d.value)
        assert loaded["metadata"]["name"] == d.name
        assert PLURALS[loaded["kind"]] == d.plural


def test_deep_values_are_as_deep_as_asked() -> None:
    depth = 0
    node = json.loads(deep_value(600))
    while isinstance(node, dict | list):
        node = node["d"] if isinstance(node, dict) else node[0]
        depth += 1
    assert depth == 600


def test_the_alias_bomb_is_small_and_expands_to_a_billion() -> None:
    assert len(ALIAS_BOMB) < 1024
    loaded = yaml.safe_load(ALIAS_BOMB)  # anchors are shared, so loading alone is cheap
    size, node = 1, loaded["i"]
    while isinstance(node, list):
        size, node = size * len(node), node[0]
    assert size == 9**9
