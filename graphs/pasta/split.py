"""Which prompts a PASTA model may be trained on: a recorded train/test split, benchmark prompts kept out.

Role: a tuned model must be measured on prompts it never saw. ``forkjoin
pasta annotate`` assigns every prompt a split and writes it into each
example; ``forkjoin pasta train`` learns only from ``train`` rows.

Policy: a prompt that also appears in a benchmark set (``excluded``, for
example Vicuna-80 when the tuned model will be benchmarked on it) is
``excluded``; of the rest, a deterministic share ``test_share`` is ``test``,
chosen by the sha256 of the normalized prompt, so the same prompt lands in
the same split on every run and on every machine, whatever the row order.
Prompts compare after collapsing whitespace and case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import StrEnum


class Split(StrEnum):
    """Where an example belongs."""

    TRAIN = "train"
    TEST = "test"
    EXCLUDED = "excluded"


def normalized(prompt: str) -> str:
    """The form prompts are compared in: words separated by single spaces, case folded."""
    return " ".join(prompt.split()).casefold()


def excluded_prompts(prompts: Iterable[str]) -> frozenset[str]:
    """Benchmark prompts in the form :func:`split_of` compares."""
    return frozenset(normalized(prompt) for prompt in prompts)


def split_of(prompt: str, test_share: float, excluded: frozenset[str] = frozenset()) -> Split:
    """The split of ``prompt``: excluded if a benchmark holds it, else test for a fixed share, else train."""
    if not 0.0 <= test_share < 1.0:
        raise ValueError(f"test_share must be in [0, 1), got {test_share}")
    key = normalized(prompt)
    if key in excluded:
        return Split.EXCLUDED
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return Split.TEST if digest / 2**64 < test_share else Split.TRAIN
