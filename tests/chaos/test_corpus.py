"""A generated corpus of mutated documents, written raw at a real controller, then churned.

``tests.support.mutate`` grows the corpus from ``deploy/examples/`` with a fixed seed. The
documents go to their own namespace, so none can resolve a reference to ``web`` or deploy
anything. Every document must get its status at the generation written (``Valid=False`` for
those no controller may accept); after the churn deletes them, every status must go too, and
the controller's memory must not grow from one round to the next.

Size: ``FOGSTRAT_CHAOS_DOCS`` documents, then ``FOGSTRAT_CHAOS_CHURN`` seconds of churn in
rounds of ``FOGSTRAT_CHAOS_CHURN_BATCH``;
``FOGSTRAT_CHAOS=long`` (``make chaos``) is the long form.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.chaos import MIB, Answer, ChaosSize, Figures, answers_under, mib, rss_bytes
from tests.support.chaos_stack import ChaosStack
from tests.support.mutate import PLURALS, CorpusDoc, corpus
from tests.support.scenario import wait_for

NAMESPACE = "fuzz"
SEED = 16_010
# From one churn round to the last, RSS may grow by this much (allocator noise), no more.
GROWTH_ALLOWANCE = 32 * MIB


@pytest.fixture(autouse=True)
def fresh(stack: ChaosStack) -> Iterator[None]:
    """Each test starts with a live controller and leaves no corpus document behind, even
    when it fails half-way."""
    stack.revive()
    yield
    for plural in PLURALS.values():
        records, _ = stack.db.list(f"{stack.prefix}/{plural}/{NAMESPACE}/")
        for rec in records:
            stack.db.delete(rec.key)


@dataclass(frozen=True)
class Slot:
    plural: str
    name: str


def write(stack: ChaosStack, docs: Iterable[CorpusDoc]) -> dict[Slot, int]:
    """Put every document raw; the generation each was written at."""
    return {Slot(d.plural, d.name): stack.put_raw(d.plural, NAMESPACE, d.name, d.value)
            for d in docs}


def statuses(stack: ChaosStack) -> dict[Slot, Answer]:
    out: dict[Slot, Answer] = {}
    for plural in PLURALS.values():
        for name, got in answers_under(stack.db, stack.prefix, plural, NAMESPACE).items():
            out[Slot(plural, name)] = got
    return out


def wait_answered(stack: ChaosStack, written: dict[Slot, int],
                  timeout: float) -> dict[Slot, Answer]:
    """Every written document's status at its generation, and no status without a document."""
    seen: dict[Slot, Answer] = {}

    def done() -> bool:
        seen.clear()
        seen.update(statuses(stack))
        return all(seen.get(s) is not None and seen[s].generation == rev
                   for s, rev in written.items()) and seen.keys() <= written.keys()

    def missing() -> str:
        late = [f"{s.plural}/{s.name}" for s, rev in written.items()
                if seen.get(s) is None or seen[s].generation != rev]
        extra = [f"{s.plural}/{s.name}" for s in seen.keys() - written.keys()]
        return (f"{len(late)} without an answer: {late[:10]}\n{len(extra)} statuses left "
                f"behind: {extra[:10]}\n{stack.describe()}")

    wait_for(done, timeout, f"answers for {len(written)} documents", missing, interval=0.5)
    return dict(seen)


def budget_seconds(n: int) -> float:
    return 60 + 0.05 * n


def test_every_mutated_document_gets_its_answer(stack: ChaosStack, size: ChaosSize,
                                                figures: Figures) -> None:
    mark = stack.mark()
    docs = corpus(size.documents, SEED)
    written = write(stack, docs)
    answers = wait_answered(stack, written, budget_seconds(len(docs)))
    accepted = [d for d in docs if d.must_fail and answers[Slot(d.plural, d.name)].valid]
    assert not accepted, "accepted although broken: " + ", ".join(
        f"{d.plural}/{d.name} ({d.mutation})" for d in accepted[:10])
    no_valid = [s for s, a in answers.items() if a.valid is None]
    assert not no_valid, f"statuses without a Valid condition: {no_valid[:10]}"
    figures.add("corpus documents", len(docs))
    figures.add("corpus invalid", sum(1 for a in answers.values() if a.valid is False))
    figures.add("corpus max RSS", mib(stack.max_rss(mark)))
    figures.add("corpus tracebacks", len(mark.log.tracebacks()))
    stack.assert_unharmed(mark)
    for slot in written:
        stack.db.delete(stack.key(slot.plural, NAMESPACE, slot.name))
    wait_answered(stack, {}, budget_seconds(len(docs)))


def churn_round(stack: ChaosStack, rng: random.Random, docs: list[CorpusDoc],
                live: set[Slot]) -> dict[Slot, int]:
    """Replace most documents, delete the rest and whatever this round does not write."""
    keep = [d for d in docs if rng.random() >= 0.2]
    written = write(stack, keep)
    for slot in live - written.keys():
        stack.db.delete(stack.key(slot.plural, NAMESPACE, slot.name))
    return written


def test_memory_stays_flat_under_churn(stack: ChaosStack, size: ChaosSize,
                                       figures: Figures) -> None:
    mark = stack.mark()
    pid = stack.controller.pid
    assert pid is not None
    start = rss_bytes(pid) or 0
    rng = random.Random(SEED)
    began = time.monotonic()
    live: set[Slot] = set()
    after_round: list[int] = []
    total = 0
    while len(after_round) < 2 or time.monotonic() - began < size.churn_seconds:
        docs = corpus(size.churn_batch, SEED + 1 + len(after_round))
        written = churn_round(stack, rng, docs, live)
        live = set(written)
        total += len(written)
        wait_answered(stack, written, budget_seconds(len(written)))
        after_round.append(rss_bytes(pid) or 0)
    for slot in live:
        stack.db.delete(stack.key(slot.plural, NAMESPACE, slot.name))
    wait_answered(stack, {}, budget_seconds(len(live)))
    end = rss_bytes(pid) or 0
    peak = stack.max_rss(mark)
    figures.add("churn rounds", len(after_round))
    figures.add("churn documents written", total)
    figures.add("churn seconds", round(time.monotonic() - began))
    figures.add("churn RSS start/max/end", f"{mib(start)} / {mib(peak)} / {mib(end)}")
    figures.add("churn RSS after each round", ", ".join(mib(r) for r in after_round))
    stack.assert_unharmed(mark)
    assert after_round[-1] <= after_round[0] + GROWTH_ALLOWANCE, (
        f"RSS grew from round to round: {[mib(r) for r in after_round]}")
    assert end <= after_round[0] + GROWTH_ALLOWANCE, (
        f"RSS after deleting everything {mib(end)} above the first round's "
        f"{mib(after_round[0])}")
