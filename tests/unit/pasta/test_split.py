"""The train/test split of annotated prompts: deterministic, benchmark prompts excluded."""

from __future__ import annotations

import pytest

from graphs.pasta.split import Split, excluded_prompts, split_of

PROMPTS = [f"Give {n} tips about topic number {n}." for n in range(400)]


def test_the_split_is_a_pure_function_of_the_prompt_and_holds_out_about_the_share() -> None:
    splits = [split_of(prompt, 0.25) for prompt in PROMPTS]
    assert splits == [split_of(prompt, 0.25) for prompt in reversed(PROMPTS)][::-1]
    assert 70 <= splits.count(Split.TEST) <= 130
    assert split_of(PROMPTS[0], 0.25) is split_of("  give 0 TIPS about\ttopic number 0. ", 0.25)
    assert {split_of(prompt, 0.0) for prompt in PROMPTS} == {Split.TRAIN}


def test_a_larger_share_only_moves_prompts_from_train_to_test() -> None:
    small = {p for p in PROMPTS if split_of(p, 0.1) is Split.TEST}
    large = {p for p in PROMPTS if split_of(p, 0.3) is Split.TEST}
    assert small < large


def test_benchmark_prompts_are_excluded_whatever_their_spacing_or_case() -> None:
    excluded = excluded_prompts(["How can I improve my time management skills?"])
    assert split_of("how can I improve  my time management skills?", 0.1, excluded) is Split.EXCLUDED
    assert split_of("How can I improve my sleep?", 0.0, excluded) is Split.TRAIN


def test_a_share_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="test_share must be in \\[0, 1\\), got 1.0"):
        split_of("x", 1.0)
