"""Semantic fidelity with the packaged all-MiniLM-L6-v2 (loaded once, offline, on the CPU)."""

from __future__ import annotations

import pytest

from graphs.adherence import Expectation, ListStyle
from orchestrator.eval.fidelity import Embedder, fidelity

NUMBERED = Expectation(count=3, style=ListStyle.NUMBERED, marker=r"\s*\d{1,3}\.\s+")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_whole_text_similarity_orders_paraphrase_above_unrelated(embedder):
    serial = "The cat sat on the mat and fell asleep in the sun."
    close = fidelity(serial, "A cat was sitting on the mat, dozing in the sunshine.", embedder)
    far = fidelity(serial, "Quarterly revenue rose by four percent in Europe.", embedder)
    assert close.mode == far.mode == "text"
    assert close.score > 0.6 > far.score


def test_items_are_compared_item_by_item(embedder):
    serial = "1. Drink water often.\n2. Sleep eight hours.\n3. Walk every day."
    shuffled = "1. Take a daily walk.\n2. Stay hydrated by drinking water.\n3. Get enough sleep at night."
    unrelated = "1. Buy government bonds.\n2. Paint the fence red.\n3. Learn the violin."
    same = fidelity(serial, shuffled, embedder, NUMBERED)
    other = fidelity(serial, unrelated, embedder, NUMBERED)
    assert same.mode == "matched" and same.items == 3
    assert same.score > other.score + 0.3


def test_ordered_items_are_paired_in_order(embedder):
    expected = NUMBERED.model_copy(update={"sources": ("a", "b", "c")})
    serial = "1. Good morning.\n2. Thank you.\n3. See you tomorrow."
    in_order = fidelity(serial, "1. Good morning!\n2. Thanks a lot.\n3. See you tomorrow!", embedder, expected)
    swapped = fidelity(serial, "1. See you tomorrow!\n2. Good morning!\n3. Thanks a lot.", embedder, expected)
    assert in_order.mode == "pairwise"
    assert in_order.score > swapped.score + 0.3
